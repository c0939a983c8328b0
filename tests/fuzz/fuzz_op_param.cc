// libFuzzer target: the text opcheck reads from a dump (src/opcheck/case_discovery.cc) and the
// float64 references (src/opcheck/references/) fed a hostile op_param.json.
//
// Input: byte 0 picks a reference of AllReferences() (byte % count) and the dtype its float
// inputs are stored in (byte / count); the rest is the text. That text goes
//   1. through ReadParamText as an op_param.json: a param is an object or there is an error;
//   2. through ParseOperationCsv as an operation_tensors_{n}.csv: ait::Error or rows;
//   3. when it parsed to an object, to the picked reference, run on small fixed inputs shaped
//      as that operation takes them (deterministic values; integer inputs hold consistent
//      lengths, offsets and indices), once as its dump would give them and once with a second
//      profile or none, so hostile params reach the param checks behind the input checks.
//      Every output must hold as many values as its shape says, and scoring an output against
//      itself (output_score.cc) must pass with no error.
// ait::Error is the expected answer to anything bad; any other exception, a crash, a
// sanitizer report, a timeout or running out of memory is a finding. With AIT_FUZZ_SEED_OUT
// set the target writes its seeds (real op_param.json texts of the reference engine's dump,
// the documented params of the other types, an operation CSV) as that path and path.N;
// AIT_FUZZ_VERBOSE=1 prints what each reference call gave.
#include <cmath>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ait/error.h"
#include "fuzz_common.h"
#include "opcheck/case_discovery.h"
#include "opcheck/output_score.h"
#include "opcheck/reference.h"

namespace {

using ait::DType;
using ait::opcheck::RefTensor;

// One input of a profile: 'f' a float in the picked dtype, 'F' float32, 'i' int32, 'l' int64,
// 'b' int8; values given, else deterministic ones in [-2, 2] (floats) or [-3, 3] (int8).
struct In {
  char kind;
  std::vector<int64_t> shape;
  std::vector<double> values = {};
};
using Profile = std::vector<In>;

// Inputs that fit each type with its usual params (the seeds' params).
const std::map<std::string_view, std::vector<Profile>>& Profiles() {
  static const std::map<std::string_view, std::vector<Profile>> p = {
      {"ActivationOperation", {{{'f', {2, 8}}}, {{'f', {3}}}}},
      {"SoftmaxOperation", {{{'f', {2, 3, 4}}}}},
      {"SelfAttentionOperation",
       {{{'f', {3, 8}}, {'f', {3, 4}}, {'f', {3, 4}}, {'f', {1, 4, 4}}, {'f', {1, 4, 4}}, {'f', {0}},
         {'i', {1}, {3}}, {'i', {1}, {3}}, {'i', {1}, {0}}},
        {{'f', {2, 2, 4}}, {'f', {2, 4}}, {'f', {2, 4}}, {'f', {1, 2, 4, 4}}, {'f', {1, 2, 4, 4}},
         {'f', {4, 4}}, {'i', {2}, {1, 4}}, {'i', {2}, {1, 1}}, {'i', {1}, {0}}}}},
      {"KvCacheOperation",
       {{{'f', {3, 4}}, {'i', {1}, {0}}, {'f', {1, 1, 6, 4}}, {'i', {1}, {3}}, {'i', {1}, {3}}}}},
      {"PagedAttentionOperation",
       {{{'f', {2, 2, 4}}, {'f', {2, 4, 1, 4}}, {'f', {2, 4, 1, 4}}, {'i', {2, 2}, {0, 1, 1, 0}},
         {'i', {2}, {3, 5}}},
        {{'f', {2, 2, 4}}, {'f', {2, 4, 1, 4}}, {'f', {2, 4, 1, 4}}, {'i', {2, 2}, {0, 1, 1, -1}},
         {'i', {2}, {8, 2}}, {'f', {2, 1, 8}}}}},
      {"ReshapeAndCacheOperation",
       {{{'f', {3, 1, 4}}, {'f', {3, 1, 4}}, {'f', {2, 4, 1, 4}}, {'f', {2, 4, 1, 4}}, {'i', {3}, {0, 5, -1}}}}},
      {"AllGatherOperation", {{{'f', {2, 3}}, {'f', {2, 3}}}}},
      {"AllReduceOperation", {{{'f', {2, 3}}, {'f', {2, 3}}}}},
      {"BroadcastOperation", {{{'f', {2, 3}}, {'f', {2, 3}}}}},
      {"LinearParallelOperation",
       {{{'f', {2, 4}}, {'f', {3, 4}}, {'f', {2, 4}}, {'f', {3, 4}}},
        {{'f', {2, 4}}, {'f', {3, 4}}, {'f', {3}}, {'f', {2, 4}}, {'f', {3, 4}}, {'f', {3}}}}},
      {"ElewiseOperation",
       {{{'f', {2, 4}}, {'f', {2, 4}}}, {{'f', {2, 4}}}, {{'f', {2, 4}}, {'F', {4}}, {'F', {4}}},
        {{'b', {2, 4}}, {'F', {4}}, {'F', {4}}}, {{'f', {2, 4}}, {'f', {4}}}}},
      {"GatherOperation", {{{'f', {5, 4}}, {'i', {3}, {0, 4, 2}}}, {{'f', {2, 5, 3}}, {'l', {2, 2}, {1, 0, 2, 2}}}}},
      {"SamplingOperation", {{{'f', {2, 6}}}}},
      {"ConcatOperation", {{{'f', {2, 3}}, {'f', {2, 3}}}, {{'f', {2, 3}}, {'f', {1, 3}}}}},
      {"SplitOperation", {{{'f', {4, 6}}}}},
      {"TransposeOperation", {{{'f', {2, 3, 4}}}}},
      {"SliceOperation", {{{'f', {3, 4}}}}},
      {"LinearOperation", {{{'f', {3, 8}}, {'f', {4, 8}}}, {{'f', {3, 8}}, {'f', {4, 8}}, {'f', {4}}}}},
      {"MatMulOperation", {{{'f', {2, 3, 4}}, {'f', {4, 5}}}, {{'f', {3, 4}}, {'f', {4, 5}}}}},
      {"MatmulOperation", {{{'f', {2, 3, 4}}, {'f', {4, 5}}}}},
      {"LinearQuantOperation",
       {{{'f', {3, 8}}, {'b', {4, 8}}, {'F', {4}}}, {{'f', {3, 8}}, {'b', {4, 8}}, {'F', {4}}, {'F', {4}}}}},
      {"LayerNormOperation", {{{'f', {2, 8}}, {'f', {8}}, {'f', {8}}}}},
      {"RmsNormOperation", {{{'f', {3, 8}}, {'f', {8}}}}},
      {"RopeOperation", {{{'f', {3, 8}}, {'f', {3, 8}}, {'f', {3, 4}}, {'f', {3, 4}}, {'i', {1}, {3}}}}},
      {"CumsumOperation", {{{'f', {2, 5}}}}},
      {"ReduceOperation", {{{'f', {2, 3, 4}}}}},
      {"SortOperation", {{{'f', {2, 6}}}}},
      {"FastSoftMaxOperation", {{{'f', {13}}}}},
      {"FastSoftMaxGradOperation", {{{'f', {13}}, {'f', {13}}}}},
      {"StridedBatchMatmulOperation", {{{'f', {32}}, {'f', {32}}}}},
      {"RopeGradOperation", {{{'f', {3, 128}}, {'f', {3, 128}}, {'f', {4, 128}}, {'f', {4, 128}}}}},
      {"WhereOperation", {{{'b', {2, 3}}, {'f', {2, 3}}, {'f', {2, 3}}}, {{'b', {3}}, {'f', {2, 3}}, {'f', {1, 3}}}}},
      {"FillOperation", {{{'f', {2, 3}}, {'b', {2, 3}}}, {}}},
      {"PadOperation",
       {{{'f', {5, 4}}, {'i', {1, 5}, {0, 0, 1, 1, 1}}, {'i', {2, 1}, {2, 3}}, {'l', {2, 3}, {1, 2, 0, 3, 4, 5}}}}},
      {"UnpadOperation",
       {{{'l', {2, 3}, {1, 2, 0, 3, 4, 0}}, {'i', {2, 1}, {1, 2}}, {'l', {1, 1}, {4}}, {'i', {2, 1}, {2, 2}}}}},
      {"GenAttentionMaskOperation", {{{'f', {2, 1, 3, 3}}}}},
      {"RepeatOperation", {{{'f', {2, 3}}}}},
      {"AsStridedOperation", {{{'f', {12}}}}},
      {"SetValueOperation", {{{'f', {4, 4}}, {'f', {2, 2}}}}},
      {"TransdataOperation", {{{'f', {1, 3, 5}}}, {{'f', {1, 1, 16, 16}}}}},
  };
  return p;
}

// The params the seeds start from: real op_param.json texts of a tiny-preset dump for the
// engine's types, the documented params for the others.
const std::vector<std::pair<std::string_view, std::string_view>>& SeedParams() {
  static const std::vector<std::pair<std::string_view, std::string_view>> s = {
      {"GatherOperation", R"({"axis":0})"},
      {"RmsNormOperation", R"({"layerType":1,"normParam":{"epsilon":1e-06}})"},
      {"LinearOperation", R"({"hasBias":false,"transposeA":false,"transposeB":true})"},
      {"RopeOperation", R"({"rotaryCoeff":2})"},
      {"SelfAttentionOperation",
       R"({"calcType":0,"headNum":2,"kernelType":0,"kvHeadNum":1,"maskType":0,"qScale":0.5,"qkScale":1.0})"},
      {"ElewiseOperation", R"({"elewiseType":8})"},
      {"ElewiseOperation", R"({"elewiseType":17,"quantParam":{"inputScale":1.0,"inputOffset":0}})"},
      {"ElewiseOperation", R"({"elewiseType":1,"outTensorType":1})"},
      {"ActivationOperation", R"({"activationType":4})"},
      {"ActivationOperation", R"({"activationType":6,"dim":-1})"},
      {"SoftmaxOperation", R"({"axes":[-1]})"},
      {"KvCacheOperation", "{}"},
      {"PagedAttentionOperation", R"({"headNum":2,"kvHeadNum":1,"qkScale":0.5,"maskType":0})"},
      {"ReshapeAndCacheOperation", R"({"compressType":0,"kvCacheCfg":0})"},
      {"AllGatherOperation", R"({"rank":0,"rankSize":2,"rankRoot":0,"backend":"hccl"})"},
      {"AllReduceOperation", R"({"rank":1,"rankSize":2,"rankRoot":0,"allReduceType":"sum","backend":"hccl"})"},
      {"BroadcastOperation", R"({"rank":1,"rankSize":2,"rankRoot":0})"},
      {"LinearParallelOperation", R"({"rank":0,"rankSize":2,"rankRoot":0,"transWeight":true,"type":0})"},
      {"SamplingOperation", R"({"outDataType":9})"},
      {"ConcatOperation", R"({"concatDim":0})"},
      {"SplitOperation", R"({"splitDim":1,"splitNum":3,"splitSizes":[1,2,3]})"},
      {"TransposeOperation", R"({"perm":[2,0,1]})"},
      {"SliceOperation", R"({"offsets":[1,-3],"size":[-1,2]})"},
      {"MatMulOperation", R"({"transposeA":false,"transposeB":false})"},
      {"MatmulOperation", R"({"transposeA":false,"transposeB":false})"},
      {"LinearQuantOperation", R"({"quantMode":0,"hasBias":false,"transposeB":true})"},
      {"LayerNormOperation", R"({"layerType":1,"normParam":{"epsilon":1e-05,"beginNormAxis":1}})"},
      {"CumsumOperation", R"({"axes":[1],"exclusive":false,"reverse":true})"},
      {"ReduceOperation", R"({"reduceType":3,"axis":[0,2]})"},
      {"SortOperation", R"({"num":[3]})"},
      {"FastSoftMaxOperation", R"({"headNum":1,"qSeqLen":[2,3]})"},
      {"FastSoftMaxGradOperation", R"({"headNum":1,"qSeqLen":[2,3]})"},
      {"StridedBatchMatmulOperation",
       R"({"transposeA":false,"transposeB":false,"batch":1,"headNum":2,"m":[2],"n":[2],"k":[2],"lda":[2],"ldb":[2],"ldc":[2],"strideA":[4],"strideB":[4],"strideC":[4]})"},
      {"RopeGradOperation", R"({"qSeqLen":[3]})"},
      {"WhereOperation", "{}"},
      {"FillOperation", R"({"withMask":true,"value":[0.5]})"},
      {"FillOperation", R"({"withMask":false,"value":[1.0],"outDim":[2,3]})"},
      {"PadOperation", "{}"},
      {"UnpadOperation", "{}"},
      {"GenAttentionMaskOperation", R"({"headNum":2,"seqLen":[2,3]})"},
      {"RepeatOperation", R"({"multiples":[2,1,2]})"},
      {"AsStridedOperation", R"({"size":[2,3],"stride":[3,1],"offset":[2]})"},
      {"SetValueOperation", R"({"starts":[1,2],"ends":[3,4],"strides":[1,1]})"},
      {"TransdataOperation", R"({"transdataType":2,"outCrops":[0,0]})"},
  };
  return s;
}

// An operation CSV as `ait llm dump --type op` writes it (paths shortened), for the CSV parser.
constexpr std::string_view kCsvSeed =
    "CaseNum|CaseName|OpName|OpParam|InNum|InDType|InFormat|InShape|OutNum|OutDType|OutFormat|OutShape|"
    "DataGenType|DataGenRange|InTensorFile|OutTensorFile|TestType|TestLevel|FromModel|SocVersion|ExpectedError\n"
    "1|GatherOperation_01|GatherOperation_0|{\"axis\":0}|2|float16;int32|nd;nd|256,64;3|1|float16|nd|3,64|"
    "customize| |/d/ait_dump/tensors/0_1/0/0_GatherOperation/before/intensor0.bin;/d/ait_dump/tensors/0_1/0/"
    "0_GatherOperation/before/intensor1.bin|/d/ait_dump/tensors/0_1/0/0_GatherOperation/before/outtensor0.bin"
    "| | | | |NO_ERROR\n"
    "2|RmsNormOperation_1_02|RmsNormOperation_1_0|{\"layerType\":1,\"normParam\":{\"epsilon\":1e-06}}|2|"
    "float16;float16|nd;nd|3,64;64|1|float16|nd|3,64|customize| |a;b|c| | | | |NO_ERROR\n"
    "3|LinearOperation_1_13|LinearOperation_1_1|{\"a\":\"x|y\"}|2|float16;float16|nd;nd|3,64;64,64|1|"
    "float16|nd|3,64|customize| |a;b|c| | | | |NO_ERROR\r\n";

constexpr DType kFloatDTypes[] = {DType::kFloat16, DType::kBFloat16, DType::kFloat32, DType::kFloat64};

RefTensor Make(const In& in, DType floats, uint64_t& state) {
  RefTensor t;
  t.dtype = in.kind == 'f' ? floats
            : in.kind == 'F' ? DType::kFloat32
            : in.kind == 'i' ? DType::kInt32
            : in.kind == 'l' ? DType::kInt64
                             : DType::kInt8;
  t.shape = in.shape;
  int64_t n = 1;
  for (int64_t d : in.shape) n *= d;
  t.data.resize(static_cast<size_t>(n));
  for (size_t i = 0; i < t.data.size(); ++i) {
    if (!in.values.empty()) {
      t.data[i] = in.values[i % in.values.size()];
      continue;
    }
    state = state * 6364136223846793005ull + 1442695040888963407ull;  // a fixed LCG
    const double u = static_cast<double>(state >> 11) / 9007199254740992.0;  // [0, 1)
    t.data[i] = t.dtype == DType::kInt8 ? std::floor(u * 7) - 3 : ait::opcheck::RoundTo(t.dtype, 4 * u - 2);
  }
  return t;
}

// Outputs up to this many elements are scored against themselves.
constexpr int64_t kMaxScored = 1 << 16;

void CheckOutputs(const std::vector<RefTensor>& outs) {
  static const ait::opcheck::MetricSet all{true, true, true};
  for (size_t i = 0; i < outs.size(); ++i) {
    const RefTensor& t = outs[i];
    if (static_cast<int>(t.dtype) >= ait::kNumDTypes) ait::fuzz::Die("a reference output with an invalid dtype");
    int64_t n = 1;
    for (int64_t d : t.shape) {
      if (d < 0) ait::fuzz::Die("a reference output with a negative dim");
      n *= d;
    }
    if (n != t.numel()) ait::fuzz::Die("a reference output whose shape does not hold its values");
    if (n > kMaxScored) continue;  // a param may ask for a big output; scoring it is slow under ASan
    const ait::OutputCheck c = ait::opcheck::ScoreValues(t, t, static_cast<int>(i), all);
    if (!c.scored || !c.passed || c.max_rel != 0 || c.rel_rate != 100)
      ait::fuzz::Die("an output scored against itself does not pass exactly");
  }
}

// AIT_FUZZ_VERBOSE=1: one line per reference call on stderr (is a profile reaching the math?).
bool Verbose() {
  static const bool v = [] {
    const char* e = std::getenv("AIT_FUZZ_VERBOSE");
    return e && *e && *e != '0';
  }();
  return v;
}

void RunReference(const ait::opcheck::Reference& ref, const nlohmann::json& param, const Profile& profile,
                  DType floats) {
  uint64_t state = 0x5eed;
  std::vector<RefTensor> inputs;
  for (const In& in : profile) inputs.push_back(Make(in, floats, state));
  ait::opcheck::RefCall call{std::string(ref.type), param, inputs, {}};
  call.out_dtypes = {floats};
  call.max_output_elements = kMaxScored;  // as if the dumped outputs held at most that many
  try {
    const std::vector<RefTensor> outs = ref.fn(call);
    CheckOutputs(outs);
    if (Verbose()) std::fprintf(stderr, "%s (%zu inputs, %s): %zu outputs\n", std::string(ref.type).c_str(),
                                profile.size(), std::string(ait::ShortName(floats)).c_str(), outs.size());
  } catch (const ait::Error& e) {
    // a param or an input the reference refuses: the expected answer
    if (Verbose()) std::fprintf(stderr, "%s (%zu inputs, %s): %s\n", std::string(ref.type).c_str(), profile.size(),
                                std::string(ait::ShortName(floats)).c_str(), e.what());
  }
}

void WriteSeeds(const std::string& path) {
  const auto& refs = ait::opcheck::AllReferences();
  int n = 0;
  auto write = [&](size_t ref_index, size_t dtype_index, std::string_view text) {
    std::string bytes(1, static_cast<char>(ref_index + refs.size() * dtype_index));
    bytes += text;
    const std::string file = n ? path + "." + std::to_string(n) : path;
    ++n;
    ait::fuzz::WriteInput(file, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  };
  // Each param with float16 inputs, and with one of the other float dtypes in turn.
  size_t k = 0;
  for (const auto& [type, text] : SeedParams())
    for (size_t i = 0; i < refs.size(); ++i)
      if (refs[i].type == type) {
        write(i, 0, text);
        write(i, 1 + k++ % 3, text);
      }
  write(0, 0, kCsvSeed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool seeded = [] {
    if (const char* seed = std::getenv("AIT_FUZZ_SEED_OUT"); seed && *seed) WriteSeeds(seed);
    return true;
  }();
  (void)seeded;
  if (size == 0) return 0;
  const auto& refs = ait::opcheck::AllReferences();
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  // 1. op_param.json.
  ait::opcheck::CaseSpec spec;
  ait::opcheck::ReadParamText(spec, std::string(text));
  if (spec.param_text != text) ait::fuzz::Die("ReadParamText changed the text it keeps");
  if (spec.param_error.empty() && !spec.param.is_object()) ait::fuzz::Die("a param that is not an object");

  // 2. An operation CSV.
  try {
    const auto rows = ait::opcheck::ParseOperationCsv(text, "fuzz.csv");
    size_t total = 0;
    for (const auto& r : rows) total += r.name.size() + r.param.size();
    if (total > text.size()) ait::fuzz::Die("CSV rows hold more text than the file");
  } catch (const ait::Error&) {
    // malformed CSV
  }

  // 3. The picked reference with that param.
  if (!spec.param_error.empty()) return 0;
  const size_t pick = data[0] % refs.size();
  const DType floats = kFloatDTypes[(data[0] / refs.size()) % 4];
  const ait::opcheck::Reference& ref = refs[pick];
  if (ait::opcheck::FindReference(ref.type) != &ref) ait::fuzz::Die("FindReference does not find its own entry");
  const auto& profiles = Profiles();
  const auto it = profiles.find(ref.type);
  static const std::vector<Profile> kGeneric = {{{'f', {2, 4}}}, {{'f', {2, 4}}, {'f', {2, 4}}}};
  const std::vector<Profile>& mine = it != profiles.end() ? it->second : kGeneric;
  for (const Profile& p : mine) RunReference(ref, spec.param, p, floats);
  RunReference(ref, spec.param, {}, floats);  // no inputs at all
  return 0;
}
