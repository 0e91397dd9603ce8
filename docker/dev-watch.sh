#!/usr/bin/env bash
# Development loop of docker-compose.dev.yml (the sources are mounted from the host):
#   - tsc --watch recompiles gateway/src into dist/ on every change;
#   - node --watch restarts the gateway (primary, workers and sidecars) when dist/ changes;
#   - a .py change under sidecars/mdso_sidecar stops the running sidecars (SIGTERM): the gateway's
#     supervisor restarts them at once with the new code (the gateway itself stays up). Polling, so
#     it works on every bind mount (no inotify needed).
# Every command here must exist in the Dockerfile's dev stage (test/e2e/deploy-files.test.ts checks):
# that stage has node but no npm/npx, so tsc is run through node from the dev node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

node node_modules/typescript/bin/tsc -p tsconfig.build.json --watch --preserveWatchOutput &
node --watch-path=dist/gateway --watch-preserve-output dist/gateway/src/main.js &
gateway=$!
trap 'kill -TERM "$gateway" 2>/dev/null; wait "$gateway"; exit 0' TERM INT

stamp=$(mktemp)
while kill -0 "$gateway" 2>/dev/null; do
  sleep 2
  if [ -n "$(find sidecars/mdso_sidecar -name '*.py' -newer "$stamp" -print -quit)" ]; then
    touch "$stamp"
    # Sidecars retitle themselves "mdso-ocr:<service>" (setproctitle); match that or their command line.
    for proc in /proc/[0-9]*; do
      cmd=$(tr '\0' ' ' <"$proc/cmdline" 2>/dev/null || true)
      case "$cmd" in
        mdso-ocr:* | *"-m mdso_sidecar "*) echo "[dev-watch] sidecar code changed: restarting ${cmd%% *} (pid ${proc#/proc/})"; kill -TERM "${proc#/proc/}" 2>/dev/null || true ;;
      esac
    done
  fi
done
