#!/usr/bin/env bash
# app_test.sh APP_FIFO APP_MULTIFIFO: each binary runs on the scheduler it was built with.
set -euo pipefail
out_fifo="$("$1")"
out_multififo="$("$2")"
echo "$out_fifo"
echo "$out_multififo"
[ "$out_fifo" = "fifo: sum 5050" ]
[ "$out_multififo" = "multififo: sum 5050" ]
