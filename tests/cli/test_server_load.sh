#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Bounded concurrency check of `slotlm serve` on loopback: 8 curl clients x 5 requests each (plain,
# streamed, and with SLOT), all must answer 200 with a finish_reason; the server's RSS must come
# back near its idle level afterwards. Prints requests, errors, latency and RSS numbers.
# Usage (ctest): bash test_server_load.sh SLOTLM_BINARY SHARED_DIR WORK_DIR. Exit 77 = skipped.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib/server.sh"
BIN=$1 SHARED=$2 WORK=$3
MODEL=$SHARED/models/tinystories-656k
N_CLIENTS=8 N_PER_CLIENT=5
RSS_SLACK_KB=$((24 * 1024))  # allowed growth over idle after the load (allocator caches, thread stacks)
if [ ! -f "$MODEL/config.json" ]; then echo "SKIP: $MODEL is absent (../shared beside the checkout)"; exit 77; fi
if ! command -v curl >/dev/null; then echo "SKIP: curl is not installed"; exit 77; fi
mkdir -p "$WORK"
rm -f "$WORK"/lat_* "$WORK"/resp_*
LOG=$WORK/server.log

start_server "$BIN" "$LOG" -m "$MODEL" -n 64
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/$SRV/status; }

# Warm up (first-use allocations), then take the idle RSS.
curl -s -o /dev/null "$URL/v1/completions" -d '{"prompt":"Once upon a time","max_tokens":200,"slot":{"steps":3}}'
sleep 0.3
IDLE=$(rss_kb)

client() {  # client ID: N_PER_CLIENT requests, one line "code seconds" per request in lat_ID
  local id=$1 i body
  for i in $(seq $N_PER_CLIENT); do
    case $(((id + i) % 3)) in
      0) body='{"messages":[{"role":"user","content":"Tell me a story about a dog."}],"max_tokens":200,"temperature":0.8,"seed":'$i'}' ;;
      1) body='{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":200,"stream":true}' ;;
      2) body='{"messages":[{"role":"user","content":"Tell me a story about a cat."}],"max_tokens":200,"slot":{"steps":5,"lr":0.1}}' ;;
    esac
    curl -s -N -o "$WORK/resp_${id}_$i" -w '%{http_code} %{time_total}\n' "$URL/v1/chat/completions" -d "$body" >>"$WORK/lat_$id"
  done
}

PEAK=$IDLE
START=$(date +%s.%N)
pids=()
for c in $(seq $N_CLIENTS); do client "$c" & pids+=($!); done
# Impatient clients that hang up early (while queued or mid-stream): their work must be dropped.
for i in 1 2 3 4; do
  curl -s -N -o /dev/null --max-time 0.02 "$URL/v1/chat/completions" \
    -d '{"messages":[{"role":"user","content":"Tell me a long story."}],"max_tokens":400,"stream":'$([ $i -le 2 ] && echo true || echo false)'}' &
done
while kill -0 "${pids[@]}" 2>/dev/null; do
  r=$(rss_kb); [ "$r" -gt "$PEAK" ] && PEAK=$r
  sleep 0.05
  alive=0; for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
done
wait "${pids[@]}"
WALL=$(awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN {printf "%.2f", e - s}')
sleep 1
AFTER=$(rss_kb)

total=$(cat "$WORK"/lat_* | wc -l)
errors=$(cat "$WORK"/lat_* | awk '$1 != 200' | wc -l)
finished=$(grep -l '"finish_reason":"\(stop\|length\)"' "$WORK"/resp_* | wc -l)
lat=$(cat "$WORK"/lat_* | awk '{print $2}' | sort -n | awk '{a[NR]=$1; s+=$1} END {printf "mean %.3f s, p50 %.3f s, p95 %.3f s, max %.3f s", s/NR, a[int(NR*0.5)+0], a[int(NR*0.95)+0], a[NR]}')
echo "requests: $total (expected $((N_CLIENTS * N_PER_CLIENT))), non-200: $errors, with finish_reason: $finished"
echo "latency: $lat; wall $WALL s"
echo "hung-up clients cancelled by the server: $(grep -c 'cancelled' "$LOG") of 4"
echo "server RSS: idle $((IDLE / 1024)) MiB, peak $((PEAK / 1024)) MiB, after $((AFTER / 1024)) MiB"
fail=0
[ "$total" = $((N_CLIENTS * N_PER_CLIENT)) ] || { echo "FAIL: not every request was answered"; fail=1; }
[ "$errors" = 0 ] || { echo "FAIL: $errors requests did not get 200"; fail=1; }
[ "$finished" = "$total" ] || { echo "FAIL: some responses have no finish_reason"; fail=1; }
if grep -q __asan_init "$BIN"; then
  echo "note: AddressSanitizer build (its quarantine holds freed memory): RSS not checked"
elif [ "$AFTER" -gt $((IDLE + RSS_SLACK_KB)) ]; then
  echo "FAIL: RSS after the load is more than idle + $((RSS_SLACK_KB / 1024)) MiB"; fail=1
fi
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ] || { echo "FAIL: /health after the load"; fail=1; }
kill -TERM $SRV
wait $SRV || { echo "FAIL: the server did not exit 0 on SIGTERM"; fail=1; }
trap - EXIT
[ $fail = 0 ] && echo "load test passed"
exit $fail
