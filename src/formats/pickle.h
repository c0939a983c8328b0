// A safe unpickler for torch.save's data.pkl: it understands the opcodes torch emits
// for tensors and containers, resolves only an allowlist of torch globals into inert
// values, and refuses everything else. It never calls or imports anything.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "ait/dtype.h"
#include "ait/error.h"

namespace ait::pickle {

// The allowlisted globals, resolved by name at GLOBAL/STACK_GLOBAL time.
enum class Global : uint8_t {
  kRebuildTensorV2,   // torch._utils._rebuild_tensor_v2
  kRebuildTensorV3,   // torch._utils._rebuild_tensor_v3 (torch 2.x, dtype passed explicitly)
  kRebuildParameter,  // torch._utils._rebuild_parameter
  kOrderedDict,       // collections.OrderedDict
  kStorageType,       // torch.FloatStorage, ..., torch.UntypedStorage
  kDType,             // torch.float32, ...
};

struct GlobalRef {
  Global global;
  DType dtype = DType::kUInt8;  // kStorageType, kDType
  bool untyped = false;         // torch.UntypedStorage: a byte buffer whose tensors name their dtype
};

// A persistent storage reference: ('storage', type, key, location, numel).
struct StorageRef {
  std::string_view key;  // the zip entry is "{top}/data/{key}"
  DType dtype;           // kUInt8 for untyped storages
  int64_t nbytes;        // numel * itemsize, overflow-checked
};

// A strided view of a storage, in elements of `dtype`.
struct TensorRef {
  const StorageRef* storage;
  DType dtype;
  int64_t offset;
  std::vector<int64_t> sizes, strides;
};

struct Value {
  enum class Kind : uint8_t {
    kNone, kBool, kInt, kFloat, kString, kBytes, kTuple, kList, kDict, kGlobal, kStorage, kTensor
  };
  Kind kind = Kind::kNone;
  // kBool/kInt: int64_t; kFloat: double; kString/kBytes: a view into the pickle bytes;
  // kTuple/kList: the items; kDict: key0, value0, key1, value1, ... in insertion order.
  std::variant<std::monostate, int64_t, double, std::string_view, std::vector<Value*>, GlobalRef, StorageRef, TensorRef>
      data;

  int64_t integer() const { return std::get<int64_t>(data); }
  std::string_view text() const { return std::get<std::string_view>(data); }
  const std::vector<Value*>& items() const { return std::get<std::vector<Value*>>(data); }
  const TensorRef& tensor() const { return std::get<TensorRef>(data); }
};

// Runs one pickle. Every failure throws ait::Error("{where}: reason"). Memory is bounded
// by a constant factor of the pickle size; REQUIRES: `pickle` outlives the Unpickler
// (strings are views into it).
class Unpickler {
 public:
  Unpickler(std::string_view pickle, std::string where) : in_(pickle), where_(std::move(where)) {}
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  // Runs the pickle up to its STOP and returns the root object (owned by this Unpickler).
  const Value& Load();

 private:
  Value* New(Value::Kind kind);
  Value* Pop();
  Value* Top();
  std::vector<Value*> PopToMark();
  std::string_view Take(uint64_t n, char op);
  uint64_t ReadUInt(int bytes, char op);
  Value* Resolve(std::string_view module, std::string_view name);
  Value* Reduce(Value* callable, Value* args);
  Value* PersistentLoad(Value* pid);
  Value* RebuildTensor(const std::vector<Value*>& args, bool v3);
  [[noreturn]] void FailAt(std::string_view reason) const;

  std::string_view in_;
  std::string where_;
  size_t pos_ = 0, op_pos_ = 0;
  std::deque<Value> arena_;  // stable addresses; cycles through the memo are harmless
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value*> memo_;
  Value none_{}, true_{Value::Kind::kBool, int64_t{1}}, false_{Value::Kind::kBool, int64_t{0}};
};

// A pickle string or an archive entry name as messages quote it: at most 200 bytes
// (ait::Excerpt; ait::Error escapes what is not printable).
inline std::string Quote(std::string_view s) { return Excerpt(s, 200); }

// The tensors reachable from `root`, named by their path: a bare tensor is "", tuple and
// list items are "0", "1", ..., dict entries their key, nested paths join with "."
// ("layers.0.weight"). Other leaves (ints, strings, None, ...) are skipped. Throws
// ait::Error naming `where` for nesting deeper than 64 levels (or a cycle) and for
// shared references that would expand the walk beyond a fixed budget.
std::vector<std::pair<std::string, const TensorRef*>> CollectTensors(const Value& root, std::string_view where);

}  // namespace ait::pickle
