// The safe unpickler (see pickle.h). Opcode semantics follow CPython's Lib/pickle.py;
// REDUCE is evaluated only for the allowlisted torch rebuild functions, which build
// inert TensorRef values instead of running code.
#include "formats/pickle.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "ait/error.h"
#include "ait/tensor.h"

namespace ait::pickle {
namespace {

constexpr size_t kMaxStackDepth = size_t{1} << 20;
constexpr size_t kMaxObjects = size_t{1} << 23;  // and as many memo entries
constexpr size_t kMaxDims = 64;
constexpr int kMaxNesting = 64;
// Shared references can expand a small pickle exponentially; real state dicts hold
// thousands of tensors, so a million visits is generous and stays fast.
constexpr size_t kMaxVisits = size_t{1} << 20;
constexpr size_t kMaxNameBytes = size_t{64} << 20;

struct AllowedGlobal {
  std::string_view module, name;
  GlobalRef ref;
};

constexpr AllowedGlobal kAllowed[] = {
    {"torch._utils", "_rebuild_tensor_v2", {Global::kRebuildTensorV2}},
    {"torch._utils", "_rebuild_tensor_v3", {Global::kRebuildTensorV3}},
    {"torch._utils", "_rebuild_parameter", {Global::kRebuildParameter}},
    {"collections", "OrderedDict", {Global::kOrderedDict}},
    {"torch", "FloatStorage", {Global::kStorageType, DType::kFloat32}},
    {"torch", "HalfStorage", {Global::kStorageType, DType::kFloat16}},
    {"torch", "BFloat16Storage", {Global::kStorageType, DType::kBFloat16}},
    {"torch", "DoubleStorage", {Global::kStorageType, DType::kFloat64}},
    {"torch", "LongStorage", {Global::kStorageType, DType::kInt64}},
    {"torch", "IntStorage", {Global::kStorageType, DType::kInt32}},
    {"torch", "ShortStorage", {Global::kStorageType, DType::kInt16}},
    {"torch", "CharStorage", {Global::kStorageType, DType::kInt8}},
    {"torch", "ByteStorage", {Global::kStorageType, DType::kUInt8}},
    {"torch", "BoolStorage", {Global::kStorageType, DType::kBool}},
    {"torch", "ComplexFloatStorage", {Global::kStorageType, DType::kComplex64}},
    // torch 2.x: a storage of bytes whose tensors name their dtype (_rebuild_tensor_v3);
    // the class may be pickled under either module name.
    {"torch", "UntypedStorage", {Global::kStorageType, DType::kUInt8, true}},
    {"torch.storage", "UntypedStorage", {Global::kStorageType, DType::kUInt8, true}},
    {"torch", "float32", {Global::kDType, DType::kFloat32}},
    {"torch", "float16", {Global::kDType, DType::kFloat16}},
    {"torch", "bfloat16", {Global::kDType, DType::kBFloat16}},
    {"torch", "float64", {Global::kDType, DType::kFloat64}},
    {"torch", "int64", {Global::kDType, DType::kInt64}},
    {"torch", "int32", {Global::kDType, DType::kInt32}},
    {"torch", "int16", {Global::kDType, DType::kInt16}},
    {"torch", "int8", {Global::kDType, DType::kInt8}},
    {"torch", "uint8", {Global::kDType, DType::kUInt8}},
    {"torch", "uint16", {Global::kDType, DType::kUInt16}},
    {"torch", "uint32", {Global::kDType, DType::kUInt32}},
    {"torch", "uint64", {Global::kDType, DType::kUInt64}},
    {"torch", "bool", {Global::kDType, DType::kBool}},
    {"torch", "complex64", {Global::kDType, DType::kComplex64}},
};

std::string_view KindName(Value::Kind k) {
  static constexpr std::string_view kNames[] = {"None", "bool",  "int",    "float",   "str",    "bytes",
                                                "tuple", "list", "dict", "global", "storage", "tensor"};
  return kNames[static_cast<size_t>(k)];
}

}  // namespace

void Unpickler::FailAt(std::string_view reason) const {
  Fail(where_, "{} (pickle byte {})", reason, op_pos_);
}

Value* Unpickler::New(Value::Kind kind) {
  if (arena_.size() >= kMaxObjects) FailAt(fmt::format("pickle creates more than {} objects", kMaxObjects));
  Value& v = arena_.emplace_back();
  v.kind = kind;
  if (kind == Value::Kind::kTuple || kind == Value::Kind::kList || kind == Value::Kind::kDict)
    v.data = std::vector<Value*>();
  return &v;
}

Value* Unpickler::Pop() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) FailAt("pickle stack underflow");
  Value* v = stack_.back();
  stack_.pop_back();
  return v;
}

Value* Unpickler::Top() {
  if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) FailAt("pickle stack underflow");
  return stack_.back();
}

std::vector<Value*> Unpickler::PopToMark() {
  if (marks_.empty()) FailAt("pickle uses a MARK that was never set");
  std::vector<Value*> items(stack_.begin() + static_cast<ptrdiff_t>(marks_.back()), stack_.end());
  stack_.resize(marks_.back());
  marks_.pop_back();
  return items;
}

std::string_view Unpickler::Take(uint64_t n, char op) {
  if (n > in_.size() - pos_)
    FailAt(fmt::format("pickle is truncated: opcode 0x{:02x} needs {} more bytes, {} left", static_cast<uint8_t>(op), n,
                       in_.size() - pos_));
  std::string_view s = in_.substr(pos_, n);
  pos_ += n;
  return s;
}

uint64_t Unpickler::ReadUInt(int bytes, char op) {
  std::string_view s = Take(bytes, op);
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

Value* Unpickler::Resolve(std::string_view module, std::string_view name) {
  for (const AllowedGlobal& g : kAllowed) {
    if (g.module == module && g.name == name) {
      Value* v = New(Value::Kind::kGlobal);
      v->data = g.ref;
      return v;
    }
  }
  FailAt(fmt::format("refusing to unpickle global '{}.{}': only tensors and containers are allowed",
                     Quote(module), Quote(name)));
}

Value* Unpickler::PersistentLoad(Value* pid) {
  const auto* items = pid->kind == Value::Kind::kTuple ? &pid->items() : nullptr;
  if (!items || items->size() != 5 || (*items)[0]->kind != Value::Kind::kString || (*items)[0]->text() != "storage")
    FailAt("persistent id is not a ('storage', type, key, location, numel) tuple");
  const Value* type = (*items)[1];
  const Value* key = (*items)[2];
  const Value* numel = (*items)[4];
  if (type->kind != Value::Kind::kGlobal || std::get<GlobalRef>(type->data).global != Global::kStorageType)
    FailAt("persistent id names no storage type");
  if (key->kind != Value::Kind::kString || numel->kind != Value::Kind::kInt || numel->integer() < 0)
    FailAt("persistent id has a bad storage key or element count");
  const DType dtype = std::get<GlobalRef>(type->data).dtype;
  int64_t nbytes = 0;
  if (__builtin_mul_overflow(numel->integer(), static_cast<int64_t>(ItemSize(dtype)), &nbytes))
    FailAt(fmt::format("storage '{}' is too large ({} elements)", Quote(key->text()), numel->integer()));
  Value* v = New(Value::Kind::kStorage);
  v->data = StorageRef{key->text(), dtype, nbytes};
  return v;
}

// _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]);
// _rebuild_tensor_v3 adds `dtype` after hooks. Offsets and strides count elements.
Value* Unpickler::RebuildTensor(const std::vector<Value*>& args, bool v3) {
  const size_t want = v3 ? 7 : 6;
  if (args.size() != want && args.size() != want + 1)
    FailAt(fmt::format("tensor rebuild takes {} or {} arguments, got {}", want, want + 1, args.size()));
  if (args[0]->kind != Value::Kind::kStorage) FailAt("tensor rebuild: first argument is not a storage");
  const StorageRef* storage = &std::get<StorageRef>(args[0]->data);
  TensorRef t{storage, storage->dtype, 0, {}, {}};
  if (v3) {
    const Value* d = args[6];
    if (d->kind != Value::Kind::kGlobal || std::get<GlobalRef>(d->data).global != Global::kDType)
      FailAt("tensor rebuild: dtype argument is not a torch dtype");
    t.dtype = std::get<GlobalRef>(d->data).dtype;
  }
  if (args[1]->kind != Value::Kind::kInt || args[1]->integer() < 0)
    FailAt("tensor rebuild: storage offset is not a non-negative int");
  t.offset = args[1]->integer();
  for (int which = 2; which <= 3; ++which) {
    const Value* tuple = args[which];
    if (tuple->kind != Value::Kind::kTuple) FailAt("tensor rebuild: size or stride is not a tuple");
    if (tuple->items().size() > kMaxDims) FailAt(fmt::format("tensor has more than {} dimensions", kMaxDims));
    auto& out = which == 2 ? t.sizes : t.strides;
    for (const Value* d : tuple->items()) {
      if (d->kind != Value::Kind::kInt || d->integer() < 0)
        FailAt("tensor rebuild: sizes and strides must be non-negative ints");
      out.push_back(d->integer());
    }
  }
  if (t.sizes.size() != t.strides.size())
    FailAt(fmt::format("tensor has {} sizes but {} strides", t.sizes.size(), t.strides.size()));
  Value* v = New(Value::Kind::kTensor);
  v->data = std::move(t);
  return v;
}

Value* Unpickler::Reduce(Value* callable, Value* args) {
  if (callable->kind != Value::Kind::kGlobal) FailAt(fmt::format("cannot call a {}", KindName(callable->kind)));
  if (args->kind != Value::Kind::kTuple) FailAt("REDUCE arguments are not a tuple");
  const std::vector<Value*>& a = args->items();
  switch (std::get<GlobalRef>(callable->data).global) {
    case Global::kRebuildTensorV2:
      return RebuildTensor(a, false);
    case Global::kRebuildTensorV3:
      return RebuildTensor(a, true);
    case Global::kRebuildParameter:
      if (a.size() != 3 || a[0]->kind != Value::Kind::kTensor)
        FailAt("parameter rebuild expects (tensor, requires_grad, hooks)");
      return a[0];
    case Global::kOrderedDict:
      if (!a.empty()) FailAt("OrderedDict is only rebuilt empty (items follow as SETITEMS)");
      return New(Value::Kind::kDict);
    case Global::kStorageType:
    case Global::kDType:
      break;
  }
  FailAt("calling a storage type or dtype is not allowed");
}

const Value& Unpickler::Load() {
  using K = Value::Kind;
  auto append_to = [&](Value* container, const std::vector<Value*>& items) {
    if (container->kind != K::kList) FailAt(fmt::format("APPEND to a {}", KindName(container->kind)));
    auto& list = std::get<std::vector<Value*>>(container->data);
    list.insert(list.end(), items.begin(), items.end());
  };
  auto set_items = [&](Value* container, const std::vector<Value*>& kv) {
    if (container->kind != K::kDict) FailAt(fmt::format("SETITEM on a {}", KindName(container->kind)));
    if (kv.size() % 2 != 0) FailAt("SETITEMS with an odd number of stack items");
    auto& dict = std::get<std::vector<Value*>>(container->data);
    dict.insert(dict.end(), kv.begin(), kv.end());
  };
  auto container = [&](K kind, std::vector<Value*> items) {
    Value* v = New(kind);
    v->data = std::move(items);
    return v;
  };
  auto string = [&](K kind, std::string_view s) {
    // Python rejects such strings too; letting them through would break every consumer
    // that prints tensor names as UTF-8 (JSON, CSV).
    if (kind == K::kString && !IsUtf8(s)) FailAt("pickle string is not valid UTF-8");
    Value* v = New(kind);
    v->data = s;
    return v;
  };
  auto integer = [&](int64_t i) {
    Value* v = New(K::kInt);
    v->data = i;
    return v;
  };
  auto memo_get = [&](uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) FailAt(fmt::format("memo key {} was never stored", index));
    return it->second;
  };
  auto line = [&](char op) {
    size_t nl = in_.find('\n', pos_);
    if (nl == std::string_view::npos) FailAt("pickle is truncated inside a GLOBAL name");
    const size_t len = nl - pos_;
    return Take(len + 1, op).substr(0, len);
  };

  while (true) {
    op_pos_ = pos_;
    if (stack_.size() > kMaxStackDepth || marks_.size() > kMaxStackDepth)
      FailAt(fmt::format("pickle stack deeper than {}", kMaxStackDepth));
    if (memo_.size() > kMaxObjects) FailAt(fmt::format("pickle memoizes more than {} objects", kMaxObjects));
    if (pos_ >= in_.size()) FailAt("pickle ends without a STOP opcode (truncated?)");
    const char op = in_[pos_++];
    switch (static_cast<uint8_t>(op)) {
      case 0x80: {  // PROTO
        uint64_t proto = ReadUInt(1, op);
        if (proto < 2 || proto > 5) FailAt(fmt::format("unsupported pickle protocol {}", proto));
        break;
      }
      case 0x95:  // FRAME: framing is only a buffering hint
        if (ReadUInt(8, op) > in_.size() - pos_) FailAt("pickle frame extends past the end (truncated?)");
        break;
      case '.':  // STOP
        if (stack_.size() != 1 || !marks_.empty()) FailAt("pickle stops with a malformed stack");
        return *stack_.back();
      case 'c': {  // GLOBAL
        std::string_view module = line(op);
        std::string_view name = line(op);
        stack_.push_back(Resolve(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Value* name = Pop();
        Value* module = Pop();
        if (name->kind != K::kString || module->kind != K::kString) FailAt("STACK_GLOBAL needs two strings");
        stack_.push_back(Resolve(module->text(), name->text()));
        break;
      }
      case 'q':  // BINPUT
        memo_[ReadUInt(1, op)] = Top();
        break;
      case 'r':  // LONG_BINPUT
        memo_[ReadUInt(4, op)] = Top();
        break;
      case 0x94:  // MEMOIZE
        memo_[memo_.size()] = Top();
        break;
      case 'h':  // BINGET
        stack_.push_back(memo_get(ReadUInt(1, op)));
        break;
      case 'j':  // LONG_BINGET
        stack_.push_back(memo_get(ReadUInt(4, op)));
        break;
      case '(':  // MARK
        marks_.push_back(stack_.size());
        break;
      case '0':  // POP
        Pop();
        break;
      case '1':  // POP_MARK
        PopToMark();
        break;
      case 't':  // TUPLE
        stack_.push_back(container(K::kTuple, PopToMark()));
        break;
      case ')':  // EMPTY_TUPLE
        stack_.push_back(container(K::kTuple, {}));
        break;
      case 0x85:  // TUPLE1
      case 0x86:  // TUPLE2
      case 0x87: {  // TUPLE3
        std::vector<Value*> items(static_cast<uint8_t>(op) - 0x84);
        for (size_t i = items.size(); i-- > 0;) items[i] = Pop();
        stack_.push_back(container(K::kTuple, std::move(items)));
        break;
      }
      case ']':  // EMPTY_LIST
        stack_.push_back(container(K::kList, {}));
        break;
      case '}':  // EMPTY_DICT
        stack_.push_back(container(K::kDict, {}));
        break;
      case 'a': {  // APPEND
        Value* item = Pop();
        append_to(Top(), {item});
        break;
      }
      case 'e': {  // APPENDS
        std::vector<Value*> items = PopToMark();
        append_to(Top(), items);
        break;
      }
      case 's': {  // SETITEM
        Value* value = Pop();
        Value* key = Pop();
        set_items(Top(), {key, value});
        break;
      }
      case 'u': {  // SETITEMS
        std::vector<Value*> kv = PopToMark();
        set_items(Top(), kv);
        break;
      }
      case 'X':  // BINUNICODE
        stack_.push_back(string(K::kString, Take(ReadUInt(4, op), op)));
        break;
      case 0x8c:  // SHORT_BINUNICODE
        stack_.push_back(string(K::kString, Take(ReadUInt(1, op), op)));
        break;
      case 0x8d:  // BINUNICODE8
        stack_.push_back(string(K::kString, Take(ReadUInt(8, op), op)));
        break;
      case 'B':  // BINBYTES
        stack_.push_back(string(K::kBytes, Take(ReadUInt(4, op), op)));
        break;
      case 'C':  // SHORT_BINBYTES
        stack_.push_back(string(K::kBytes, Take(ReadUInt(1, op), op)));
        break;
      case 0x8e:  // BINBYTES8
        stack_.push_back(string(K::kBytes, Take(ReadUInt(8, op), op)));
        break;
      case 'J':  // BININT
        stack_.push_back(integer(static_cast<int32_t>(ReadUInt(4, op))));
        break;
      case 'K':  // BININT1
        stack_.push_back(integer(static_cast<int64_t>(ReadUInt(1, op))));
        break;
      case 'M':  // BININT2
        stack_.push_back(integer(static_cast<int64_t>(ReadUInt(2, op))));
        break;
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const uint64_t n = ReadUInt(1, op);
        if (n > 8) FailAt(fmt::format("integer of {} bytes does not fit 64 bits", n));
        uint64_t v = n ? ReadUInt(static_cast<int>(n), op) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        stack_.push_back(integer(static_cast<int64_t>(v)));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        std::string_view s = Take(8, op);
        uint64_t bits = 0;
        for (char c : s) bits = (bits << 8) | static_cast<uint8_t>(c);
        Value* v = New(K::kFloat);
        v->data = std::bit_cast<double>(bits);
        stack_.push_back(v);
        break;
      }
      case 0x88:  // NEWTRUE
        stack_.push_back(&true_);
        break;
      case 0x89:  // NEWFALSE
        stack_.push_back(&false_);
        break;
      case 'N':  // NONE
        stack_.push_back(&none_);
        break;
      case 'R': {  // REDUCE
        Value* args = Pop();
        Value* callable = Pop();
        stack_.push_back(Reduce(callable, args));
        break;
      }
      case 'b': {  // BUILD: our values are inert, so state (an OrderedDict's _metadata) is dropped
        Pop();
        Top();
        break;
      }
      case 'Q': {  // BINPERSID
        Value* pid = Pop();
        stack_.push_back(PersistentLoad(pid));
        break;
      }
      default:
        FailAt(fmt::format("unsupported pickle opcode 0x{:02x}: only tensors and containers are allowed",
                           static_cast<uint8_t>(op)));
    }
  }
}

namespace {

struct Collector {
  std::string_view where;
  std::vector<std::pair<std::string, const TensorRef*>> out;
  size_t visits = 0, name_bytes = 0;

  // `name` is one buffer extended and trimmed around each child, not a copy per visit.
  void Walk(const Value& v, std::string& name, int depth) {
    if (++visits > kMaxVisits)
      Fail(where, "the pickle's shared references expand to more than {} containers and tensors", kMaxVisits);
    if (depth > kMaxNesting) Fail(where, "containers nest deeper than {} levels (or refer to themselves)", kMaxNesting);
    switch (v.kind) {
      case Value::Kind::kTensor:
        name_bytes += name.size();
        if (name_bytes > kMaxNameBytes) Fail(where, "tensor names exceed {} bytes in total", kMaxNameBytes);
        out.emplace_back(name, &v.tensor());
        break;
      case Value::Kind::kTuple:
      case Value::Kind::kList:
        for (size_t i = 0; i < v.items().size(); ++i) Child(*v.items()[i], name, std::to_string(i), depth);
        break;
      case Value::Kind::kDict:
        for (size_t i = 0; i + 1 < v.items().size(); i += 2) {
          const Value& key = *v.items()[i];
          if (key.kind == Value::Kind::kString) Child(*v.items()[i + 1], name, key.text(), depth);
          else if (key.kind == Value::Kind::kInt) Child(*v.items()[i + 1], name, std::to_string(key.integer()), depth);
          else Fail(where, "dict key of type {} is not supported (expected str or int)", KindName(key.kind));
        }
        break;
      default:
        break;  // non-tensor leaves
    }
  }

  void Child(const Value& v, std::string& name, std::string_view key, int depth) {
    using K = Value::Kind;
    if (v.kind != K::kTensor && v.kind != K::kTuple && v.kind != K::kList && v.kind != K::kDict) return;
    const size_t len = name.size();
    if (len) name += '.';
    name += key;
    Walk(v, name, depth + 1);
    name.resize(len);
  }
};

}  // namespace

std::vector<std::pair<std::string, const TensorRef*>> CollectTensors(const Value& root, std::string_view where) {
  Collector c{where, {}};
  std::string name;
  c.Walk(root, name, 0);
  return std::move(c.out);
}

}  // namespace ait::pickle
