#!/usr/bin/env bash
# The one command that runs every test: type-check + build, unit tests, then the real-kernel and
# real-Docker integration tests (root).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p .
npx mocha --config .mocharc.unit.json
bash scripts/test-integration.sh
