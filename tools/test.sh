#!/usr/bin/env bash
# Sets up what is missing (tools/setup.sh), then runs `bazel test` and finishes with one line
# "N passed, N failed" (counted per test target, cached results included, from Bazel's Build
# Event Protocol). Arguments go to `bazel test`; with no target pattern, `//...` is tested.
# It runs in this repository's root, or in the workspace folder PICOS_TEST_WORKSPACE names.
#   tools/test.sh                         # every test, default config
#   tools/test.sh --config=asan //picos/... //mux/...
#   PICOS_TEST_WORKSPACE=examples/consumer tools/test.sh   # the example consumer workspace
# PICOS_TEST_TALLY=FILE appends "passed failed"; PICOS_TEST_FAILURES=FILE appends, per failed
# test, its label and the telling lines of its log (sanitizer reports, gtest failures), so a CI
# run whose output is cut to its tail still names what failed.
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
python3 - "$bep" "${args[@]}" <<'PY'
import json, sys
tests, summary, broken, logs = set(), {}, set(), {}
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
    elif "testResult" in eid:
        res = ev.get("testResult", {})
        if res.get("status", "PASSED") != "PASSED":
            for out in res.get("testActionOutput", []):
                if out.get("name") == "test.log" and out.get("uri", "").startswith("file://"):
                    logs.setdefault(eid["testResult"]["label"], []).append(out["uri"][len("file://"):])
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
failures = os.environ.get("PICOS_TEST_FAILURES")
if failures and failed:
    import re
    telling = re.compile(r"WARNING: ThreadSanitizer|ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                         r"runtime error:|^SUMMARY:|\[  FAILED  \]|Failure$|^Expected|^  Actual|"
                         r"Which is:|Value of:|picos: |seed|TIMEOUT|Check failed|terminate called")
    with open(failures, "a") as f:
        for t in sorted(tests):
            if summary.get(t) in ok or (t not in summary and t not in broken):
                continue
            f.write("-- %s: %s (%s)\n" % (t, summary.get(t, "BUILD FAILED"), " ".join(sys.argv[2:])))
            for path in logs.get(t, [])[:2]:
                try:
                    lines = open(path, errors="replace").read().splitlines()
                except OSError:
                    continue
                hits = [l for l in lines if telling.search(l)][:25]
                f.write("   %s\n" % path)
                for l in hits:
                    f.write("   | %s\n" % l[:200])
sys.exit(3 if failed else 0)
PY
py_rc=$?
[ "$rc" -eq 0 ] && rc=$py_rc
exit $rc
