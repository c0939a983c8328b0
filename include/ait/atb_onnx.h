// ATB topology JSON (the layer and model files the probe writes, FORMATS.md 5.1/5.2) to an
// ONNX picture of the graph, for Netron and other ONNX viewers (FORMATS.md 5.4).
//
// The model passes onnx.checker.check_model: IR version 7, the ATB operation types in the
// custom domain "ait.atb" (opset 1, imported beside ai.onnx 13), graph inputs and outputs
// typed tensor(undefined) with an empty shape because the JSON records neither dtype nor
// shape, tensors that nodes read before any node writes them (weights, KV caches) added as
// graph inputs, and a tensor written twice (an in-place operation) renamed "<name>#<k>" from
// its second write on, so the graph is in SSA form. Node params become attributes: nested
// objects flatten to "<param>.<sub>...", strings to STRINGS, numbers, booleans and numeric
// lists to FLOATS, other lists to STRINGS (JSON text for non-string elements), null to an
// empty FLOATS.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace ait {

// Converts the ATB topology JSON file `json_path` (a layer or model JSON, FORMATS.md 5.1/5.2)
// to an ONNX model written next to it (`x.json` -> `x.onnx`, atomically: temp file + rename).
// target_level: -1 all leaves, 0 the root as one node, N nodes at depth N (or shallower leaves).
// Returns the written path. Throws ait::Error naming the file and the reason for bad input.
std::string AtbJsonToOnnx(const std::string& json_path, int target_level = -1);

// The same, returning the serialized ModelProto bytes instead of writing them.
std::string AtbJsonFileToOnnxBytes(const std::string& json_path, int target_level = -1);

// The same from parsed JSON, returning the serialized ModelProto bytes.
std::string AtbJsonToOnnxBytes(const nlohmann::json& topology, int target_level, const std::string& where);

}  // namespace ait
