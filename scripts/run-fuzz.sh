#!/usr/bin/env bash
# Runs every libFuzzer target of an -DAIT_FUZZ=ON build for SECONDS each, one at a time.
#   usage: scripts/run-fuzz.sh BUILD_DIR [SECONDS=15]
# Seeds are written at run time by BUILD_DIR/bin/ait_fuzz_seeds (the project's own tensor
# writers) and tests/fuzz/third_party_seeds.py (numpy/torch, when present); nothing binary is
# committed. Dictionaries: tests/fuzz/dict/. The growing corpus, the logs and any
# crashing input stay under BUILD_DIR/fuzz/. Prints one line per target; on a crash,
# timeout, OOM or sanitizer report prints the input's path and the log's tail and exits 1.
# SECONDS=0 only replays the seeds and the saved corpus (a quick regression check).
# Environment: FUZZ_TARGETS="npy pth" runs a subset; FUZZ_FRESH=1 ignores the saved corpus.
# See docs/FUZZING.md.
set -uo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 BUILD_DIR [SECONDS]" >&2
  exit 2
fi
build=$1
seconds=${2:-15}
case $seconds in '' | *[!0-9]*) echo "run-fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
targets=${FUZZ_TARGETS:-atb_bin npy pth safetensors atb_onnx pair_topology manual_mapping op_param ge_dump ge_graph npz pair_ggml ggml_dump_options}
out=$build/fuzz
fuzz_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/fuzz" && pwd) || exit 2
work=$(mktemp -d "${TMPDIR:-/tmp}/ait-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/corpus" "$out/crashes" "$out/logs" "$work/scratch" "$work/seeds" "$work/dict" || exit 2

# Largest input per target. All stay below MappedFile's 256 KiB mmap threshold, so the
# file lands in an exact-size heap buffer and ASan sees any read past its end. atb_bin
# goes past the reader's 64 KiB header cap.
declare -A max_len=([atb_bin]=72000 [npy]=16384 [pth]=32768 [safetensors]=16384 [atb_onnx]=16384 [op_param]=4096
  [ge_dump]=16384 [ge_graph]=16384 [npz]=16384 [pair_ggml]=32768 [ggml_dump_options]=4096)

# ---------------------------------------------------------------------------------------
# Seeds (tests/fuzz/write_seeds.cc: the project's own writers and malformed variants of their
# files; tests/fuzz/third_party_seeds.py: numpy.save and torch.save, when python3 has them).
seeder=$build/bin/ait_fuzz_seeds
if [ ! -x "$seeder" ]; then
  echo "run-fuzz: $seeder is missing (configure with -DAIT_FUZZ=ON and build it)" >&2
  exit 2
fi
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3 || true)
seeds_ok=1
"$seeder" "$work/seeds" >"$work/seeds.log" 2>&1 || seeds_ok=0
if [ -z "$python" ]; then
  echo "python3 missing: no numpy/torch seeds" >>"$work/seeds.log"
elif [ $seeds_ok = 1 ]; then
  "$python" "$fuzz_src/third_party_seeds.py" "$work/seeds" >>"$work/seeds.log" 2>&1 || seeds_ok=0
fi
if [ $seeds_ok = 0 ]; then
  echo "run-fuzz: writing the seed corpus failed:" >&2
  cat "$work/seeds.log" >&2
  exit 2
fi

# Dictionaries (libFuzzer -dict syntax): tests/fuzz/dict/<target>.dict; pair_topology's and
# pair_ggml's are atb_onnx's followed by their own lines.
declare -A dict_parts=([pair_topology]="atb_onnx pair_topology" [pair_ggml]="atb_onnx pair_ggml")

# ---------------------------------------------------------------------------------------
# Run.
export AIT_FUZZ_DIR=$work/scratch
export ASAN_OPTIONS=${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}allocator_may_return_null=0:handle_abort=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-}${UBSAN_OPTIONS:+:}print_stacktrace=1:halt_on_error=1
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && ! command -v llvm-symbolizer >/dev/null; then
  [ -x /usr/bin/llvm-symbolizer-14 ] && export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi

failed=0
for target in $targets; do
  name=fuzz_$target
  exe=$build/bin/$name
  if [ ! -x "$exe" ]; then
    echo "$name: FAILED: $exe is missing (configure with -DAIT_FUZZ=ON and build it)"
    failed=1
    continue
  fi
  corpus=$out/corpus/$name
  [ "${FUZZ_FRESH:-0}" = 1 ] && rm -rf "$corpus"
  mkdir -p "$corpus"
  seeds=$work/seeds/$target
  mkdir -p "$seeds"
  # Targets that write their own seed (pair_topology: the synthetic dumps' topology files;
  # manual_mapping: a metadata.json as dump_data writes it, naming its fixed dump's files;
  # op_param: op_param.json texts of a dump and the documented params, an operation CSV, as
  # seed000, seed000.1, ...).
  if [ "$target" = pair_topology ] || [ "$target" = manual_mapping ] || [ "$target" = op_param ]; then
    AIT_FUZZ_SEED_OUT="$seeds/seed000" "$exe" -runs=1 >/dev/null 2>&1 || true
  fi
  log=$out/logs/$name.log
  len=${max_len[$target]:-16384}
  limit=-max_total_time=$seconds
  [ "$seconds" -eq 0 ] && limit=-runs=0  # libFuzzer reads max_total_time=0 as "no limit"
  dict=$work/dict/$target
  for part in ${dict_parts[$target]:-$target}; do cat "$fuzz_src/dict/$part.dict"; done >"$dict" || exit 2
  "$exe" "$limit" -timeout=10 -rss_limit_mb=2048 -max_len="$len" \
    -dict="$dict" -artifact_prefix="$out/crashes/$name-" -print_final_stats=1 \
    "$corpus" "$seeds" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)
  units=$(find "$corpus" -type f | wc -l)
  if [ $rc -ne 0 ]; then
    input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "$name: FAILED (exit $rc) after ${execs:-?} execs; crashing input: ${input:-none saved}"
    [ -n "$input" ] && echo "  reproduce: $exe $input"
    echo "  log: $log; the error and the log's tail:"
    grep -m 6 -E "terminate called|what\(\):|ERROR: |runtime error:|SUMMARY: |ait fuzz:" "$log" | sed 's/^/  ! /'
    tail -n 30 "$log" | sed 's/^/  | /'
    failed=1
  else
    echo "$name: ${execs:-?} execs in ${seconds}s (${rate:-?}/s), ${cov:-cov: ?}, corpus $units inputs"
  fi
done
exit $failed
