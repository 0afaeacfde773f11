#!/usr/bin/env bash
# The real agent programs, installed the way users install them (npm, globally), at the exact
# versions the end-to-end tests are written against. The bwrap backend runs them from the host.
set -euo pipefail
if [ "$(id -u)" -ne 0 ] && [ -z "${NPM_CONFIG_PREFIX:-}" ]; then SUDO=sudo; else SUDO=; fi
$SUDO npm install -g --no-audit --no-fund @openai/codex@0.171.0
