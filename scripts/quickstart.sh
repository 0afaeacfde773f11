#!/usr/bin/env bash
# Set up bot-bottle from a fresh clone and start the `shell` example bottle.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bwrap >/dev/null || ! command -v socat >/dev/null; then
  echo "Installing system prerequisites (needs root or sudo)..."
  bash scripts/install-system-deps.sh
fi
npm ci --no-audit --no-fund
npm run build
node dist/cli.js init --examples
exec node dist/cli.js start shell "$@"
