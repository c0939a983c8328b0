// First-divergence analysis: where is the error born? Every operation's inputs and outputs are
// scored; an operation whose inputs agree with the golden run but whose output does not
// *introduces* the error, one whose inputs already disagree only *propagates* it. The earliest
// introducing operations, deepest first, are the root-cause candidates. docs/ROOT_CAUSE.md
// states the rule and how it was calibrated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ait/compare_pair.h"
#include "ait/op_pairs.h"

namespace ait {

struct DivergenceOptions {
  // A tensor pair is "off" when its cosine similarity falls below this (-ct), or when its
  // relative L2 error exceeds the distance that cosine stands for, sqrt(2 (1 - threshold))
  // (0.1414 for 0.99), which catches a wrong scale that cosine cannot see.
  double cosine_threshold = 0.99;
  // An operation whose inputs are already off still introduces error when its output's
  // distance exceeds this many times the worst input distance (normal amplification is less).
  double amplification = 4.0;
  // Root causes listed at most (the rest are counted).
  size_t max_root_causes = 10;
  // Error contributors listed at most.
  size_t max_contributors = 10;
  // The type floor (where the floor is not zero): an operation's local error is an outlier when
  // it exceeds max(median + outlier_mads x 1.4826 x MAD, outlier_median_ratio x median) of the
  // local errors (one sample per operation and token) of the other operations of its type, and
  // (for a leaf) of all other leaf operations. A reference needs min_floor_samples samples.
  double outlier_mads = 10.0;
  // ... and at least this many times that median: some types (a quantized Linear) vary by
  // weight matrix far more than their MAD says.
  double outlier_median_ratio = 8.0;
  size_t min_floor_samples = 3;
  // Only operations whose inputs carry at most this many times the input distance of the one
  // judged (or of the least non-zero one) set its floor (at least the min_floor_samples with
  // the smallest): downstream of a fault, inputs carry its error and local errors are noise.
  double reference_input_ratio = 2.0;
  // Whatever the other operations show, rounding an output is normal: the floor is at least this
  // many unit roundoffs of the coarser dtype of the output (an embedding lookup in bf16 adds
  // bf16 rounding to exact ids, however exact the operations around it are).
  double rounding_units = 2.0;
  // An outlier must also be a jump: output distance above this many times the inputs'.
  double outlier_jump = 2.0;
  // With a peer (the golden model run at my dtype): an operation's local error is an outlier
  // when it exceeds this many times the same operation's local error in the peer (at least the
  // median of the peer's leaf operations).
  double peer_ratio = 4.0;
};

// What a third dump says is normal: for each operation of the pairing analysed, the local error
// of the same golden operation and token in a compare of the golden against the peer (the
// golden model run at my dtype), or nothing where the peer has no such operation.
struct PeerFloor {
  std::vector<std::optional<double>> local_error;  // parallel to OpPairing::ops
  double leaf_median = 0;                          // median local error of the peer's leaf operations
  // The same for the inputs of inner operations inside a graph (DivergenceReport::spans): the
  // peer's span error of the input with that golden name, token and index, by op and input.
  std::vector<std::vector<std::optional<double>>> span_error;  // [op][input], where it has one
};


// The distance threshold that goes with a cosine threshold: sqrt(2 (1 - cosine_threshold)).
double DistanceThreshold(double cosine_threshold);

// |my - golden| / |golden|: the square root of relative_euclidean_distance (DBL_MAX for inf).
double RelativeL2(const PairMetrics& m);

// A scored pair's distance: max(sqrt(2 (1 - cosine)), RelativeL2), off past DistanceThreshold.
double PairDistance(const PairMetrics& m);

// One tensor pair as the analysis reads its CompareRow.
struct TensorScore {
  enum class State { kScored, kNonFinite, kUnscored };
  State state = State::kUnscored;
  // kScored: the metrics, and distance = max(sqrt(2 (1 - cosine)), relative_l2), where
  // relative_l2 = |my - golden| / |golden| (the square root of relative_euclidean_distance).
  double cosine = 0, max_relative_error = 0, relative_l2 = 0, distance = 0;
  // kNonFinite: my side holds NaN/inf the golden side does not (counts of my side).
  int64_t my_nan = 0, my_inf = 0;
  // kUnscored: why no verdict is possible (the row's fail reason, or that both sides hold
  // dtype-limit values such as attention masks, which swamp every metric).
  std::string reason;
};

// Reads one row. Never throws.
TensorScore ScoreTensor(const CompareRow& row);

enum class Verdict { kClean, kPropagating, kIntroducing, kUnscored };
std::string_view VerdictName(Verdict verdict);  // "clean", "propagating", "introducing", "unscored"

// The worst tensor among an operation's inputs (or outputs).
struct SideScore {
  size_t scored = 0, nonfinite = 0, unscored = 0;
  // Over the scored tensors: lowest cosine, highest max relative error, relative L2 and distance.
  std::optional<double> cosine, max_relative_error, relative_l2, distance;
  int64_t nan = 0, inf = 0;  // NaN/inf my side has beyond golden's, summed
  std::string worst;         // my path of the worst tensor (non-finite first, then largest distance)
  std::string unscored_reason;  // the first unscored tensor's reason
  double unit_roundoff = 0;     // the largest of either side's dtype over the scored tensors (fp16 2^-11)
  bool off(double distance_threshold) const { return nonfinite > 0 || (distance && *distance > distance_threshold); }
};

// compare --opcheck: an operation of my dump checked on its own dumped inputs against opcheck's
// float64 reference (docs/OPCHECK.md), independent of the golden.
struct LocalCheck {
  bool failed = false;   // an output misses the precision standard of its dtype: a wrong kernel
  std::string evidence;  // "output 0 (float16): 97.2% of 192 elements within 0.001 (needs 99.9%), ..."
};
using LocalChecks = std::vector<std::optional<LocalCheck>>;  // parallel to OpPairing::ops

struct OpDivergence {
  Verdict verdict = Verdict::kUnscored;
  // For kIntroducing, how it was decided:
  //   "nonfinite"  the output holds NaN/inf while every input is finite
  //   "diverged"   inputs within threshold, output off
  //   "amplified"  inputs off, output distance > amplification x the inputs'
  //   "first-off"  no input was dumped or scored: the first off output in execution order
  //   "exact"      the floor is zero here: inputs identical to the golden's, output not
  //   "outlier"    inputs within threshold, local error an outlier against the floor of its
  //                type (or the peer's same operation), and the output distance a jump
  //   "opcheck"    (compare --opcheck) it fails its own check on its dumped inputs, whatever
  //                the drift it inherits says
  std::string cause;
  std::string why;  // one sentence for reports
  SideScore inputs, outputs;
  bool root_cause = false;  // this occurrence is (an occurrence of) a listed root cause
  // What this operation adds: its output distance beyond its inputs' (max(0, out - in)), for
  // an operation with scored, finite inputs and outputs; empty otherwise.
  std::optional<double> local_error;
  // The largest local error the floor calls normal here (empty where no floor applies), and
  // where it comes from: "type MatMul (14 operations)", "all leaf operations (40)", "peer",
  // "its 12 inner operations".
  std::optional<double> expected_local_error;
  std::string expected_from;
  // compare --opcheck: its own check, where my dump held its inputs and params. An introducing
  // operation that passes it is precision-limited (it amplifies what it inherits, or rounds),
  // not a wrong kernel.
  std::optional<LocalCheck> local_check;
};

// One tensor pair of an operation, as ErrorGap names it.
struct GapTensor {
  size_t op = 0;        // index into OpPairing::ops
  bool output = false;  // one of its outputs, else one of its inputs
  size_t index = 0;     // into those
  double distance = 0;  // infinity for NaN/inf my side holds beyond golden's
};

// Where the error appears inside a root cause that holds paired operations: the golden has no
// counterpart of the part that went wrong (ATB's SelfAttention against torch modules, which do
// attention in a module's code), so the analysis can name only the layer around it. Along the
// root cause's inner leaf operations in execution order (its inputs first, its outputs last),
// the last tensor pair within `threshold` before the first one past it, and my operations
// without a counterpart that ran between the two.
struct ErrorGap {
  GapTensor last_clean, first_off;
  // max(outlier_jump x the root cause's input distance, sqrt(input x output distance)): clearly
  // above what came in, on the way to what went out.
  double threshold = 0;
  std::vector<size_t> between;  // indices into OpPairing::my_unpaired
};

// An input of an operation inside a graph (a layer), with the largest distance of every paired
// tensor before it in that graph (its inputs first): past that, what my operations without a
// golden counterpart between them added (ATB's Rope and SelfAttention before o_proj's input).
// Its span error is max(0, distance - before).
struct SpanInput {
  size_t graph = 0, op = 0, input = 0;  // ops[op].inputs[input], inside ops[graph]
  double before = 0, distance = 0;
};

struct RootCause {
  size_t op = 0;                     // index into OpPairing::ops of its first occurrence
  std::vector<size_t> occurrences;   // every token's occurrence, first token first
  std::vector<std::string> tokens;   // their token ids
  std::optional<ErrorGap> gap;       // for a root cause with inner operations (first occurrence)
  // compare --opcheck: the operation whose own check covers it (OpDivergence::local_check): its
  // own index, or the innermost operation around it that was checked (a kernel's operation).
  std::optional<size_t> checked_by;
};

// An integer input (token ids, positions) of the first token's first operation that went off,
// differing from the golden's: the two runs were not fed the same inputs, and what follows
// carries that difference rather than a precision problem of the model.
struct InputMismatch {
  size_t op = 0;              // index into OpPairing::ops
  std::string token_id;
  std::string label;          // the tensor pair's label ("GatherOperation_0:intensor1 ~ ...")
  std::string my_path, golden_path;
};

// "the runs were fed different inputs: ..." for reports.
std::string DescribeInputMismatch(const InputMismatch& m);

struct DivergenceReport {
  std::vector<OpDivergence> ops;       // parallel to OpPairing::ops
  std::optional<InputMismatch> input_mismatch;
  std::vector<RootCause> root_causes;  // most likely first: earliest in execution order
  size_t root_causes_left_out = 0;     // candidates beyond max_root_causes
  // The leaf operations that add the most error (largest local_error first), root causes left
  // out: where the expected error of a dtype change or a quantization comes from.
  std::vector<size_t> contributors;
  double cosine_threshold = 0.99, distance_threshold = 0, amplification = 0;
  // The noise floor used: "zero" (identical inputs give identical outputs in this compare),
  // "zero for N operation type(s)", each possibly followed by ", elsewhere per type" or
  // ", elsewhere peer"; "per type" (each operation against the
  // local error of its type in other layers and tokens), "peer" (against the peer's same
  // operation), or "threshold" (too few operations for a floor: only the fixed threshold).
  std::string floor = "threshold";
  size_t clean = 0, propagating = 0, introducing = 0, unscored = 0;
  // The same counts per token, in token order; they add up to the ones above.
  struct TokenCounts {
    std::string token_id;
    size_t clean = 0, propagating = 0, introducing = 0, unscored = 0;
  };
  std::vector<TokenCounts> by_token;
  // What the introducing operations are; these add up to `introducing`: occurrences of the
  // listed root causes, operations holding an introducing one (its layer), and occurrences of
  // root causes beyond max_root_causes.
  size_t introducing_listed = 0, introducing_holding = 0, introducing_left_out = 0;
  // Every scored input of an inner leaf operation, each judged in its innermost graph.
  std::vector<SpanInput> spans;
};

// The analysis. `rows` must hold a row for each tensor pair of `ops` (matched by golden and my
// path; a pair without a row counts as unscored). REQUIRES: ops of one token in completion
// order — kernels and child operations before their parent — tokens in order, as
// GroupByOperation and the topology strategies give them.
//
// The noise floor: an operation type (my type, golden type) for which some occurrence turns
// inputs identical to the golden's into an output identical to the golden's has a floor of zero;
// when two or more types do, the whole compare has (two runs of one deterministic computation).
// Elsewhere the type floor: each operation's local error (output distance beyond the inputs')
// against the same operation in the peer, or against the other operations of its type and all
// leaf operations (median + outlier_mads robust deviations); an operation with inner operations
// against the quadrature sum of theirs.
//
// Per operation (T = distance threshold, A = amplification; distances are the worst tensor's):
//   unscored     no output could be scored
//   introducing  (floor zero) every scored input identical, a finite output that is not ("exact")
//   propagating  (floor zero) an output that differs within T behind inputs that differ
//   introducing  (type floor) inputs within T, a local error above the floor's expectation and an
//                output distance above outlier_jump x the inputs' ("outlier")
//   clean        every output within T and finite
//   introducing  an output holds NaN/inf while all inputs are finite ("nonfinite"); or the output
//                distance exceeds A x the inputs' ("diverged" when the inputs are within T,
//                "amplified" when they are off but finite); or, with no input evidence, the
//                first off output (finite or not) in execution order ("first-off")
//   propagating  any other off output: the inputs carried NaN/inf or the error, the output
//                drifted across T without a jump, or integer outputs (ids) changed on inputs
//                that differ slightly (a near tie)
// Root causes: introducing operations with no introducing operation inside them (same token),
// the same operation in later tokens folded into its first, in execution order.
// With `peer`, an operation with a peer value is judged against it instead of its type.
// With `local` (compare --opcheck), an operation that fails its own check introduces the error
// ("opcheck") whatever its verdict would be; its check is kept on every checked operation.
DivergenceReport AnalyzeDivergence(const OpPairing& ops, const std::vector<CompareRow>& rows,
                                   const DivergenceOptions& options, const PeerFloor* peer = nullptr,
                                   const LocalChecks* local = nullptr);

// For each operation of `mine`, the local error of the operation of `peer` (a pairing of the
// same golden against the peer) with the same golden name and token; `peer_report` analyses `peer`.
PeerFloor PeerFloorFor(const OpPairing& mine, const OpPairing& peer, const DivergenceReport& peer_report);

// Whether some output was scored and none is off (and nothing introduces): a clean result.
bool AllWithinThreshold(const DivergenceReport& report);

// Why `report` lists no root cause, one sentence: "no root cause: all operations within
// threshold" when every scored output is within threshold, else what stood in the way.
std::string NoRootCauseReason(const DivergenceReport& report);

// The tensor pair a GapTensor names.
const TensorPair& GapTensorPair(const OpPairing& ops, const GapTensor& t);

// ErrorGap as one sentence: "the error appears between A:outtensor0 ~ a:output (distance
// 0.001) and B:intensor0 ~ b:input (distance 0.5); my operations between them without a golden
// counterpart: X, Y".
std::string DescribeGap(const OpPairing& ops, const ErrorGap& gap);

// The end-of-run text: one line per root cause (what, where, evidence), or NoRootCauseReason.
std::string FormatRootCauses(const OpPairing& ops, const DivergenceReport& report);

}  // namespace ait
