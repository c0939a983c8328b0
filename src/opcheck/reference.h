// opcheck's float64 reference operations: what an ATB operation must output, computed from the
// inputs it really received, in double precision, written from the operation's contract and
// independent of the reference engine's kernels (no call into engine/), so an engine bug
// cannot hide in its own reference.
//
// A reference family is one file under src/opcheck/references/ holding the references of a
// group of operation types, plus one line in references/registry.cc. Scoring, reports and
// compare's --opcheck never special-case an operation type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ait/atb_params.h"
#include "ait/dtype.h"
#include "ait/tensor.h"

namespace ait::opcheck {

// A dense row-major tensor of doubles: a reference's inputs and outputs. `dtype` is the storage
// dtype of the dumped tensor it was read from (inputs) or the one the reference produces
// (outputs: the dtype the operation's contract gives its output; integers are exact doubles).
struct RefTensor {
  DType dtype = DType::kFloat64;
  std::vector<int64_t> shape;
  std::vector<double> data;

  int64_t numel() const;
  // A zero-filled tensor; throws ait::Error naming `where` when the shape overflows.
  static RefTensor Zeros(DType dtype, std::vector<int64_t> shape, std::string_view where = "reference");
  // The dumped tensor as doubles (every numeric dtype, exactly); a description-only tensor
  // (no payload) throws ait::Error.
  static RefTensor From(const Tensor& t, std::string_view where);
};

inline constexpr int64_t kMaxParamSizedOutput = int64_t{1} << 28;

// What a reference receives.
struct RefCall {
  std::string type;                // ATB type name, e.g. "LinearOperation"
  const nlohmann::json& param;     // the op_param.json object (may be empty)
  std::vector<RefTensor>& inputs;  // intensor0.. in order (a reference may move from them)
  // dtypes of the dumped outputs, in order (a reference that rounds intermediates where the
  // operation's contract stores them, e.g. attention's probabilities in q's dtype, reads its
  // contract's dtype from the inputs; this is for checks and for outputs whose dtype only the
  // dump says, e.g. Cast).
  std::vector<DType> out_dtypes;
  // The most elements an output whose size comes from params alone (Fill, Repeat, ...) may have:
  // the largest dumped output's count when there is one (a larger one cannot match it), else
  // kMaxParamSizedOutput. A hostile param cannot make a reference allocate without limit.
  int64_t max_output_elements = kMaxParamSizedOutput;

  AtbParams params() const { return AtbParams(type, param); }
};

// A reference computes every output of the operation from its inputs. It throws ait::Error
// ("<Type>: param X: ..." or "<Type>: input 1 ...") for params it does not know or shapes that
// do not fit; opcheck reports that as the case's fail reason.
using ReferenceFn = std::vector<RefTensor> (*)(RefCall& call);

struct Reference {
  std::string_view type;  // ATB type name, as in the dump folder ("LinearOperation")
  ReferenceFn fn;
  // Outputs that are inputs updated in place (KvCache: 2; ReshapeAndCache: 2, 3), FORMATS §8.2:
  // the reference returns the updated inputs as those outputs.
  std::vector<int> inplace_inputs = {};
  // Collective operations need every rank's inputs (FORMATS §8.1 item 8). For them
  // RefCall::inputs holds the inputs of ranks rankRoot, rankRoot+1, .., rankSize-1 one rank
  // after another (each rank's full list, same count), and the reference returns the outputs
  // of the rank named by param "rank".
  bool collective = false;
};

// Every reference, sorted by type; FindReference(type) or nullptr. Aliases (MatMulOperation
// for MatmulOperation) are entries of their own.
const std::vector<Reference>& AllReferences();
const Reference* FindReference(std::string_view type);

// ---- helpers for reference families ----

// x rounded to what `t` stores (RNE for fp16/bf16/fp32; round-half-even and saturation for
// integers; bool: x != 0). Float64 is the identity.
double RoundTo(DType t, double x);
void RoundAll(DType t, std::vector<double>& v);
// "[2, 3]".
std::string ShapeText(const std::vector<int64_t>& shape);
// A dim in [-rank, rank) made non-negative, or "<op>: param <field>: ... out of range".
int64_t NormalizeDim(const std::string& op, std::string_view field, int64_t dim, size_t rank);
// Throws "<op>: <what>" unless `ok`.
void Require(bool ok, const std::string& op, const std::string& what);
// Requires exactly n inputs.
void RequireInputs(const RefCall& call, size_t n);
// C[m,n] = op(A)[m,k] · op(B)[k,n] in float64 through BLAS dgemm (row-major, lda/ldb the row
// strides as stored).
void Dgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda, const double* b,
           int64_t ldb, double* c, int64_t ldc);

// Requires input i to hold floating point values (fp16, bf16, fp32 or fp64): "<op>: <name>
// (input i) must be a float tensor, found int8".
void RequireFloat(const RefCall& call, size_t i, std::string_view name);
// Input i's values as integers (tokenOffset, seqLen, gather indices); requires an integer dtype
// and integral values.
std::vector<int64_t> IntValues(const RefCall& call, size_t i, std::string_view name);
// Product of shape[begin, end) (1 when empty); throws ait::Error on int64 overflow.
int64_t DimProduct(const std::vector<int64_t>& shape, size_t begin, size_t end);
// x as float32 arithmetic gives it when `input` (the dtype the operands were stored in) is a
// storage dtype of the float32 kernels: for a quotient that is rounded to an integer next
// (quantization), where a tie decided in double would flip an integer a correct float32 kernel
// produces. The identity for float64 inputs.
double Float32Math(DType input, double x);

}  // namespace ait::opcheck
