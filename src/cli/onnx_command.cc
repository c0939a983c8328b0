// `ait llm onnx`: convert ATB topology JSON files (or every one under a folder) to ONNX.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "ait/atb_onnx.h"
#include "ait/error.h"
#include "ait/log.h"
#include "ait/mapped_file.h"
#include "args.h"
#include "commands.h"

namespace ait::cli {
namespace fs = std::filesystem;
namespace {

const std::vector<OptionAlias> kAliases = {{"-l", "--log-level"}};

// Stops a SAX parse at the first top-level key: a topology JSON has "opName" (layer) or
// "modelName" (model) there. Anything else under a folder (op_param.json, model_tree.json,
// metadata.json) is skipped. A file that is not valid JSON counts as a candidate, so its
// conversion reports the error.
class TopologySniffer : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool topology() const { return topology_ || broken_; }
  bool null() override { return Value(); }
  bool boolean(bool) override { return Value(); }
  bool number_integer(number_integer_t) override { return Value(); }
  bool number_unsigned(number_unsigned_t) override { return Value(); }
  bool number_float(number_float_t, const string_t&) override { return Value(); }
  bool string(string_t&) override { return Value(); }
  bool binary(binary_t&) override { return Value(); }
  bool start_object(std::size_t) override { return ++depth_, true; }
  bool key(string_t& key) override {
    if (depth_ == 1 && (key == "opName" || key == "modelName")) {
      topology_ = true;
      return false;
    }
    return true;
  }
  bool end_object() override { return --depth_ > 0; }
  bool start_array(std::size_t) override { return ++depth_ > 1; }  // a top-level array: not a topology
  bool end_array() override { return --depth_ > 0; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    broken_ = true;
    return false;
  }

 private:
  bool Value() const { return depth_ > 0; }
  int depth_ = 0;
  bool topology_ = false;
  bool broken_ = false;
};

bool LooksLikeTopology(const fs::path& path) {
  try {
    std::shared_ptr<const MappedFile> file = MappedFile::Open(path.string());
    const char* begin = reinterpret_cast<const char*>(file->data());
    TopologySniffer sniffer;
    nlohmann::json::sax_parse(begin, begin + file->size(), &sniffer);
    return sniffer.topology();
  } catch (const std::exception&) {
    return true;  // unreadable: let the conversion say why
  }
}

// Every *.json under `folder` that looks like a topology, sorted; counts the others.
std::vector<fs::path> TopologyFilesUnder(const fs::path& folder, std::vector<fs::path>& skipped) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".json" || !it->is_regular_file(ec)) continue;
    (LooksLikeTopology(it->path()) ? found : skipped).push_back(it->path());
  }
  if (ec) Fail(folder.string(), "cannot list the folder ({})", ec.message());
  std::sort(found.begin(), found.end());
  std::sort(skipped.begin(), skipped.end());
  return found;
}

}  // namespace

int RunOnnx(const std::vector<std::string>& raw_args) {
  CLI::App app(
      "Convert ATB topology JSON files (the layer/ and model/ files of an ait_dump) to ONNX models\n"
      "for Netron or any ONNX viewer. Each x.json is written as x.onnx beside it.\n\n"
      "A folder argument converts every topology *.json under it (recursively); other JSON files\n"
      "there (op_param.json, ...) are skipped. Levels pick which operations become nodes:\n"
      "  -1  every leaf operation (the default)\n"
      "   0  the whole graph as one node\n"
      "   N  the operations N levels below the root (a model JSON's layers are level 1, their\n"
      "      operations level 2), or shallower leaves\n"
      "Operation types live in the ONNX domain 'ait.atb', params become attributes. Prints each\n"
      "written path. Exit status: 0 when every file converted, 1 when any failed (the error\n"
      "names the file), 2 for bad arguments.",
      "ait llm onnx");
  app.formatter(std::make_shared<AliasFormatter>(kAliases));
  app.get_formatter()->column_width(30);
  std::vector<std::string> paths;
  int level = -1;
  std::string log_level = "info";
  app.add_option("JSON", paths, "topology JSON files or folders holding them")->required();
  Bounded(app.add_option("--level", level, "-1 all leaves, 0 the root as one node, N the nodes at depth N")
              ->capture_default_str(),
          "INT", -1, HUGE_VAL);
  app.add_option("--log-level", log_level, "debug, info, warning, error, fatal or critical")->capture_default_str();
  if (int rc = ParseArgs(app, raw_args, kAliases); rc >= 0) return rc;
  auto parsed_level = ParseLogLevel(log_level);
  if (!parsed_level)
    return UsageError("onnx", "--log-level: '" + log_level + "' is not one of debug, info, warning, error, fatal, critical");
  SetLogLevel(*parsed_level);
  std::error_code ec;
  for (const std::string& p : paths)
    if (!fs::exists(p, ec)) return UsageError("onnx", "'" + p + "' does not exist");

  size_t converted = 0, failed = 0;
  auto convert = [&](const std::string& path) {
    try {
      std::string written = AtbJsonToOnnx(path, level);
      std::printf("%s\n", written.c_str());
      std::fflush(stdout);
      ++converted;
    } catch (const Error& e) {
      Log(LogLevel::kError, "{}", e.what());
      ++failed;
    } catch (const std::bad_alloc&) {
      Log(LogLevel::kError, "{}: out of memory", path);
      ++failed;
    }
  };
  for (const std::string& p : paths) {
    if (!fs::is_directory(p, ec)) {
      convert(p);
      continue;
    }
    std::vector<fs::path> skipped, files;
    try {
      files = TopologyFilesUnder(p, skipped);
    } catch (const Error& e) {
      Log(LogLevel::kError, "{}", e.what());
      ++failed;
      continue;
    }
    if (!skipped.empty())
      Log(LogLevel::kInfo, "{}: skipped {} JSON file(s) that are not ATB topology, e.g. {}", p, skipped.size(),
          skipped.front().string());
    if (files.empty()) {
      Log(LogLevel::kError, "{}: no ATB topology JSON file (layer or model) under this folder", p);
      ++failed;
    }
    for (const fs::path& f : files) convert(f.string());
  }
  Log(failed ? LogLevel::kError : LogLevel::kInfo, "{} converted, {} failed", converted, failed);
  return failed ? kExitFailure : kExitOk;
}

}  // namespace ait::cli
