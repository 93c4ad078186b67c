#!/usr/bin/env bash
# The one command that runs every test: type-check + build, unit tests, then the real-kernel and
# real-Docker integration tests (root).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh   # idempotent: installs only what is missing, then builds
npx mocha --config .mocharc.unit.json
bash scripts/test-integration.sh
