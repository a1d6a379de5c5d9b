#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end `slotlm serve` on ../shared/models/tinystories-656k (loopback only): curl for /health,
# auth and error cases, SSE framing; then the real `openai` npm client (chat, stream, SLOT, errors).
# Usage (ctest): bash test_server_openai.sh SLOTLM_BINARY SHARED_DIR WORK_DIR. Exit 77 = skipped.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib/server.sh"
BIN=$1 SHARED=$2 WORK=$3
MODEL=$SHARED/models/tinystories-656k
KEY=test-key-123
if [ ! -f "$MODEL/config.json" ]; then echo "SKIP: $MODEL is absent (../shared beside the checkout)"; exit 77; fi
if ! command -v curl >/dev/null; then echo "SKIP: curl is not installed"; exit 77; fi
mkdir -p "$WORK"
LOG=$WORK/server.log
fails=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fails=$((fails + 1)); fi
}

start_server "$BIN" "$LOG" -m "$MODEL" --parallel 2 --api-key "$KEY" -n 32
AUTH="Authorization: Bearer $KEY"

# status BODYFILE METHOD PATH [curl args...] -> prints the HTTP status, body into BODYFILE
status() { local out=$1 m=$2 p=$3; shift 3; curl -s -o "$out" -w '%{http_code}' -X "$m" "$URL$p" "$@"; }
B=$WORK/body.json

check "health 200 ok"        [ "$(status $B GET /health)" = 200 ]
check "health body"          grep -q '"status":"ok"' $B
check "models needs key"     [ "$(status $B GET /v1/models)" = 401 ]
check "401 error body"       grep -q '"code":"invalid_api_key"' $B
check "models with key"      [ "$(status $B GET /v1/models -H "$AUTH")" = 200 ]
check "models lists model"   grep -q '"id":"tinystories-656k"' $B
check "bad json 400"         [ "$(status $B POST /v1/chat/completions -H "$AUTH" -d '{"messages":')" = 400 ]
check "bad json body"        grep -q '"type":"invalid_request_error"' $B
check "unknown role 400"     [ "$(status $B POST /v1/chat/completions -H "$AUTH" -d '{"messages":[{"role":"bot","content":"x"}]}')" = 400 ]
check "unknown role param"   grep -q '"param":"messages\[0\].role"' $B
check "wrong type 400"       [ "$(status $B POST /v1/chat/completions -H "$AUTH" -d '{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}')" = 400 ]
check "context 400"          [ "$(status $B POST /v1/completions -H "$AUTH" -d '{"prompt":"Once","max_tokens":100000}')" = 400 ]
check "context code"         grep -q '"code":"context_length_exceeded"' $B
check "bad slot 400"         [ "$(status $B POST /v1/completions -H "$AUTH" -d '{"prompt":"Once","slot":{"steps":-2}}')" = 400 ]
head -c 2000000 /dev/zero | tr '\0' 'a' >"$WORK/big.txt"
check "body cap 413"         [ "$(status $B POST /v1/completions -H "$AUTH" --data-binary @"$WORK/big.txt")" = 413 ]
check "unknown route 404"    [ "$(status $B GET /v1/nothing -H "$AUTH")" = 404 ]
check "completion 200"       [ "$(status $B POST /v1/completions -H "$AUTH" -d '{"prompt":"Once upon a time","max_tokens":12,"temperature":0}')" = 200 ]
check "completion usage"     grep -q '"completion_tokens":12' $B
check "stop string"          [ "$(status $B POST /v1/completions -H "$AUTH" -d '{"prompt":"Once upon a time","max_tokens":40,"stop":["."]}')" = 200 ]
check "stop finish"          grep -q '"finish_reason":"stop"' $B
curl -sN "$URL/v1/chat/completions" -H "$AUTH" -d '{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8,"stream":true}' >"$WORK/stream.txt"
check "sse ends with DONE"   cmp -s <(tail -c 14 "$WORK/stream.txt") <(printf 'data: [DONE]\n\n')
check "sse role chunk"       grep -q '"delta":{"content":"","role":"assistant"}' "$WORK/stream.txt"
check "sse finish chunk"     grep -q '"finish_reason":"length"' "$WORK/stream.txt"
check "sse every line data"  bash -c "grep -v '^\$' '$WORK/stream.txt' | grep -vq '^data: ' && exit 1 || exit 0"

# The real OpenAI client (npm `openai@4`).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP (part): node/npm not installed; the openai client part did not run"
elif ! (cd "$WORK" && { [ -d node_modules/openai ] || timeout 120 npm install --no-audit --no-fund --silent openai@4 >npm.log 2>&1; }); then
  echo "SKIP (part): 'npm install openai@4' failed (registry unreachable?); the openai client part did not run:"
  tail -3 "$WORK/npm.log"
else
  cat >"$WORK/client.mjs" <<'EOF'
import OpenAI from 'openai';
const [port, key] = process.argv.slice(2);
const client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: key, maxRetries: 0 });
const fail = (msg) => { console.error('FAIL ' + msg); process.exitCode = 1; };
const messages = [{ role: 'system', content: 'You tell stories.' }, { role: 'user', content: 'Tell me a story about a cat.' }];

const models = await client.models.list();
if (models.data[0]?.id !== 'tinystories-656k') fail('models.list');

const r = await client.chat.completions.create({ model: 'tinystories-656k', messages, max_tokens: 16, temperature: 0 });
if (typeof r.choices[0].message.content !== 'string' || r.choices[0].message.content.length === 0) fail('chat content');
const u = r.usage;
if (!(u.completion_tokens > 0 && u.completion_tokens <= 16 && u.prompt_tokens > 0 && u.total_tokens === u.prompt_tokens + u.completion_tokens))
  fail('chat usage ' + JSON.stringify(u));
if (r.slot !== null) fail('slot must be null when SLOT is off');
console.log('ok   chat:', JSON.stringify(r.choices[0].message.content));

const stream = await client.chat.completions.create({ model: 'x', messages, max_tokens: 16, temperature: 0, stream: true });
let text = '', finish = null, n = 0;
for await (const chunk of stream) {
  n++;
  text += chunk.choices[0]?.delta?.content ?? '';
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
if (text !== r.choices[0].message.content) fail(`stream text ${JSON.stringify(text)} != non-stream text`);
if (finish !== r.choices[0].finish_reason) fail(`stream finish_reason ${finish} != ${r.choices[0].finish_reason}`);
console.log(`ok   stream: ${n} chunks, same text as the non-streamed call`);

const s = await client.chat.completions.create({ model: 'x', messages, max_tokens: 16, temperature: 0, slot: { steps: 4, lr: 0.1 } });
if (!s.slot || s.slot.losses.length !== 4 || !(s.slot.delta_norm > 0) || !(s.slot.slot_ms >= 0)) fail('slot ' + JSON.stringify(s.slot));
else if (!(s.slot.loss_final < s.slot.losses[0])) fail('slot loss did not decrease ' + JSON.stringify(s.slot));
console.log('ok   slot:', JSON.stringify(s.slot.losses), '->', s.slot.loss_final, 'delta_norm', s.slot.delta_norm);

const c = await client.completions.create({ model: 'x', prompt: 'Once upon a time', max_tokens: 8, temperature: 0 });
if (typeof c.choices[0].text !== 'string' || c.usage.completion_tokens !== 8) fail('completions');
console.log('ok   completion:', JSON.stringify(c.choices[0].text));

try {
  await client.chat.completions.create({ model: 'x', messages: [{ role: 'wizard', content: 'x' }] });
  fail('unknown role accepted');
} catch (e) {
  if (e.status !== 400 || e.param !== 'messages[0].role') fail('error ' + e);
  else console.log('ok   400 surfaces as OpenAI APIError:', e.message);
}
try {
  await new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'wrong', maxRetries: 0 }).models.list();
  fail('wrong key accepted');
} catch (e) {
  if (e.status !== 401) fail('auth error ' + e);
  else console.log('ok   401 with a wrong key');
}
EOF
  if (cd "$WORK" && timeout 60 node client.mjs "$PORT" "$KEY"); then echo "ok   openai client"; else echo "FAIL openai client"; fails=$((fails + 1)); fi
fi

# SIGTERM with requests in flight: every request the server accepted is answered in full (a
# request that had not connected yet may be refused: curl code 000), then the server exits 0.
for i in 1 2 3 4 5 6; do
  curl -sN -o "$WORK/drain_$i.txt" -w '%{http_code}' "$URL/v1/chat/completions" -H "$AUTH" \
    -d '{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":400,"slot":{"steps":50},"stream":'$([ $i -le 3 ] && echo true || echo false)'}' \
    >"$WORK/drain_code_$i" &
done
sleep 0.2
kill -TERM $SRV
wait $SRV
rc=$?
trap - EXIT
wait
answered=0 broken=0
for i in 1 2 3 4 5 6; do
  code=$(cat "$WORK/drain_code_$i")
  case $code in
    200) answered=$((answered + 1))
         grep -q '"finish_reason":"\(stop\|length\)"' "$WORK/drain_$i.txt" || broken=$((broken + 1))
         [ $i -le 3 ] && { cmp -s <(tail -c 14 "$WORK/drain_$i.txt") <(printf 'data: [DONE]\n\n') || broken=$((broken + 1)); } ;;
    000) ;;
    *) broken=$((broken + 1)) ;;
  esac
done
echo "drain: $answered of 6 in-flight requests answered in full, $broken cut or failed"
check "drain answers all"    test $broken = 0 -a $answered -gt 0
check "SIGTERM exit 0"       [ $rc = 0 ]
check "drain logged"         grep -q 'server stopped' "$LOG"
if [ $fails -gt 0 ]; then echo "$fails check(s) failed; server log:"; tail -20 "$LOG"; exit 1; fi
echo "all server checks passed"
