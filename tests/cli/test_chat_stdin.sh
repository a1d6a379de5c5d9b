#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `slotlm chat` without a terminal: one user message per stdin line, SLOT re-run per turn, /reset,
# /exit, and no wait on stdin (an empty stdin exits at once).
# Usage (ctest): bash test_chat_stdin.sh SLOTLM_BINARY SHARED_DIR WORK_DIR. Exit 77 = skipped.
set -u
BIN=$1 SHARED=$2 WORK=$3
MODEL=$SHARED/models/tinystories-656k
if [ ! -f "$MODEL/config.json" ]; then echo "SKIP: $MODEL is absent (../shared beside the checkout)"; exit 77; fi
mkdir -p "$WORK"
fail=0
printf 'Tell me a story.\n\nWhat happened next?\n/reset\nTell me about a dog.\n/exit\nnever read\n' |
  timeout 60 "$BIN" chat -m "$MODEL" --system "You tell stories." --slot-steps 2 -n 8 --chat-template chatml \
    >"$WORK/out.txt" 2>"$WORK/err.txt"
rc=$?
[ $rc = 0 ] || { echo "FAIL: chat exited $rc"; cat "$WORK/err.txt"; fail=1; }
turns=$(grep -c '^slot: loss' "$WORK/err.txt")
[ "$turns" = 3 ] || { echo "FAIL: expected SLOT to run for 3 user turns, saw $turns"; fail=1; }
# Turn 2 carries the conversation so far, so its prompt is longer than turn 1's; /reset drops it.
mapfile -t n < <(grep -o 'over [0-9]* prompt tokens' "$WORK/err.txt" | grep -o '[0-9]*')
[ "${n[1]:-0}" -gt "${n[0]:-0}" ] || { echo "FAIL: turn 2 prompt (${n[1]:-?}) not longer than turn 1 (${n[0]:-?})"; fail=1; }
[ "${n[2]:-0}" -lt "${n[1]:-0}" ] || { echo "FAIL: /reset did not shorten the prompt (${n[2]:-?} vs ${n[1]:-?})"; fail=1; }
timeout 20 "$BIN" chat -m "$MODEL" </dev/null >/dev/null 2>&1 || { echo "FAIL: chat with empty stdin did not exit 0 promptly"; fail=1; }
[ $fail = 0 ] && echo "chat stdin checks passed (prompt tokens per turn: ${n[*]})"
exit $fail
