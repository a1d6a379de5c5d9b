#!/usr/bin/env bash
# CLI contract of `slotlm run` (../shared/DESIGN.md): --json schema, SLOT fields, --slot-save /
# --slot-load round trip, and one-line errors with a non-zero exit for bad input.
#   bash test_run_contract.sh SLOTLM_BINARY SHARED_DIR WORK_DIR
set -uo pipefail
BIN=$1; WORK=$3
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$HERE/../data
rm -rf "$WORK" && mkdir -p "$WORK"
fails=0; passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
PROMPT="144 55 15 189 153 34 160 133 239 7 148 82 250 200 166 42 248 114 207 172"
M=$DATA/tiny-qwen2

# Runs slotlm expecting failure: non-zero exit, no crash, exactly one "slotlm: error:" line on stderr
# (the last one), containing $1. Informational lines before it (model loaded, ...) are allowed.
expect_error() {
  local want=$1; shift
  "$BIN" "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$? lines
  lines=$(grep -c '^slotlm: error:' "$WORK/err")
  if [ $rc -eq 0 ]; then bad "exit 0 for: $*"; return; fi
  if [ $rc -ge 128 ]; then bad "crashed (rc $rc) for: $*"; return; fi
  if ! tail -n 1 "$WORK/err" | grep -q -- "$want"; then bad "error for '$*' lacks '$want': $(cat "$WORK/err")"; return; fi
  if [ "$lines" -ne 1 ]; then bad "error for '$*' is $lines lines: $(cat "$WORK/err")"; return; fi
  ok
}

# 1. --json schema, plain model: slot is null.
"$BIN" run -m "$M" --prompt-ids "$PROMPT" -n 8 --temp 0 --json >"$WORK/plain.json" 2>"$WORK/err" || bad "plain run failed: $(cat "$WORK/err")"
python3 - "$WORK/plain.json" <<'PY' && ok || bad "plain --json schema"
import json, sys
j = json.loads(open(sys.argv[1]).read())
assert set(j) >= {"prompt_tokens", "tokens", "text", "finish_reason", "slot", "timings"}, j.keys()
assert j["slot"] is None and len(j["tokens"]) == 8 and len(j["prompt_tokens"]) == 20
assert j["finish_reason"] in ("length", "stop")
assert set(j["timings"]) >= {"prompt_ms", "slot_ms", "gen_ms", "prompt_tok_s", "gen_tok_s"}
PY

# 2. SLOT run: loss list of T, loss_final, delta_norm; --slot-save writes a [d_model] float32 .npy.
"$BIN" run -m "$M" --prompt-ids "$PROMPT" -n 8 --temp 0 --slot-steps 3 --slot-save "$WORK/d.npy" --json \
  >"$WORK/slot.json" 2>"$WORK/err" || bad "slot run failed: $(cat "$WORK/err")"
grep -q "slot: step 3/3 loss" "$WORK/err" && ok || bad "per-step loss not on stderr"
python3 - "$WORK/slot.json" "$WORK/d.npy" <<'PY' && ok || bad "slot --json fields / npy"
import json, struct, sys
j = json.loads(open(sys.argv[1]).read())
s = j["slot"]
assert s["steps"] == 3 and len(s["loss"]) == 3 and s["lr"] == 0.1, s
assert s["loss_final"] < s["loss"][0] and s["delta_norm"] > 0 and "slot_ms" in s
raw = open(sys.argv[2], "rb").read()
assert raw[:6] == b"\x93NUMPY"
hl = struct.unpack("<H", raw[8:10])[0]
hdr = raw[10:10 + hl].decode()
assert "'<f4'" in hdr and "(64,)" in hdr, hdr
assert len(raw) - 10 - hl == 64 * 4
PY

# 3. --slot-load reproduces the SLOT generation without optimising.
"$BIN" run -m "$M" --prompt-ids "$PROMPT" -n 8 --temp 0 --slot-load "$WORK/d.npy" --json >"$WORK/load.json" 2>"$WORK/err"
python3 - "$WORK/slot.json" "$WORK/load.json" <<'PY' && ok || bad "--slot-load differs from the optimised run"
import json, sys
a, b = (json.loads(open(p).read()) for p in sys.argv[1:3])
assert a["tokens"] == b["tokens"], (a["tokens"], b["tokens"])
assert b["slot"]["loaded"] is True
PY

# 3b. A SLOT setting that overflows (lr and weight decay at their bounds) stops at the last finite
# delta: diverged_step in --json, one warning line naming the flags, and the generation goes on.
"$BIN" run -m "$M" --prompt-ids "9 200 31 77 4 150 150 88" -n 2 --temp 0 --slot-steps 40 --slot-lr 1000 \
  --slot-wd 1000 --json >"$WORK/div.json" 2>"$WORK/err" || bad "diverging slot run failed: $(cat "$WORK/err")"
[ "$(grep -c '^slot: warning: step [0-9]* made the loss non-finite (--slot-lr 1000, --slot-wd 1000 too large?)' "$WORK/err")" = 1 ] \
  && ok || bad "no single divergence warning: $(cat "$WORK/err")"
python3 - "$WORK/div.json" <<'PY' && ok || bad "diverged_step in --json"
import json, math, sys
s = json.loads(open(sys.argv[1]).read())["slot"]
assert s["diverged_step"] > 1 and len(s["loss"]) == s["diverged_step"] - 1, s
assert math.isfinite(s["loss_final"]) and math.isfinite(s["delta_norm"]), s
PY

# 4. Nothing the user gave is overwritten.
expect_error "already exists" run -m "$M" --prompt-ids "$PROMPT" -n 1 --slot-steps 1 --slot-save "$WORK/d.npy"

# 5. Bad input: one line, non-zero exit, no crash.
expect_error "slot-steps" run -m "$M" --prompt-ids "$PROMPT" --slot-steps -1
expect_error "slot-lr" run -m "$M" --prompt-ids "$PROMPT" --slot-steps 2 --slot-lr 0
expect_error "slot-lr" run -m "$M" --prompt-ids "$PROMPT" --slot-steps 2 --slot-lr nan
expect_error "slot-betas" run -m "$M" --prompt-ids "$PROMPT" --slot-betas 0.9
expect_error "slot-path" run -m "$M" --prompt-ids "$PROMPT" --slot-path quick
expect_error "precision" run -m "$M" --prompt-ids "$PROMPT" --precision bf16
expect_error "top-p" run -m "$M" --prompt-ids "$PROMPT" --temp 1 --top-p 0
expect_error "out of range" run -m "$M" --prompt-ids "1 2 99999"
expect_error "prompt-ids" run -m "$M" --prompt-ids "1 x 3"
expect_error "config.json" run -m "$WORK/nowhere" --prompt-ids "1 2"
expect_error "context" run -m "$M" --prompt-ids "$(python3 -c 'print(" ".join(["5"] * 600))')"
printf 'garbage' >"$WORK/bad.npy"
expect_error "bad.npy" run -m "$M" --prompt-ids "$PROMPT" --slot-load "$WORK/bad.npy"
mkdir -p "$WORK/trunc" && cp "$M/config.json" "$WORK/trunc/" && head -c 100 "$M/model.safetensors" >"$WORK/trunc/model.safetensors"
expect_error "model.safetensors" run -m "$WORK/trunc" --prompt-ids "1 2"
expect_error "tokenizer" run -m "$M" -p "hello"
# Flags every model command shares, and values that used to be accepted silently.
expect_error "threads" run -m "$M" --prompt-ids "$PROMPT" --threads -1
expect_error "threads" run -m "$M" --prompt-ids "$PROMPT" --threads 100000
expect_error "seed" run -m "$M" --prompt-ids "$PROMPT" --seed -5
expect_error "64 bits" run -m "$M" --prompt-ids "$PROMPT" --seed 99999999999999999999
expect_error "n-predict" run -m "$M" --prompt-ids "$PROMPT" -n abc
expect_error "slot-steps" run -m "$M" --prompt-ids "$PROMPT" --slot-steps 1000000
expect_error "slot-lr" run -m "$M" --prompt-ids "$PROMPT" --slot-steps 2 --slot-lr 1e308
expect_error "slot-wd" run -m "$M" --prompt-ids "$PROMPT" --slot-steps 2 --slot-wd 1e308
expect_error "-n must be" serve -m "$M" -n -3 --port 0
# Text that is not UTF-8 (the tokenizer would turn it into U+FFFD silently), on every way in.
TOKM=${2}/models/tinystories-656k
if [ -d "$TOKM" ]; then
  printf 'Hi \xc3' >"$WORK/bad.txt"
  expect_error "not valid UTF-8" tokenize -m "$TOKM" "$(printf 'Hi \xff there')"
  expect_error "bad.txt: not valid UTF-8" tokenize -m "$TOKM" --file "$WORK/bad.txt"
  expect_error "-p: not valid UTF-8" run -m "$TOKM" -p "$(printf 'a \xed\xa0\x80 b')" -n 1
  expect_error "bad.txt: not valid UTF-8" run -m "$TOKM" --prompt-file "$WORK/bad.txt" -n 1
else
  echo "SKIP (UTF-8 checks): $TOKM is absent (../shared/models)"
fi

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
