#!/usr/bin/env bash
# Runs demo_server_test.py (beside this script in the runfiles) with the system's python3,
# so the test needs no Bazel Python toolchain. Arguments are passed on.
exec python3 "$(dirname "$0")/demo_server_test.py" "$@"
