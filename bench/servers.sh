#!/usr/bin/env bash
# Granian and gunicorn side by side on the same data: same workers, same threads, wrk
# driving each in turn for several interleaved rounds. Prints requests/s per round.
#   bench/servers.sh [rounds] [seconds]      (needs wrk and the dev dependencies)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; seconds=${2:-5}
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
export STATE_DIR=$tmp SECRET_KEY=servers-bench-$(printf 'k%.0s' {1..40}) JWT_ACCESS_TTL=3600 WEB_CONCURRENCY=2
.venv/bin/python manage.py migrate -v0
.venv/bin/python manage.py seed --users 1 --tasks 1000 --password bench-pass-123 -v0
.venv/bin/python manage.py serve --server granian --port 18001 >"$tmp/granian.log" 2>&1 &
.venv/bin/python manage.py serve --server gunicorn --port 18002 >"$tmp/gunicorn.log" 2>&1 &
for port in 18001 18002; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
done
TOKEN=$(curl -s -X POST http://127.0.0.1:18001/auth/token/ -H 'Content-Type: application/json' \
  -d '{"username": "user1", "password": "bench-pass-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')
export TOKEN
lua=$tmp/auth.lua
cat >"$lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.headers["Content-Type"] = "application/json"
if os.getenv("BODY") then wrk.method = "POST"; wrk.body = os.getenv("BODY") end
LUA
for round in $(seq "$rounds"); do
  for endpoint in "/tasks/1/" "/tasks/?page_size=100" "POST /tasks/"; do
    for server in granian:18001 gunicorn:18002; do
      path=${endpoint#POST }
      if [[ $endpoint == POST* ]]; then export BODY='{"title": "bench", "due_to": "2030-01-01T00:00:00Z"}'; else unset BODY; fi
      rps=$(wrk -t1 -c8 -d"${seconds}s" -s "$lua" "http://127.0.0.1:${server#*:}$path" | awk '/Requests\/sec/ {print $2}')
      echo "round $round  ${server%%:*}  $endpoint  $rps"
    done
  done
done
