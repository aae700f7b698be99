#!/usr/bin/env bash
# Sets up what is missing (tools/setup.sh), then builds and runs the demo (optimised).
# Arguments go to the demo, e.g. `tools/demo.sh --all` or `tools/demo.sh --clients=100 --rounds=200`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel run -c opt //tools/demo -- "$@" </dev/null
