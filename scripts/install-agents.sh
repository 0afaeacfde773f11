#!/usr/bin/env bash
# The agent programs the end-to-end tests run, installed the way users install them, at pinned
# versions (a new release can change what they call at start-up, which the tests pin down).
# One line per agent; bump a version deliberately and run tests/agents.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
# Claude Code: the npm package's postinstall links the native binary for this platform into bin/.
$SUDO npm install -g --no-audit --no-fund --allow-scripts=@anthropic-ai/claude-code @anthropic-ai/claude-code@2.1.332
# Codex: an npm launcher whose native binary is an optional platform dependency.
$SUDO npm install -g --no-audit --no-fund @openai/codex@0.171.0
