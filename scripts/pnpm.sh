#!/usr/bin/env bash
# Runs the project's own pinned pnpm (installed into .tools/ by scripts/setup.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export npm_config_nodedir=${npm_config_nodedir:-/usr}
exec "$root/.tools/node_modules/.bin/pnpm" "$@"
