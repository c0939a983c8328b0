// Creators of the built-in operations, one per ATB type name; operation.cc holds the table.
#pragma once

#include <memory>

#include "ait_engine/operation.h"

namespace ait::engine::ops {

std::unique_ptr<Operation> CreateGather(const Json& param);
std::unique_ptr<Operation> CreateRmsNorm(const Json& param);
std::unique_ptr<Operation> CreateLayerNorm(const Json& param);
std::unique_ptr<Operation> CreateLinear(const Json& param);
std::unique_ptr<Operation> CreateMatMul(const std::string& type, const Json& param);
std::unique_ptr<Operation> CreateLinearQuant(const Json& param);
std::unique_ptr<Operation> CreateRope(const Json& param);
std::unique_ptr<Operation> CreateSelfAttention(const Json& param);
std::unique_ptr<Operation> CreateElewise(const Json& param);
std::unique_ptr<Operation> CreateActivation(const Json& param);
std::unique_ptr<Operation> CreateSoftmax(const Json& param);
std::unique_ptr<Operation> CreateSplit(const Json& param);
std::unique_ptr<Operation> CreateConcat(const Json& param);
std::unique_ptr<Operation> CreateTranspose(const Json& param);
std::unique_ptr<Operation> CreateSampling(const Json& param);

}  // namespace ait::engine::ops
