#!/usr/bin/env bash
# Installs everything Strata needs on a machine that has only Node 20 and npm.
# Idempotent: each step is skipped when its result is already in place.
#   scripts/setup.sh          install pnpm (pinned, into .tools/) and the workspace's dependencies
#   scripts/setup.sh --build  ... and compile every package with tsc -b, then bundle the strata command
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PNPM_VERSION=10.34.8
# fs-ext is a native addon built by node-gyp; Node's headers live in /usr on these machines,
# and without this node-gyp tries to download them (there is no network but the registries).
export npm_config_nodedir=${npm_config_nodedir:-/usr}

if [ "$(.tools/node_modules/.bin/pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  echo "setup: installing pnpm $PNPM_VERSION into .tools/" >&2
  npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error "pnpm@$PNPM_VERSION" >&2
fi

stamp=node_modules/.strata-install-stamp
newer=$(find package.json pnpm-lock.yaml pnpm-workspace.yaml packages/*/package.json examples/*/package.json -newer "$stamp" 2>/dev/null | head -1 || true)
if [ ! -f "$stamp" ] || [ -n "$newer" ]; then
  echo "setup: pnpm install" >&2
  # CI installs exactly what the lockfile says; a developer's install may update it.
  if [ "${CI:-}" = "true" ]; then
    bash scripts/pnpm.sh install --frozen-lockfile --reporter=append-only >&2
  else
    bash scripts/pnpm.sh install --reporter=append-only >&2
  fi
  touch "$stamp"
fi

if [ "${1:-}" = "--build" ]; then
  bash scripts/pnpm.sh exec tsc -b >&2
  # The `strata` command runs a bundle of the server's compiled modules (its README).
  node packages/server/scripts/bundle.mjs >&2
fi
