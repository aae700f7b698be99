#!/usr/bin/env bash
# Sets up what is missing (tools/setup.sh), then runs `bazel test` and finishes with one line
# "N passed, N failed" (counted per test target, cached results included, from Bazel's Build
# Event Protocol). Arguments go to `bazel test`; with no target pattern, `//...` is tested.
# It runs in this repository's root, or in the workspace folder PICOS_TEST_WORKSPACE names.
#   tools/test.sh                         # every test, default config
#   tools/test.sh --config=asan //picos/... //mux/...
#   PICOS_TEST_WORKSPACE=examples/consumer tools/test.sh   # the example consumer workspace
# Exit status is Bazel's: 0 all passed, 3 a test failed (also: flaky under --runs_per_test),
# 1 build failed, 4 no tests.
set -uo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh || exit 1
cd "${PICOS_TEST_WORKSPACE:-.}" || exit 1
args=("$@")
have_pattern=0
for a in "${args[@]+"${args[@]}"}"; do
  case "$a" in
    -*) ;;
    *) have_pattern=1 ;;
  esac
done
[ "$have_pattern" -eq 1 ] || args+=("//...")
bep="$(mktemp -t picos-bep.XXXXXX)"
trap 'rm -f "$bep"' EXIT
bazel test --build_event_json_file="$bep" "${args[@]}" </dev/null
rc=$?
python3 - "$bep" <<'PY'
import json, sys
tests, summary, broken = set(), {}, set()
for line in open(sys.argv[1]):
    try:
        ev = json.loads(line)
    except ValueError:
        continue
    eid = ev.get("id", {})
    if "targetConfigured" in eid and "testSize" in ev.get("configured", {}):
        tests.add(eid["targetConfigured"]["label"])
    elif "testSummary" in eid:
        summary[eid["testSummary"]["label"]] = ev.get("testSummary", {}).get("overallStatus", "NO_STATUS")
    elif "targetCompleted" in eid:
        if "aborted" not in ev and not ev.get("completed", {}).get("success", False):
            broken.add(eid["targetCompleted"]["label"])
ok = ("PASSED",)  # FLAKY (failed some of --runs_per_test) counts as failed: a seed broke it
passed = sum(1 for t in tests if summary.get(t) in ok)
failed = sum(1 for t in tests if (t in summary and summary[t] not in ok) or (t not in summary and t in broken))
skipped = len(tests) - passed - failed
print("%d passed, %d failed" % (passed, failed) + (", %d skipped" % skipped if skipped else ""))
import os
tally = os.environ.get("PICOS_TEST_TALLY")
if tally:
    with open(tally, "a") as f:
        f.write("%d %d\n" % (passed, failed))
sys.exit(3 if failed else 0)
PY
py_rc=$?
[ "$rc" -eq 0 ] && rc=$py_rc
exit $rc
