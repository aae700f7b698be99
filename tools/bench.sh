#!/usr/bin/env bash
# Issue 7's benchmark suite: sets up what is missing (tools/setup.sh), builds
# //tools/bench:picos_bench and //tools/bench:boost_fiber_bench with -c opt, runs both and
# prints a summary table: per (workload, workers) the best Picos scheduler, Boost.Fiber's
# figure and the ratio picos/peer (< 1 means Picos is faster; for a unit ending in /s it is
# inverted so that < 1 still means faster).
# Arguments go to both runners, e.g. `tools/bench.sh --quick` (sizes 10-100x smaller, a smoke
# run), `tools/bench.sh --only=yield,skynet --reps=5`. The raw lines are kept in $BENCH_OUT
# (default: a fresh file under /tmp, named at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
bazel build -c opt //tools/bench:picos_bench //tools/bench:boost_fiber_bench </dev/null
bin=bazel-out/k8-opt/bin/tools/bench
out=${BENCH_OUT:-$(mktemp -t picos-bench.XXXXXX)}
: >"$out"
status=0
echo "== picos_bench $*"
"$bin/picos_bench" "$@" | tee -a "$out" || status=1
echo "== boost_fiber_bench $*"
"$bin/boost_fiber_bench" "$@" | tee -a "$out" || status=1
echo
python3 - "$out" <<'PY'
import re, sys
rows = {}   # (bench, threads) -> {impl: (value, unit)}
order = []
for line in open(sys.argv[1]):
    m = re.match(r'bench=(\S+) impl=(\S+) threads=(\d+) value=(\S+) unit=(\S+)$', line.strip())
    if not m:
        continue
    name, impl, threads, value, unit = m.groups()
    key = (name, int(threads))
    if key not in rows:
        rows[key] = {}
        order.append(key)
    rows[key][impl] = (None if value == 'FAILED' else float(value), unit)
def fmt(v):
    return 'FAILED' if v is None else ('%.0f' % v if v >= 100 else '%.3g' % v)
print('| workload | workers | unit | best picos (scheduler) | boost_fiber | picos/peer |')
print('|---|---|---|---|---|---|')
for key in sorted(order, key=lambda k: (order.index((k[0], min(t for n, t in order if n == k[0]))), k[1])):
    impls = rows[key]
    unit = next(iter(impls.values()))[1]
    higher = unit.endswith('/s')
    picos = [(v, i) for i, (v, _) in impls.items() if i.startswith('picos-') and v is not None]
    best = (max if higher else min)(picos) if picos else None
    peer = impls.get('boost_fiber', (None, unit))[0]
    p = '%s (%s)' % (fmt(best[0]), best[1][len('picos-'):]) if best else '-'
    b = fmt(peer) if 'boost_fiber' in impls else '-'
    ratio = '-'
    if best and peer:
        ratio = '%.2f' % ((peer / best[0]) if higher else (best[0] / peer))
    print('| %s | %d | %s | %s | %s | %s |' % (key[0], key[1], unit, p, b, ratio))
PY
echo "raw lines: $out"
exit $status
