#!/usr/bin/env bash
# Start or stop the project-local Prefect server (SQLite under $PREFECT_HOME) in the background.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
state="$here/.esdl"
export PREFECT_HOME=${PREFECT_HOME:-$state/prefect}
pidfile="$state/prefect-server.pid"
mkdir -p "$PREFECT_HOME"
case "${1:-}" in
  start)
    port=${2:-4200}
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "Prefect server already running (pid $(cat "$pidfile"))"; exit 0
    fi
    nohup "$here/.venv/bin/prefect" server start --host 127.0.0.1 --port "$port" \
      >"$state/prefect-server.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 120); do
      if curl -fsS "http://127.0.0.1:$port/api/health" >/dev/null 2>&1; then
        echo "Prefect server up at http://127.0.0.1:$port (log: $state/prefect-server.log)"; exit 0
      fi
      kill -0 "$(cat "$pidfile")" 2>/dev/null || { cat "$state/prefect-server.log"; exit 1; }
      sleep 1
    done
    echo "Prefect server did not answer in 120 s; see $state/prefect-server.log" >&2; exit 1 ;;
  stop)
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi ;;
  *) echo "usage: $0 start [PORT] | stop" >&2; exit 2 ;;
esac
