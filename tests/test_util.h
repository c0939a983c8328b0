// Shared helpers for unit tests: temporary folders and small file writers.
#pragma once

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <functional>

#include "ait/error.h"
#include "ait/tensor.h"
#include "ait/tensor_io.h"

namespace ait::testing {

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("ait_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

// A float32 tensor with values from N(0, 1) (seeded).
inline Tensor RandomFloat32(std::vector<int64_t> shape, unsigned seed) {
  Tensor t = Tensor::Allocate(DType::kFloat32, std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist;
  auto* p = reinterpret_cast<float*>(t.mutable_data());
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

// A tensor of `dtype` and `shape` holding `values` (T must match the dtype's size, and the
// values must fill the shape: else std::logic_error, which fails the test).
template <typename T>
Tensor MakeTensor(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t = Tensor::Allocate(dtype, std::move(shape));
  if (values.size() * sizeof(T) != t.nbytes) throw std::logic_error("MakeTensor: the values do not fill the shape");
  if (t.nbytes) std::memcpy(t.mutable_data(), values.data(), t.nbytes);
  return t;
}

// The elements of `t` as T (T must match the dtype's size).
template <typename T>
std::vector<T> Values(const Tensor& t) {
  std::vector<T> v(t.nbytes / sizeof(T));
  std::memcpy(v.data(), t.data, t.nbytes);
  return v;
}

// Asserts that reading `path` fails with a message naming the file and containing `needle`.
inline void ExpectReadError(const std::string& path, const std::string& needle) {
  try {
    ReadTensors(path);
    ADD_FAILURE() << path << ": expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

// Runs `body` once per Highway target that is both compiled and supported by this CPU.
inline void ForEachTarget(const std::function<void()>& body) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    body();
  }
  hwy::SetSupportedTargetsForTest(0);
}

}  // namespace ait::testing
