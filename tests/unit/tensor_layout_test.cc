// ApplyLayout / RopeInterleavedLayout (include/ait/tensor_layout.h): the reordering of GGUF's
// interleaved rotary pairs into Hugging Face's rotate_half order, checked against hand-computed
// values, its errors, and the property the ggml-torch pairing relies on: the projection of a
// GGUF Llama (q/k weight rows permuted by convert_hf_to_gguf.py) reordered by the layout is the
// Hugging Face projection, element for element.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "ait/error.h"
#include "ait/tensor.h"
#include "ait/tensor_layout.h"
#include "test_util.h"

namespace ait {
namespace {

using testing::RandomFloat32;
using testing::MakeTensor;
using testing::Values;

// The message of the ait::Error that ApplyLayout(t, spec) throws ("" when it does not throw).
std::string LayoutError(const Tensor& t, const std::string& spec) {
  try {
    ApplyLayout(t, spec);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TensorLayout, SpecNamesTheHeadSize) {
  EXPECT_EQ(RopeInterleavedLayout(4), "rope-interleaved:4");
  EXPECT_EQ(RopeInterleavedLayout(128), "rope-interleaved:128");
  EXPECT_EQ(kRopeInterleavedLayout, "rope-interleaved");
}

// Two rows of two heads of 4: each head (x0, x1, x2, x3) holds the rotary pairs (x0, x1) and
// (x2, x3) side by side; rotate_half order puts the pair members 2 apart: (x0, x2, x1, x3).
TEST(TensorLayout, HandComputedReorderFp32) {
  const Tensor in = MakeTensor<float>(DType::kFloat32, {2, 8},
                                {0, 1, 2, 3, 4, 5, 6, 7,  //
                                 10, 11, 12, 13, 14, 15, 16, 17});
  const Tensor out = ApplyLayout(in, RopeInterleavedLayout(4));
  EXPECT_EQ(out.dtype, DType::kFloat32);
  EXPECT_EQ(out.shape, (std::vector<int64_t>{2, 8}));
  EXPECT_TRUE(out.has_data);
  EXPECT_NE(out.data, in.data);  // a new tensor; the input is left as it was
  EXPECT_EQ(Values<float>(out), (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7,  //
                                                    10, 12, 11, 13, 14, 16, 15, 17}));
  EXPECT_EQ(Values<float>(in), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17}));
}

TEST(TensorLayout, HandComputedReorderFp16MovesTheHalvesBitForBit) {
  // fp16 bit patterns, distinct in both bytes so that a byte-wise slip would show
  const std::vector<uint16_t> bits = {0x3c00, 0x4000, 0x4200, 0x4400, 0xbc01, 0xc002, 0x7bff, 0x0001,
                                      0x3555, 0x3666, 0x3777, 0x3888, 0x8000, 0x7c00, 0xfc00, 0x7e00};
  const Tensor in = MakeTensor<uint16_t>(DType::kFloat16, {2, 8}, bits);
  const Tensor out = ApplyLayout(in, "rope-interleaved:4");
  EXPECT_EQ(out.dtype, DType::kFloat16);
  EXPECT_EQ(out.shape, (std::vector<int64_t>{2, 8}));
  EXPECT_EQ(Values<uint16_t>(out), (std::vector<uint16_t>{0x3c00, 0x4200, 0x4000, 0x4400,  //
                                                          0xbc01, 0x7bff, 0xc002, 0x0001,  //
                                                          0x3555, 0x3777, 0x3666, 0x3888,  //
                                                          0x8000, 0xfc00, 0x7c00, 0x7e00}));
}

TEST(TensorLayout, HeadsOnTheirOwnAxisAndWiderHeads) {
  // [tokens 1, heads 2, head_dim 8]: pairs (0,1) (2,3) (4,5) (6,7) -> 0 2 4 6 | 1 3 5 7
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  const Tensor out = ApplyLayout(MakeTensor<float>(DType::kFloat32, {1, 2, 8}, v), "rope-interleaved:8");
  EXPECT_EQ(out.shape, (std::vector<int64_t>{1, 2, 8}));
  EXPECT_EQ(Values<float>(out), (std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7, 8, 10, 12, 14, 9, 11, 13, 15}));
  // head size 2: one pair per head, already in both orders
  EXPECT_EQ(Values<float>(ApplyLayout(MakeTensor<float>(DType::kFloat32, {4}, {1, 2, 3, 4}), "rope-interleaved:2")),
            (std::vector<float>{1, 2, 3, 4}));
}

TEST(TensorLayout, EmptySpecReturnsTheTensorUnchanged) {
  const Tensor in = MakeTensor<float>(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Tensor out = ApplyLayout(in, "");
  EXPECT_EQ(out.data, in.data);  // the tensor itself, no copy
  EXPECT_EQ(out.owner, in.owner);
  EXPECT_EQ(out.shape, in.shape);
  EXPECT_EQ(out.dtype, in.dtype);
  // [2, 3] holds no whole heads: an empty spec does not look at the shape at all
  EXPECT_EQ(LayoutError(in, ""), "");
}

TEST(TensorLayout, DescriptionOnlyTensorIsCheckedButHasNoData) {
  Tensor t;
  t.dtype = DType::kFloat16;
  t.shape = {3, 8};
  t.has_data = false;
  const Tensor out = ApplyLayout(t, "rope-interleaved:4");
  EXPECT_FALSE(out.has_data);
  EXPECT_EQ(out.shape, (std::vector<int64_t>{3, 8}));
  t.shape = {3, 6};
  EXPECT_NE(LayoutError(t, "rope-interleaved:4"), "");
}

TEST(TensorLayout, UnknownSpecIsAnError) {
  const Tensor t = MakeTensor<float>(DType::kFloat32, {8}, std::vector<float>(8, 1.0f));
  for (const std::string spec : {"rope:4", "rope-interleaved", "Rope-Interleaved:4", "rope-interleaved-4", ":4",
                                 "transpose"}) {
    EXPECT_EQ(LayoutError(t, spec),
              "unknown tensor layout '" + spec + "' (known: rope-interleaved:HEAD_DIM)")
        << spec;
  }
}

TEST(TensorLayout, GarbageDigitsAreABadHeadSize) {
  const Tensor t = MakeTensor<float>(DType::kFloat32, {8}, std::vector<float>(8, 1.0f));
  for (const std::string spec : {"rope-interleaved:4x", "rope-interleaved:x4", "rope-interleaved:-4",
                                 "rope-interleaved:+4", "rope-interleaved: 4", "rope-interleaved:4.0",
                                 "rope-interleaved:4:4", "rope-interleaved:99999999999999999999999"}) {
    EXPECT_EQ(LayoutError(t, spec), "tensor layout '" + spec + "': bad head size") << spec;
  }
}

TEST(TensorLayout, HeadSizeThatDoesNotFitIsAnError) {
  const Tensor t = MakeTensor<float>(DType::kFloat32, {2, 6}, std::vector<float>(12, 1.0f));
  auto misfit = [](const std::string& spec, const std::string& shape) {
    return "tensor layout '" + spec + "' does not fit shape " + shape +
           ": the last axis must hold whole heads of an even size";
  };
  // odd head sizes, even where they divide the last axis
  for (const std::string spec : {"rope-interleaved:3", "rope-interleaved:1"})
    EXPECT_EQ(LayoutError(t, spec), misfit(spec, "[2, 6]"));
  // a last axis that is no multiple of the head size (12 elements would be 3 heads of 4, but
  // rows are 6), or shorter than one head
  for (const std::string spec : {"rope-interleaved:4", "rope-interleaved:12"})
    EXPECT_EQ(LayoutError(t, spec), misfit(spec, "[2, 6]"));
  // no digits, zero
  for (const std::string spec : {"rope-interleaved:", "rope-interleaved:0"})
    EXPECT_EQ(LayoutError(t, spec), misfit(spec, "[2, 6]"));
  // a 0-d scalar has a last axis of 1
  EXPECT_EQ(LayoutError(MakeTensor<float>(DType::kFloat32, {}, {1.0f}), "rope-interleaved:2"),
            misfit("rope-interleaved:2", "[]"));
  // the fitting sizes work
  EXPECT_EQ(LayoutError(t, "rope-interleaved:2"), "");
  EXPECT_EQ(LayoutError(t, "rope-interleaved:6"), "");
}

// convert_hf_to_gguf.py's LlamaModel.permute for the q / k weights [n_head * hd, cols]:
// w.reshape(n_head, 2, hd / 2, cols).swapaxes(1, 2).reshape(w.shape): GGUF row h*hd + 2*i + k
// is Hugging Face row h*hd + k*hd/2 + i.
std::vector<float> GgufPermute(const std::vector<float>& w, int64_t n_head, int64_t hd, int64_t cols) {
  std::vector<float> out(w.size());
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < hd / 2; ++i)
      for (int64_t k = 0; k < 2; ++k)
        for (int64_t c = 0; c < cols; ++c)
          out[static_cast<size_t>(((h * hd) + 2 * i + k) * cols + c)] =
              w[static_cast<size_t>(((h * hd) + k * (hd / 2) + i) * cols + c)];
  return out;
}

// y[t, r] = sum_c x[t, c] * w[r, c]: a projection (nn.Linear without bias), in one fixed order.
Tensor Project(const std::vector<float>& x, const std::vector<float>& w, int64_t tokens, int64_t rows, int64_t cols) {
  Tensor y = Tensor::Allocate(DType::kFloat32, {tokens, rows});
  auto* out = reinterpret_cast<float*>(y.mutable_data());
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      float sum = 0;
      for (int64_t c = 0; c < cols; ++c)
        sum += x[static_cast<size_t>(t * cols + c)] * w[static_cast<size_t>(r * cols + c)];
      out[t * rows + r] = sum;
    }
  return y;
}

void ExpectLayoutUndoesThePermutation(int64_t n_head, int64_t hd, int64_t cols, int64_t tokens, unsigned seed) {
  SCOPED_TRACE(::testing::Message() << n_head << " heads of " << hd << ", " << cols << " inputs, " << tokens
                                    << " tokens");
  const int64_t rows = n_head * hd;
  const std::vector<float> w = Values<float>(RandomFloat32({rows, cols}, seed));
  const std::vector<float> x = Values<float>(RandomFloat32({tokens, cols}, seed + 1));
  const std::vector<float> w_gguf = GgufPermute(w, n_head, hd, cols);
  const Tensor hf = Project(x, w, tokens, rows, cols);
  const Tensor gguf = Project(x, w_gguf, tokens, rows, cols);
  if (hd > 2) {  // the permutation moved rows, and so the outputs (with hd 2 it is the identity)
    ASSERT_NE(w_gguf, w);
    ASSERT_NE(Values<float>(gguf), Values<float>(hf));
  } else {
    ASSERT_EQ(w_gguf, w);
  }
  const Tensor back = ApplyLayout(gguf, RopeInterleavedLayout(hd));
  EXPECT_EQ(back.shape, hf.shape);
  // every element is the same dot product, summed in the same order: equal bit for bit
  EXPECT_EQ(Values<float>(back), Values<float>(hf));
  // the same with the heads on their own axis, as ggml reshapes Qcur into [tokens, heads, hd]
  Tensor heads = gguf;
  heads.shape = {tokens, n_head, hd};
  EXPECT_EQ(Values<float>(ApplyLayout(heads, RopeInterleavedLayout(hd))), Values<float>(hf));
}

TEST(TensorLayout, UndoesTheGgufQkPermutationOfTheProjectionOutput) {
  ExpectLayoutUndoesThePermutation(/*n_head=*/2, /*hd=*/4, /*cols=*/3, /*tokens=*/2, 1);
  ExpectLayoutUndoesThePermutation(4, 16, 64, 5, 2);  // the tiny preset's q_proj
  ExpectLayoutUndoesThePermutation(2, 16, 64, 1, 3);  // its k_proj (2 KV heads), one decode token
  ExpectLayoutUndoesThePermutation(1, 2, 5, 3, 4);    // head size 2: the permutation is the identity
}

TEST(TensorLayout, HandComputedPermutationOfOneHead) {
  // one head of 4, weight rows r0..r3 of 1 input: HF pairs (r0, r2), (r1, r3); GGUF stores
  // r0 r2 r1 r3, so its projection of x = 1 is (r0, r2, r1, r3) and the layout restores r0..r3
  const std::vector<float> w = {10, 20, 30, 40};
  EXPECT_EQ(GgufPermute(w, 1, 4, 1), (std::vector<float>{10, 30, 20, 40}));
  const Tensor gguf = Project({1.0f}, GgufPermute(w, 1, 4, 1), 1, 4, 1);
  EXPECT_EQ(Values<float>(ApplyLayout(gguf, "rope-interleaved:4")), w);
}

}  // namespace
}  // namespace ait
