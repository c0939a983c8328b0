// Strategy "manual-mapping": a golden folder holding golden_tensor/metadata.json, written by
// the original's dump_data API (ait_llm.dump.manual_dump, FORMATS.md 6), pairs exactly the
// files it records (FORMATS.md 7.2): for each data_id and token_id, in the file's order, whose
// value is a list of at least two paths, file[0] (golden) against file[1] (my). The my path is
// not used; nothing is broadcast. Asked first, as the original decides this scenario first.
#include <algorithm>
#include <fstream>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "ait/error.h"
#include "compare/pairing/dump_layout.h"
#include "compare/pairing/pairing_strategy.h"

namespace ait {
namespace fs = std::filesystem;
namespace {

using Json = nlohmann::json;

constexpr std::string_view kMetadataWhat = "dump_data metadata";
constexpr size_t kSkipsShown = 8;  // skipped entries described one by one, the rest counted

bool IsFolder(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

bool Exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

// A key or path from metadata.json as messages show it: JSON-quoted (control characters
// escaped), at most 80 characters.
std::string Quoted(std::string_view text) {
  std::string s(text.substr(0, 80));
  std::string out = Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > 80) out += "...";
  return out;
}

// The golden_tensor/ folder of a dump_data dump, whatever level of it the user named:
//   the dump_data output folder (holding ait_dump/ or msit_dump/), that ait_dump/ folder,
//   its {pid}_{device}/ folder (the original's level: it holds golden_tensor/), or
//   golden_tensor/ itself.
// Accepts (setting *golden_tensor), declines (no golden_tensor/ there, or one beside an ATB /
// torch dump at the same level, which the topology strategies pair), or blocks (several
// dump_data folders; metadata.json missing, unreadable or not a JSON object). When accepted,
// *metadata_json (if given) holds the parsed metadata.json.
Recognition FindManualDump(const fs::path& named, fs::path* golden_tensor, Json* metadata_json = nullptr) {
  if (!IsFolder(named)) return Recognition::Decline("the golden path is not a folder");
  std::error_code ec;
  fs::path p = fs::absolute(named, ec);
  if (ec) p = named;
  p = p.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  fs::path found;
  if (IsFolder(p / kGoldenTensorFolder)) {
    found = p / kGoldenTensorFolder;
  } else if (p.filename() == kGoldenTensorFolder) {
    found = p;
  } else {
    fs::path top = p;
    for (const char* root : {"ait_dump", "msit_dump"})
      if (IsFolder(p / root)) {
        top = p / root;
        break;
      }
    std::vector<fs::path> dumps;
    for (const fs::path& sub : Subfolders(top))
      if (IsFolder(sub / kGoldenTensorFolder)) dumps.push_back(sub);
    if (dumps.empty()) return Recognition::Decline("no golden_tensor/ folder of dump_data in the golden path");
    if (dumps.size() > 1) {
      std::string names;
      for (size_t i = 0; i < dumps.size(); ++i) {
        if (i == 8) {
          names += fmt::format(", ... ({} more)", dumps.size() - i);
          break;
        }
        names += (i ? ", " : "") + dumps[i].filename().string();
      }
      return Recognition::Block(fmt::format("{}: holds {} dump_data folders with golden_tensor/ ({}): name one of them",
                                            top.string(), dumps.size(), names));
    }
    for (const char* other : {"tensors", "torch_tensors"})
      if (IsFolder(top / other))
        return Recognition::Decline(fmt::format(
            "{} holds a dump_data folder beside a dump ({}/): name {} to compare by golden_tensor/metadata.json",
            top.string(), other, dumps[0].string()));
    found = dumps[0] / kGoldenTensorFolder;
  }
  const fs::path metadata = found / kMetadataFile;
  if (!fs::is_regular_file(metadata, ec))
    return Recognition::Block(fmt::format(
        "{}: no {} (dump_data writes it beside the golden tensors: it says which golden file pairs with which "
        "of my files)",
        found.string(), kMetadataFile));
  auto read = Capture([&] { return ReadJsonFile(metadata, kMetadataWhat); });
  if (!read.ok()) return Recognition::Block(read.error());
  if (!read.value().is_object())
    return Recognition::Block(fmt::format(
        "{}: the {} is a JSON {}, not an object of data_id -> {{token_id: [golden path, my path]}}", metadata.string(),
        kMetadataWhat, read.value().type_name()));
  *golden_tensor = std::move(found);
  if (metadata_json) *metadata_json = std::move(read).value();
  return Recognition::Accept();
}

// The order of the data_id keys and of each data_id's token_id keys in metadata.json:
// nlohmann::json sorts keys ("10" before "2"), the original walks them in the file's order.
// First occurrences, as Python's json.load orders a dict (a repeated key keeps its first
// place and its last value, which is what ReadJsonFile's json holds). A SAX pass: nothing
// recursive, at most kMaxManualPairs * 2 keys kept.
class KeyOrder {
 public:
  std::vector<std::string> data_ids;
  std::unordered_map<std::string, std::vector<std::string>> tokens;  // by data_id

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(Json::number_integer_t) { return true; }
  bool number_unsigned(Json::number_unsigned_t) { return true; }
  bool number_float(Json::number_float_t, const std::string&) { return true; }
  bool string(std::string&) { return true; }
  bool binary(Json::binary_t&) { return true; }
  bool start_object(size_t) { return ++depth_, true; }
  bool end_object() { return --depth_, true; }
  bool start_array(size_t) { return ++depth_, true; }
  bool end_array() { return --depth_, true; }
  bool key(std::string& k) {
    if (depth_ == 1) {
      current_ = k;
      if (seen_data_.insert(k).second) data_ids.push_back(k);
    } else if (depth_ == 2) {
      if (seen_tokens_[current_].insert(k).second) tokens[current_].push_back(k);
    } else {
      return true;
    }
    return ++kept_ <= 2 * kMaxManualPairs;  // stop listing keys; the rest come in sorted order
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  int depth_ = 0;
  size_t kept_ = 0;
  std::string current_;
  std::unordered_set<std::string> seen_data_;
  std::unordered_map<std::string, std::unordered_set<std::string>> seen_tokens_;
};

// `object`'s keys in the order `listed` gives, then (a file changed between the two reads,
// or more keys than KeyOrder keeps) the others in sorted order.
std::vector<std::string> InFileOrder(const Json& object, const std::vector<std::string>* listed) {
  std::vector<std::string> keys;
  std::unordered_set<std::string> taken;
  if (listed)
    for (const std::string& k : *listed)
      if (object.contains(k) && taken.insert(k).second) keys.push_back(k);
  for (const auto& item : object.items())
    if (!taken.count(item.key())) keys.push_back(item.key());
  return keys;
}

// Where a path recorded in metadata.json points. dump_data (ours) writes absolute paths,
// used as written. A relative path (the original wrote `{output_path}/ait_dump/...` as
// given, relative to the dumping process's folder) is tried against the current folder
// (where the original, which opens paths as given, looks), then against the folder holding
// ait_dump/ (dump_data's output_path when it ran with the default './'). A golden path that
// exists nowhere but names `.../golden_tensor/{token}/{file}` is looked for under this
// golden_tensor/ folder: the dump was moved or copied since dump_data wrote it.
class PathResolver {
 public:
  explicit PathResolver(fs::path golden_tensor) : golden_tensor_(std::move(golden_tensor)) {
    std::error_code ec;
    cwd_ = fs::current_path(ec);
    const fs::path ait_dump = golden_tensor_.parent_path().parent_path();
    if (ait_dump.filename() == "ait_dump" || ait_dump.filename() == "msit_dump") output_ = ait_dump.parent_path();
  }

  fs::path Resolve(const std::string& text, bool golden) {
    const fs::path p(text);
    if (p.is_absolute()) {
      if (Exists(p)) return p.lexically_normal();
    } else {
      for (const fs::path* base : {&cwd_, &output_})
        if (!base->empty() && Exists(*base / p)) return (*base / p).lexically_normal();
    }
    if (golden) {
      std::vector<fs::path> parts(p.begin(), p.end());
      if (parts.size() >= 3 && parts[parts.size() - 3] == kGoldenTensorFolder) {
        const fs::path here = golden_tensor_ / parts[parts.size() - 2] / parts.back();
        const std::string token = parts[parts.size() - 2].string(), file = parts.back().string();
        std::error_code ec;
        if (token != "." && token != ".." && !file.empty() && file != "." && file != ".." &&
            fs::is_regular_file(here, ec)) {
          if (relocated_++ == 0) first_relocated_ = text;
          return here;
        }
      }
    }
    return (p.is_absolute() || cwd_.empty() ? p : cwd_ / p).lexically_normal();
  }

  // The note for golden paths found under golden_tensor/ instead of where they were written.
  std::optional<std::string> RelocationNote() const {
    if (!relocated_) return std::nullopt;
    return fmt::format(
        "{} golden path(s) of metadata.json do not exist as written (e.g. {}); the files of the same token and name "
        "under {} are used (the dump was moved or copied)",
        relocated_, Quoted(first_relocated_), golden_tensor_.string());
  }

 private:
  fs::path golden_tensor_, cwd_, output_;
  size_t relocated_ = 0;
  std::string first_relocated_;
};

// "a number", "an array", "null": what a JSON value is, for messages.
std::string Kind(const Json& value) {
  if (value.is_null()) return "null";
  if (value.is_array() || value.is_object()) return fmt::format("an {}", value.type_name());
  return fmt::format("a {}", value.type_name());
}

// Why an entry's value is not a usable [golden path, my path] list; "" when it is.
std::string Unusable(const Json& value) {
  if (!value.is_array()) return fmt::format("{}, not a list [golden path, my path]", Kind(value));
  if (value.size() < 2) return fmt::format("a list of {} element(s), not [golden path, my path]", value.size());
  for (size_t i = 0; i < 2; ++i) {
    const char* which = i == 0 ? "the golden path" : "my path";
    const Json& e = value[i];
    if (!e.is_string()) return fmt::format("{} is {}, not a path", which, Kind(e));
    const std::string& s = e.get_ref<const std::string&>();
    if (s.empty()) return fmt::format("{} is empty", which);
    if (s.find('\0') != std::string::npos) return fmt::format("{} holds a NUL character", which);
  }
  return "";
}

class ManualMapping final : public PairingStrategy {
 public:
  std::string_view name() const override { return "manual-mapping"; }
  std::string_view summary() const override {
    return "golden folder with dump_data's golden_tensor/metadata.json: the file pairs it records (my path unused)";
  }

  Recognition Recognize(DumpPair& dumps) const override {
    fs::path golden_tensor;
    return FindManualDump(dumps.path(DumpPair::kGolden), &golden_tensor);
  }

  OpPairing Pair(DumpPair& dumps) const override {
    fs::path golden_tensor;
    Json root;  // read once here; Recognize read it only to decide
    if (Recognition r = FindManualDump(dumps.path(DumpPair::kGolden), &golden_tensor, &root); !r.accepted())
      throw Error(r.reason.empty() ? "no golden_tensor/metadata.json in the golden path" : r.reason);
    const fs::path metadata = golden_tensor / kMetadataFile;
    KeyOrder order;
    if (std::ifstream in(metadata, std::ios::binary); in) Json::sax_parse(in, &order);

    OpPairing ops;
    ops.strategy = "manual mapping (golden_tensor/metadata.json written by dump_data; the my path is not used)";
    ops.golden_root = golden_tensor;
    std::error_code ec;
    ops.my_root = fs::absolute(dumps.path(DumpPair::kMy), ec).lexically_normal();
    PathResolver paths(golden_tensor);
    std::vector<std::string> skipped;  // the first kSkipsShown, described
    size_t entries = 0, skipped_count = 0;
    bool truncated = false;
    auto skip = [&](std::string what) {
      if (skipped_count++ < kSkipsShown) skipped.push_back(std::move(what));
    };
    for (const std::string& data_id : InFileOrder(root, &order.data_ids)) {
      if (truncated) break;
      const Json& tokens = root.at(data_id);
      if (data_id.find('\0') != std::string::npos) {
        ++entries;
        skip(fmt::format("data_id {}: holds a NUL character", Quoted(data_id)));
        continue;
      }
      if (!tokens.is_object()) {
        ++entries;
        skip(fmt::format("data_id {}: {}, not an object of token_id -> [golden path, my path]", Quoted(data_id),
                         Kind(tokens)));
        continue;
      }
      if (tokens.empty()) {
        ++entries;
        skip(fmt::format("data_id {}: no token_id", Quoted(data_id)));
        continue;
      }
      auto listed = order.tokens.find(data_id);
      const std::vector<std::string>* token_order = listed == order.tokens.end() ? nullptr : &listed->second;
      for (const std::string& token_id : InFileOrder(tokens, token_order)) {
        ++entries;
        const Json& files = tokens.at(token_id);
        std::string why =
            token_id.find('\0') != std::string::npos ? "the token_id holds a NUL character" : Unusable(files);
        if (!why.empty()) {
          skip(fmt::format("data_id {}, token_id {}: {}", Quoted(data_id), Quoted(token_id), why));
          continue;
        }
        if (ops.rows.size() == kMaxManualPairs) {
          truncated = true;
          break;
        }
        TensorPair pair;
        pair.token_id = token_id;
        pair.data_id = data_id;
        pair.golden_path = paths.Resolve(files[0].get_ref<const std::string&>(), true).string();
        pair.my_path = paths.Resolve(files[1].get_ref<const std::string&>(), false).string();
        const std::string op_name = "data_" + data_id;
        pair.label = fmt::format("{}:{} ~ {}:{}", op_name, fs::path(pair.my_path).filename().string(), op_name,
                                 fs::path(pair.golden_path).filename().string());
        pair.my_name = pair.golden_name = op_name;
        pair.match = "manual";
        ops.rows.push_back(std::move(pair));
      }
    }

    // One operation per row, for the root-cause analysis: token by token (numeric order when
    // every token_id is a number, else first appearance), each in the file's order.
    std::vector<std::string> token_order;
    std::unordered_map<std::string, std::vector<size_t>> rows_of;
    for (size_t i = 0; i < ops.rows.size(); ++i) {
      auto [it, added] = rows_of.try_emplace(ops.rows[i].token_id);
      if (added) token_order.push_back(ops.rows[i].token_id);
      it->second.push_back(i);
    }
    if (std::all_of(token_order.begin(), token_order.end(), [](const std::string& t) { return IsDigits(t); }))
      std::stable_sort(token_order.begin(), token_order.end(), TokenLess);
    for (const std::string& token : token_order)
      for (size_t i : rows_of[token]) {
        const TensorPair& pair = ops.rows[i];
        OpPair op;
        op.token_id = pair.token_id;
        op.my_name = op.golden_name = pair.my_name;
        op.match = pair.match;
        op.outputs.push_back(pair);
        ops.ops.push_back(std::move(op));
      }

    for (const std::string& what : skipped) ops.notes.push_back(fmt::format("{}: {}; skipped", metadata.string(), what));
    if (skipped_count > skipped.size())
      ops.notes.push_back(fmt::format("{}: {} more entries skipped (not a list [golden path, my path])",
                                      metadata.string(), skipped_count - skipped.size()));
    if (truncated)
      ops.notes.push_back(fmt::format("{}: more than {} pairs; only the first {} are compared", metadata.string(),
                                      kMaxManualPairs, kMaxManualPairs));
    if (auto note = paths.RelocationNote()) ops.notes.push_back(*note);
    if (root.empty())
      ops.nothing_paired = fmt::format(
          "{}: records no pair (an empty object): call dump_data(token_id, data_id, golden_tensor, my_path) for each "
          "tensor to compare",
          metadata.string());
    else
      ops.nothing_paired = fmt::format(
          "{}: none of its {} entries is a usable pair (first: {}); each must be \"<data_id>\": {{\"<token_id>\": "
          "[\"<golden path>\", \"<my path>\"]}}",
          metadata.string(), entries, skipped.empty() ? std::string("none") : skipped.front());
    return ops;
  }
};

}  // namespace

const PairingStrategy& ManualMappingStrategy() {
  static const ManualMapping strategy;
  return strategy;
}

}  // namespace ait
