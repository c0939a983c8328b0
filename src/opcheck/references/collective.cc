// References of ATB's collective operations. Convention (reference.h): RefCall::inputs holds the
// inputs of ranks rankRoot, rankRoot+1, .., rankSize-1, one rank's full list after another, and a
// reference returns what rank `rank` outputs.
//
// Sources: ATB's public header (hicann/ascend-transformer-boost include/atb/infer_op_params.h:
// AllReduceParam, AllGatherParam, BroadcastParam, LinearParallelParam), its operations' shape
// inference (src/ops/ops_infer/{all_reduce,all_gather,broadcast,linear_parallel}) and the
// LinearParallel tests (tests/apitest/opstest/python/operations/linear_parallel); the code is ours.
//
// Every type reads rank, rankSize (> 0) and rankRoot with 0 <= rankRoot <= rank < rankSize.
// The reductions and gathers need every rank's data, so they require rankRoot 0 (opcheck loads
// the ranks from rankRoot on); backend, commMode and the communicator fields do not change the
// result and are not read.
//
// AllReduceOperation   params allReduceType "sum" | "prod" | "max" | "min"; quantType 0 and
//                      outDataType undefined (or the input's dtype) only.
//                      x (same shape on every rank) -> the element-wise reduction over ranks,
//                      in x's dtype, rounded once (max/min propagate NaN).
// AllGatherOperation   x (same shape on every rank) -> [rankSize, *x.shape], rank r's x at
//                      index r (ATB's InferShape stacks on a new leading dim).
// BroadcastOperation   in place on input 0: every rank's x becomes rankRoot's x (same shape).
// LinearParallelOperation  params transWeight (default true), hasResidual, type
//                      LINEAR_ALL_REDUCE(0) | LINEAR_REDUCE_SCATTER(1) | ALL_GATHER_LINEAR(2) |
//                      PURE_LINEAR(3), keepIntermediate (ALL_GATHER_LINEAR only); quantType
//                      -1 (unquantized) and outDataType undefined only.
//                      inputs x [..., k], weight [n, k] (transWeight) or [k, n], residual
//                      (hasResidual) of n elements. Per rank y_r = x_r · W_r (leading dims of x
//                      kept). LINEAR_ALL_REDUCE: sum_r y_r; LINEAR_REDUCE_SCATTER: rank's
//                      1/rankSize share of sum_r y_r along dim 0 (dim 1 when dim 0 is 1);
//                      ALL_GATHER_LINEAR: concat_r(x_r along dim 0) · W_rank, and with
//                      keepIntermediate a second output, the gathered x; PURE_LINEAR: y_rank.
//                      Then + rank's residual broadcast over rows; x's dtype, rounded once.
//                      The types 4..6 (2-D TP, MoE) are refused.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ait/error.h"
#include "opcheck/references/families.h"

namespace ait::opcheck {
namespace {

struct Ranks {
  int64_t rank = 0, root = 0, size = 0;
  int64_t count() const { return size - root; }
  // Index in RefCall::inputs of input i of rank r.
  size_t At(int64_t r, size_t per, size_t i) const { return static_cast<size_t>(r - root) * per + i; }
};

Ranks ReadRanks(const RefCall& call, const AtbParams& p, size_t per_rank, bool need_all) {
  Ranks r;
  r.rank = p.Int("rank", 0);
  r.size = p.Int("rankSize", 0);
  r.root = p.Int("rankRoot", 0);
  if (r.size <= 0) p.Bad("rankSize", "must be > 0, found " + std::to_string(r.size));
  if (r.root < 0 || r.root >= r.size)
    p.Bad("rankRoot", fmt::format("{} is outside [0, rankSize = {})", r.root, r.size));
  if (r.rank < r.root || r.rank >= r.size)
    p.Bad("rank", fmt::format("{} is outside [rankRoot = {}, rankSize = {})", r.rank, r.root, r.size));
  if (need_all && r.root != 0)
    p.Bad("rankRoot", fmt::format("is {}: the result needs every rank's data and opcheck loads ranks {}..{} only",
                                  r.root, r.root, r.size - 1));
  const auto want = static_cast<size_t>(r.count()) * per_rank;
  if (call.inputs.size() != want)
    Fail(call.type, "expected the {} inputs of each of ranks {}..{} ({} tensors), found {}", per_rank, r.root,
         r.size - 1, want, call.inputs.size());
  return r;
}

// Requires input i of every rank to have rank root's shape.
void RequireSameShapes(const RefCall& call, const Ranks& r, size_t per, size_t i, std::string_view name) {
  const auto& s = call.inputs[r.At(r.root, per, i)].shape;
  for (int64_t k = r.root + 1; k < r.size; ++k) {
    const auto& t = call.inputs[r.At(k, per, i)].shape;
    if (t != s) Fail(call.type, "{} of rank {} is {}, rank {}'s is {}", name, k, ShapeText(t), r.root, ShapeText(s));
  }
}

void RequireNoOutDataType(const AtbParams& p, DType in) {
  if (auto t = p.DataType("outDataType"); t && *t != in)
    p.Bad("outDataType", fmt::format("{} differs from the input's {}: only unquantized ({}) is checkable",
                                     ShortName(*t), ShortName(in), "ACL_DT_UNDEFINED"));
}

// ---- AllReduce ----

std::vector<RefTensor> AllReduce(RefCall& call) {
  const AtbParams p = call.params();
  enum { kSum, kProd, kMax, kMin };
  const int type = p.Enum("allReduceType", kSum, {{"sum", kSum}, {"prod", kProd}, {"max", kMax}, {"min", kMin}});
  p.Enum("quantType", 0, {{"QUANT_TYPE_UNQUANT", 0}});
  const Ranks r = ReadRanks(call, p, 1, true);
  RequireSameShapes(call, r, 1, 0, "x");
  RequireNoOutDataType(p, call.inputs[0].dtype);
  RefTensor out = std::move(call.inputs[0]);
  for (int64_t k = 1; k < r.count(); ++k) {
    const std::vector<double>& v = call.inputs[static_cast<size_t>(k)].data;
    for (size_t e = 0; e < out.data.size(); ++e) {
      double& a = out.data[e];
      const double b = v[e];
      switch (type) {
        case kSum: a += b; break;
        case kProd: a *= b; break;
        default:
          if (std::isnan(a) || std::isnan(b)) a = std::numeric_limits<double>::quiet_NaN();
          else a = type == kMax ? std::max(a, b) : std::min(a, b);
      }
    }
  }
  RoundAll(out.dtype, out.data);
  return {std::move(out)};
}

// ---- AllGather ----

std::vector<RefTensor> AllGather(RefCall& call) {
  const AtbParams p = call.params();
  const Ranks r = ReadRanks(call, p, 1, true);
  RequireSameShapes(call, r, 1, 0, "x");
  std::vector<int64_t> shape = call.inputs[0].shape;
  shape.insert(shape.begin(), r.size);
  RefTensor out = RefTensor::Zeros(call.inputs[0].dtype, shape, call.type);
  const size_t each = call.inputs[0].data.size();
  for (int64_t k = 0; k < r.size; ++k) {
    const RefTensor& x = call.inputs[static_cast<size_t>(k)];
    for (size_t e = 0; e < each; ++e) out.data[static_cast<size_t>(k) * each + e] = RoundTo(out.dtype, x.data[e]);
  }
  return {std::move(out)};
}

// ---- Broadcast ----

std::vector<RefTensor> Broadcast(RefCall& call) {
  const AtbParams p = call.params();
  const Ranks r = ReadRanks(call, p, 1, false);
  RequireSameShapes(call, r, 1, 0, "x");
  const DType own = call.inputs[r.At(r.rank, 1, 0)].dtype;
  RefTensor out = std::move(call.inputs[0]);  // rankRoot's
  out.dtype = own;
  RoundAll(out.dtype, out.data);
  return {std::move(out)};
}

// ---- LinearParallel ----

// y = x · op(W) for x [..., k]: the leading dims of x kept, the last becomes n.
RefTensor Linear(const std::string& op, const RefTensor& x, const RefTensor& w, bool trans_w, int64_t rank) {
  if (x.shape.size() < 2) Fail(op, "x of rank {} is {}: it must have at least 2 dims", rank, ShapeText(x.shape));
  if (w.shape.size() != 2)
    Fail(op, "weight of rank {} is {}: only a 2-D weight is checkable", rank, ShapeText(w.shape));
  const int64_t k = x.shape.back();
  const int64_t wk = trans_w ? w.shape[1] : w.shape[0], n = trans_w ? w.shape[0] : w.shape[1];
  if (wk != k)
    Fail(op, "rank {}: x {} and weight {} (transWeight {}) disagree on k", rank, ShapeText(x.shape),
         ShapeText(w.shape), trans_w);
  std::vector<int64_t> shape = x.shape;
  shape.back() = n;
  RefTensor y = RefTensor::Zeros(x.dtype, shape, op);
  const int64_t m = DimProduct(x.shape, 0, x.shape.size() - 1);
  Dgemm(false, trans_w, m, n, k, x.data.data(), k, w.data.data(), w.shape[1], y.data.data(), n);
  return y;
}

std::vector<RefTensor> LinearParallel(RefCall& call) {
  const AtbParams p = call.params();
  const std::string& op = call.type;
  enum { kAllReduce, kReduceScatter, kAllGather, kPure };
  const int type = p.Enum("type", kAllReduce,
                          {{"LINEAR_ALL_REDUCE", kAllReduce},
                           {"LINEAR_REDUCE_SCATTER", kReduceScatter},
                           {"ALL_GATHER_LINEAR", kAllGather},
                           {"PURE_LINEAR", kPure}});
  p.Enum("quantType", -1, {{"QUANT_TYPE_UNQUANT", -1}});
  const bool trans_w = p.Bool("transWeight", true);
  const bool residual = p.Bool("hasResidual", false);
  const bool keep = p.Bool("keepIntermediate", false);
  if (keep && type != kAllGather) p.Bad("keepIntermediate", "is true, which only ALL_GATHER_LINEAR supports");
  const size_t per = residual ? 3 : 2;
  const Ranks r = ReadRanks(call, p, per, type != kPure);
  const RefTensor& x_own = call.inputs[r.At(r.rank, per, 0)];
  const RefTensor& w_own = call.inputs[r.At(r.rank, per, 1)];
  RequireNoOutDataType(p, x_own.dtype);

  std::vector<RefTensor> outs;
  if (type == kAllGather) {
    RequireSameShapes(call, r, per, 0, "x");
    std::vector<int64_t> shape = x_own.shape;
    if (shape.empty()) Fail(op, "x of rank {} is a scalar", r.rank);
    shape[0] *= r.size;
    RefTensor gathered = RefTensor::Zeros(x_own.dtype, shape, op);
    const size_t each = x_own.data.size();
    for (int64_t k = 0; k < r.size; ++k)
      std::copy_n(call.inputs[r.At(k, per, 0)].data.begin(), each,
                  gathered.data.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(k) * each));
    outs.push_back(Linear(op, gathered, w_own, trans_w, r.rank));
    if (keep) outs.push_back(std::move(gathered));
  } else if (type == kPure) {
    outs.push_back(Linear(op, x_own, w_own, trans_w, r.rank));
  } else {
    RefTensor sum = Linear(op, call.inputs[r.At(0, per, 0)], call.inputs[r.At(0, per, 1)], trans_w, 0);
    for (int64_t k = 1; k < r.size; ++k) {
      const RefTensor y = Linear(op, call.inputs[r.At(k, per, 0)], call.inputs[r.At(k, per, 1)], trans_w, k);
      if (y.shape != sum.shape)
        Fail(op, "rank {}'s product is {}, rank 0's is {}", k, ShapeText(y.shape), ShapeText(sum.shape));
      for (size_t e = 0; e < sum.data.size(); ++e) sum.data[e] += y.data[e];
    }
    sum.dtype = x_own.dtype;
    if (type == kReduceScatter) {
      // ATB's InferShape: split dim 0, or dim 1 when dim 0 is 1.
      const size_t dim = sum.shape[0] == 1 && sum.shape.size() > 2 ? 1 : 0;
      if (sum.shape[dim] % r.size != 0)
        Fail(op, "the product {} does not split into rankSize {} parts along dim {}", ShapeText(sum.shape), r.size,
             dim);
      std::vector<int64_t> shape = sum.shape;
      shape[dim] /= r.size;
      const int64_t outer = DimProduct(sum.shape, 0, dim);
      const int64_t inner = DimProduct(shape, dim, shape.size());  // elements of one part per outer index
      RefTensor part = RefTensor::Zeros(sum.dtype, shape, op);
      for (int64_t o = 0; o < outer; ++o)
        std::copy_n(sum.data.begin() + static_cast<std::ptrdiff_t>((o * r.size + r.rank) * inner), inner,
                    part.data.begin() + static_cast<std::ptrdiff_t>(o * inner));
      outs.push_back(std::move(part));
    } else {
      outs.push_back(std::move(sum));
    }
  }
  RefTensor& y = outs[0];
  if (residual) {
    const RefTensor& res = call.inputs[r.At(r.rank, per, 2)];
    const int64_t n = y.shape.back();
    if (res.numel() != n)
      Fail(op, "residual of rank {} is {}: it must hold the output's last dim n = {} values", r.rank,
           ShapeText(res.shape), n);
    for (size_t e = 0; e < y.data.size(); ++e) y.data[e] += res.data[e % static_cast<size_t>(n)];
  }
  for (RefTensor& t : outs) RoundAll(t.dtype, t.data);
  return outs;
}

}  // namespace

std::vector<Reference> CollectiveReferences() {
  Reference all_gather{"AllGatherOperation", AllGather};
  all_gather.collective = true;
  Reference all_reduce{"AllReduceOperation", AllReduce};
  all_reduce.collective = true;
  Reference broadcast{"BroadcastOperation", Broadcast, {0}};
  broadcast.collective = true;
  Reference linear_parallel{"LinearParallelOperation", LinearParallel};
  linear_parallel.collective = true;
  return {all_gather, all_reduce, broadcast, linear_parallel};
}

}  // namespace ait::opcheck
