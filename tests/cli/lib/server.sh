# Sourced by the server test scripts: start `slotlm serve` on a kernel-chosen port and wait until
# /health answers 200. Sets SRV (pid), PORT and URL; the EXIT trap stops the server.
#   start_server BIN LOG serve-args...
start_server() {
  local bin=$1 log=$2
  shift 2
  # --port 0: the kernel picks a free port (parallel test runs never collide); read it from the log.
  "$bin" serve --port 0 "$@" >"${log%.log}.out" 2>"$log" &
  SRV=$!
  trap 'kill -TERM $SRV 2>/dev/null; sleep 0.5; kill -KILL $SRV 2>/dev/null' EXIT
  PORT=
  for _ in $(seq 100); do
    # the trailing space matches only a completely written line
    PORT=$(grep -o 'listening on http://127.0.0.1:[0-9]* ' "$log" 2>/dev/null | grep -o '[0-9]* $' | tr -d ' ')
    [ -n "$PORT" ] && break
    sleep 0.1
  done
  if [ -z "$PORT" ]; then echo "FAIL: the server did not start"; cat "$log"; exit 1; fi
  URL=http://127.0.0.1:$PORT
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ] && break
    sleep 0.1
  done
}
