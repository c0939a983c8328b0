// libait_ggml_dump: the dump of a ggml (llama.cpp) run, made by ggml's own eval callback
// (ggml_backend_sched_eval_callback, llama_context_params.cb_eval). C functions with C types,
// so that Python's ctypes (ait_llm.dump.ggml_dump) and any C or C++ host can install it:
//
//   void* d = ait_ggml_dump_open("{\"output_dir\": \"out\"}", err, sizeof err);
//   ctx_params.cb_eval = ait_ggml_dump_eval;  ctx_params.cb_eval_user_data = d;
//   for each llama_decode: llama_decode(...); ait_ggml_dump_end_token(d);
//   ait_ggml_dump_close(d, stats, sizeof stats);
//
// Each graph computation between two ait_ggml_dump_end_token calls is one token (ATB's
// execute count). Every node of the graph is asked about in order; a selected node's
// output (and, with tensor_part 0 or 2, its sources) is written, as read through ggml's API,
// in ATB's dump layout: {output_dir}/ait_dump/tensors/{device}_{pid}/{token}/{index}_{OP}/
// after/outtensor0.bin (sources: after/intensorK.bin), and the graph's topology as an ATB
// model JSON at {output_dir}/ait_dump/model/{pid}/ggml_graph.json (docs/LLAMA_CPP.md).
//
// The configuration is a JSON object, every key optional; a key left out takes the ATB_*
// variable `ait llm dump` sets (include/ait/probe_env.h), else the default:
//   output_dir   string            the dump's -o folder (ATB_OUTPUT_DIR; default ".")
//   token_range  [[first, last]..] tokens whose tensors are written (ATB_SAVE_TENSOR_RANGE; all)
//   tensor_part  0 | 1 | 2         sources, outputs, both (ATB_SAVE_TENSOR_PART; default 1)
//   node_filter  [glob, ...]       node names to write ("attn_norm-*"); default every node
//   perturb      [spec, ...]       `NAME_GLOB=KIND[:MAG]` faults, as ait-engine --perturb:
//                                  the node's output is changed before later nodes read it
//   device       string            the {device} of the process folder (default "0")
// Quantized and non-contiguous tensors are written as contiguous float32 (the topology's
// "written" says so); F32, F16, BF16 and integer tensors keep their type.
#pragma once

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ggml_tensor;

#define AIT_GGML_DUMP_API __attribute__((visibility("default")))

// The topology's modelName, and its file's stem: how compare knows a dump is ggml's.
#define AIT_GGML_MODEL_NAME "ggml_graph"

// A dumper for `config_json` (NULL or "" = all defaults), or NULL with the reason in `error`
// (a bad key, value, glob or perturbation spec).
AIT_GGML_DUMP_API void* ait_ggml_dump_open(const char* config_json, char* error, size_t error_size);

// The eval callback. `user_data` is the dumper. Never fails the computation: a tensor that
// cannot be read or written is skipped and counted (ait_ggml_dump_close's statistics).
AIT_GGML_DUMP_API bool ait_ggml_dump_eval(struct ggml_tensor* t, bool ask, void* user_data);

// Ends the current token: its topology is written (once, from the first token dumped), and
// the next graph computation is the next token. Returns the number of nodes it had.
AIT_GGML_DUMP_API int ait_ggml_dump_end_token(void* dumper);

// Waits for every queued file, frees the dumper, and writes a JSON object of statistics into
// `stats` (tokens, nodes, files written, bytes, perturbed nodes, files lost and why). Returns
// the number of files that could not be written (0 = the dump is complete).
AIT_GGML_DUMP_API int ait_ggml_dump_close(void* dumper, char* stats, size_t stats_size);

#ifdef __cplusplus
}
#endif
