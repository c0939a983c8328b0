// One operation's check.
#include "opcheck/case_check.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "ait/error.h"
#include "ait/tensor_io.h"
#include "compare/pairing/dump_layout.h"
#include "opcheck/reference.h"

namespace ait::opcheck {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxTensorsPerOperation = 4096;

// intensor{N}.bin / outtensor{N}.bin of a tensor folder, by N; throws ait::Error for a gap.
struct TensorFiles {
  std::vector<fs::path> in, out;
};

std::vector<fs::path> Numbered(const std::map<int, fs::path>& found, std::string_view prefix, const fs::path& dir) {
  std::vector<fs::path> out;
  int expect = 0;
  for (const auto& [n, path] : found) {
    if (n != expect) Fail(dir.string(), "has no {}{}.bin (found {}{}.bin)", prefix, expect, prefix, n);
    out.push_back(path);
    ++expect;
  }
  return out;
}

TensorFiles ListTensorFiles(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    Fail(dir.string(), "does not exist: opcheck reads each operation's after/ tensors ('ait llm dump --type tensor "
                       "-time 1' or '-time 2' writes them)");
  std::map<int, fs::path> in, out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    for (auto [prefix, into] : {std::pair{std::string_view("intensor"), &in}, std::pair{std::string_view("outtensor"), &out}}) {
      if (name.rfind(prefix, 0) != 0) continue;
      std::string_view rest = std::string_view(name).substr(prefix.size());
      int n = -1;
      auto [end, err] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
      if (err != std::errc() || end == rest.data() || n < 0 || n >= kMaxTensorsPerOperation) continue;
      if (std::string_view(end, rest.data() + rest.size() - end) != ".bin") continue;
      (*into)[n] = e.path();
    }
  }
  if (ec) Fail(dir.string(), "cannot be read ({})", ec.message());
  return {Numbered(in, "intensor", dir), Numbered(out, "outtensor", dir)};
}

std::vector<Tensor> ReadAll(const std::vector<fs::path>& files) {
  std::vector<Tensor> out;
  for (const fs::path& f : files) out.push_back(ReadTensor(f.string()));
  return out;
}

// A collective's inputs: every rank's, rankRoot..rankSize-1, found by the original's rule
// (FORMATS §8.1 item 8): the {rank}_{pid} folder of this rank becomes {i}_{pid - rank + i}.
// Empty with `why` set when a rank's folder is missing.
std::vector<fs::path> RankInputs(const CaseSpec& spec, const std::vector<fs::path>& mine, std::string* why) {
  AtbParams p(spec.op_type, spec.param);
  const int64_t rank = p.Int("rank", 0), root = p.Int("rankRoot", 0), size = p.Int("rankSize", 1);
  if (size < 1 || size > 4096 || root < 0 || root >= size || rank < root || rank >= size)
    Fail(spec.op_type, "param rank {} / rankRoot {} / rankSize {} do not describe a rank of the group", rank, root, size);
  // The {dev}_{pid} component of the tensor folder's path.
  const fs::path dir = spec.tensor_dir;
  std::vector<fs::path> parts(dir.begin(), dir.end());
  size_t proc = parts.size();
  for (size_t i = 0; i < parts.size(); ++i)
    if (IsProcessFolder(parts[i].string()) && i + 1 < parts.size() && IsDigits(parts[i + 1].string())) proc = i;
  if (proc == parts.size()) Fail(dir.string(), "is not inside a {{dev}}_{{pid}} folder: the other ranks' dumps cannot be found");
  const std::string name = parts[proc].string();
  const size_t us = name.rfind('_');
  const int64_t pid = DigitsValue(name.substr(us + 1));
  std::vector<fs::path> all;
  for (int64_t i = root; i < size; ++i) {
    if (i == rank) {
      all.insert(all.end(), mine.begin(), mine.end());
      continue;
    }
    fs::path other;
    for (size_t k = 0; k < parts.size(); ++k)
      other /= k == proc ? fs::path(fmt::format("{}_{}", i, pid - rank + i)) : parts[k];
    for (const fs::path& f : mine) {
      const fs::path g = other / f.filename();
      std::error_code ec;
      if (!fs::is_regular_file(g, ec)) {
        *why = fmt::format("not checkable: the dump lacks rank {}'s inputs (no {})", i, g.string());
        return {};
      }
      all.push_back(g);
    }
  }
  return all;
}

std::string MaxDifference(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return fmt::format("the rerun gave {} outputs, the dump holds {}", a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].dtype != b[i].dtype || a[i].shape != b[i].shape)
      return fmt::format("output {}: the rerun gave {} {}, the dump holds {} {}", i, ShortName(a[i].dtype),
                         a[i].ShapeString(), ShortName(b[i].dtype), b[i].ShapeString());
    if (a[i].has_data && b[i].has_data && a[i].nbytes == b[i].nbytes &&
        !std::equal(a[i].data, a[i].data + a[i].nbytes, b[i].data)) {
      const RefTensor x = RefTensor::From(a[i], "rerun"), y = RefTensor::From(b[i], "dump");
      double worst = 0;
      size_t at = 0;
      for (size_t k = 0; k < x.data.size(); ++k) {
        const double d = std::fabs(x.data[k] - y.data[k]);
        if (std::isnan(d) || d > worst) {
          worst = std::isnan(d) ? INFINITY : d;
          at = k;
          if (std::isnan(d)) break;
        }
      }
      return fmt::format("output {} differs: element {} is {:.7g} in the rerun, {:.7g} in the dump", i, at,
                         x.data[at], y.data[at]);
    }
  }
  return "";
}

}  // namespace

OpcheckCase CheckCase(const CaseSpec& spec, const CheckOptions& options) {
  OpcheckCase c;
  c.token = spec.token;
  c.op_id = spec.op_id;
  c.op_type = spec.op_type;
  c.param_text = spec.param_error.empty() ? spec.param.dump() : spec.param_text;
  c.tensor_path = spec.tensor_dir;
  c.status = CaseStatus::kFailed;
  const Reference* ref = FindReference(spec.op_type);
  if (!ref) {
    c.status = CaseStatus::kUnsupported;
    c.fail_reason = fmt::format("no float64 reference for {} (docs/OPCHECK.md lists the types opcheck checks)", spec.op_type);
    return c;
  }
  if (!spec.param_error.empty()) {
    c.fail_reason = spec.param_error;
    return c;
  }
  try {
    const TensorFiles files = ListTensorFiles(spec.tensor_dir);
    std::vector<fs::path> in_files = files.in;
    if (ref->collective) {
      std::string why;
      in_files = RankInputs(spec, files.in, &why);
      if (!why.empty()) {
        c.status = CaseStatus::kUnsupported;
        c.fail_reason = why;
        return c;
      }
    }
    // Each file read once (mapped); this rank's inputs come first in a collective's list.
    const std::vector<Tensor> in_tensors = ReadAll(in_files);
    std::vector<RefTensor> inputs;
    for (size_t i = 0; i < in_tensors.size(); ++i) inputs.push_back(RefTensor::From(in_tensors[i], in_files[i].string()));
    // The outputs the operation gave: its outtensors, or for in-place operations the inputs it
    // updated (after/ holds them as they were after the operation).
    std::vector<Tensor> dumped;
    if (!ref->inplace_inputs.empty()) {
      const size_t rank_offset = static_cast<size_t>(
          std::find(in_files.begin(), in_files.end(), files.in.empty() ? fs::path() : files.in.front()) -
          in_files.begin());
      for (int i : ref->inplace_inputs) {
        if (i < 0 || static_cast<size_t>(i) >= files.in.size())
          Fail(spec.tensor_dir.string(), "has no intensor{}.bin, which {} updates in place", i, spec.op_type);
        dumped.push_back(in_tensors[rank_offset + static_cast<size_t>(i)]);
      }
    } else {
      dumped = ReadAll(files.out);
    }
    RefCall call{spec.op_type, spec.param, inputs, {}};
    if (!dumped.empty()) call.max_output_elements = 1;
    for (const Tensor& t : dumped) {
      call.out_dtypes.push_back(t.dtype);
      call.max_output_elements = std::max(call.max_output_elements, t.numel());
    }
    std::vector<RefTensor> expected = ref->fn(call);

    std::vector<Tensor> actual = dumped;
    if (options.rerun) {
      std::vector<Tensor> rerun = options.rerun->Run(spec.op_type, spec.param.dump(), in_files);
      c.rerun_vs_dump = MaxDifference(rerun, dumped);
      c.rerun_differs = !c.rerun_vs_dump.empty();
      if (c.rerun_vs_dump.empty()) c.rerun_vs_dump = "identical";
      actual = std::move(rerun);
    }
    const size_t n = std::min(actual.size(), expected.size());
    for (size_t i = 0; i < n; ++i) c.outputs.push_back(ScoreOutput(actual[i], expected[i], static_cast<int>(i), options.metrics));
    bool all = actual.size() == expected.size();
    for (const OutputCheck& o : c.outputs) all = all && o.passed;
    if (actual.size() != expected.size())
      c.fail_reason = fmt::format("the operation has {} outputs, its reference {}", actual.size(), expected.size());
    c.status = all ? CaseStatus::kPassed : CaseStatus::kFailed;
  } catch (const Error& e) {
    c.fail_reason = e.what();
  } catch (const std::exception& e) {  // a bug or out of memory: still one row, not an abort
    c.fail_reason = fmt::format("opcheck failed on this operation: {}", e.what());
  }
  return c;
}

}  // namespace ait::opcheck
