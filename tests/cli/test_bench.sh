#!/usr/bin/env bash
# `slotlm bench` (issue #5's tool): the llama-bench-style table, the SLOT line, the memory and
# precision lines and the --json object, on the committed tiny bf16 checkpoint; bad values refused
# with one "slotlm: error:" line.
#   bash test_bench.sh SLOTLM_BINARY SHARED_DIR WORK_DIR
set -uo pipefail
BIN=$1; WORK=$3
HERE=$(cd "$(dirname "$0")" && pwd)
M=$HERE/../data/tiny-qwen2-bf16
rm -rf "$WORK" && mkdir -p "$WORK"
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

"$BIN" bench -m "$M" -p 24 -n 6 --reps 2 --batch 3 --slot-steps 2 --slot-lr 0.01 --precision fast -t 2 --json \
  >"$WORK/out" 2>"$WORK/err" || bad "bench failed: $(cat "$WORK/err")"
grep -q '| pp24 |' "$WORK/out" || bad "no pp24 row: $(cat "$WORK/out")"
grep -q '| tg6 |' "$WORK/out" || bad "no tg6 row"
grep -q '| tg6 x3 |' "$WORK/out" || bad "no batched row"
grep -q '^SLOT T=2 on a 24-token prompt' "$WORK/out" || bad "no SLOT line"
grep -q '^memory: peak RSS' "$WORK/out" || bad "no memory line"
grep -q '^precision: fast' "$WORK/out" || bad "no precision line"
tail -n 1 "$WORK/out" >"$WORK/json"
/usr/bin/env python3 - "$WORK/json" <<'PY' || bad "--json object: $(cat "$WORK/json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["dtype"] == "bf16" and j["precision"] == "fast" and j["threads"] == 2 and j["reps"] == 2, j
assert j["pp"]["n"] == 24 and j["pp"]["tok_s"] > 0, j["pp"]
assert j["tg"]["n"] == 6 and j["tg"]["tok_s"] > 0, j["tg"]
assert j["tg_batch"]["batch"] == 3 and j["tg_batch"]["tok_s"] > 0, j["tg_batch"]
s = j["slot"]
assert s["steps"] == 2 and s["fast_ms"] > 0 and s["reference_ms"] > 0 and s["prefill_ms"] > 0, s
assert abs(s["speedup"] - s["reference_ms"] / s["fast_ms"]) < 1e-9 * s["speedup"], s
assert j["peak_rss_mib"] > 0 and j["kv_cache_mib"] > 0, j
PY

# Bad values: one error line naming the flag, non-zero exit.
for args in "-p 1" "--reps 0" "--batch 0" "--precision half"; do
  # shellcheck disable=SC2086
  "$BIN" bench -m "$M" $args >"$WORK/o" 2>"$WORK/e"
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -ge 128 ]; then bad "rc $rc for $args"; continue; fi
  [ "$(grep -c '^slotlm: error:' "$WORK/e")" -eq 1 ] || bad "not one error line for $args: $(cat "$WORK/e")"
done

[ $fails -eq 0 ] && echo "bench: all checks passed" || exit 1
