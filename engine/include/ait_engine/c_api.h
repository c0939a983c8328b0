/* C entry points of the reference engine (for tools in other languages, e.g. opcheck's
 * rerun from Python via ctypes). Errors come back as a status plus a message; nothing throws. */
#ifndef AIT_ENGINE_C_API_H_
#define AIT_ENGINE_C_API_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Runs one operation of ATB type `type` with param `param_json` (a JSON object; NULL or ""
 * = {}) on the tensors in `in_paths` (any format the toolkit reads: .bin, .npy, .pth,
 * .safetensors with one tensor), writing `out_dir`/outtensor{i}.bin (ATB .bin; the folder is
 * created). Returns 0 on success; otherwise 1 with a message in `err` (truncated to
 * err_len - 1 bytes, always NUL-terminated when err_len > 0). */
int ait_engine_run_op(const char* type, const char* param_json, const char* const* in_paths, int n_in,
                      const char* out_dir, char* err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif /* AIT_ENGINE_C_API_H_ */
