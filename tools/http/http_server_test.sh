#!/usr/bin/env bash
# Runs http_server_test.py (beside this script in the runfiles) with the system's python3,
# so the test needs no Bazel Python toolchain. Arguments are passed on.
exec python3 "$(dirname "$0")/http_server_test.py" "$@"
