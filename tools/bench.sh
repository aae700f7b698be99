#!/usr/bin/env bash
# The benchmark suite: the standard fiber workloads on every Picos scheduler and on its peers
# (Boost.Fiber, Go, and for echo a plain C epoll loop), one result line per figure.
# Sets up what is missing (tools/setup.sh), builds the runners with -c opt —
# //tools/bench:picos_bench (every Picos scheduler), //tools/bench:boost_fiber_bench
# (Boost.Fiber) and //tools/bench:epoll_echo_peer (the plain C epoll loop
# //tools/demo:epoll_echo, echo's peer) — and, with `go build` (Debian's golang-go 1.19, no
# network: standard library only), the Go runner tools/bench/go (impl=go, GOMAXPROCS = the
# worker count: 1 and 2, plus any --workers=N), into ${XDG_CACHE_HOME:-~/.cache}/picos-go
# (its own GOCACHE and GOPATH there); where go is missing it says so in one line and goes on
# without it. It runs them all and prints a summary table: per (workload, workers) the best
# Picos scheduler (thread excluded), the peer's figure (boost_fiber where it has the
# workload, else epoll_c), the ratio picos/peer (< 1 means Picos is faster; for a unit ending
# in /s it is inverted so that < 1 still means faster), Go's figure and the ratio picos/go
# (the same way), and the thread scheduler's figure (picos-thread runs with threads = online
# CPUs, so its figures sit in that row).
# rss_parked (resident memory per parked fiber) measures what a process gains, so the main
# runs skip it and each impl then runs it alone in a fresh process (--only=rss_parked
# --impl=X --threads=N appended: repeated filters intersect, so the user's still apply).
# Arguments go to every runner, e.g. `tools/bench.sh --quick` (sizes 10-100x smaller, a smoke
# run), `tools/bench.sh --only=yield,skynet --reps=5`; except --charts=DIR (or env
# BENCH_CHARTS=DIR), which draws one SVG per workload into DIR at the end
# (tools/bench/chart.py). The raw lines are kept in $BENCH_OUT (default: a fresh file under
# /tmp, named at the end).
# BENCH_ONE_CPU=N runs every runner's 1-worker figures pinned to CPU N (taskset), in a pass
# of their own, and the rest unpinned: on a VM whose virtual CPUs differ in speed (at times
# the 2-core reference VM's second one ran the same binary 1.4-1.8x slower, docs/benchmarks.md)
# a 1-worker figure otherwise depends on where the process happened to start. echo stays
# unpinned (its clients and the kernel's loopback work need the other CPU, as the C loop's do).
set -euo pipefail
cd "$(dirname "$0")/.."
charts=${BENCH_CHARTS:-}
args=()
for a in "$@"; do
  case "$a" in
    --charts=*) charts=${a#--charts=} ;;
    *) args+=("$a") ;;
  esac
done
tools/setup.sh
bazel build -c opt //tools/bench:picos_bench //tools/bench:boost_fiber_bench \
  //tools/bench:epoll_echo_peer //tools/demo:epoll_echo </dev/null
# The output tree of that configuration, asked of Bazel (its name depends on the platform
# and the options; bazel-bin follows whatever was built last).
bin="$(bazel info -c opt bazel-bin </dev/null)/tools/bench"
out=${BENCH_OUT:-$(mktemp -t picos-bench.XXXXXX)}
: >"$out"
status=0
# The Go runner: built by the go tool in a cache directory of this script's own (a fresh
# temporary one if that is not writable), offline (GOPROXY=off, GOTOOLCHAIN=local: the
# program needs the standard library only). $gobin stays empty where go is missing.
gobin=
if command -v go >/dev/null 2>&1; then
  gocache=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/picos-go
  { mkdir -p "$gocache" 2>/dev/null && [ -w "$gocache" ]; } ||
    gocache=$(mktemp -d -t picos-go.XXXXXX)
  if (cd tools/bench/go &&
    GOCACHE="$gocache/build" GOPATH="$gocache/path" GOFLAGS= GOPROXY=off GOTOOLCHAIN=local \
      GO111MODULE=on go build -o "$gocache/picos_go_bench" .); then
    gobin=$gocache/picos_go_bench
  else
    echo "== go: building tools/bench/go failed: Go is skipped" >&2
    status=1
  fi
else
  echo "== go: not installed (tools/setup.sh could not install golang-go): Go is skipped"
fi
# Runs one runner (a Bazel target's name, or go) with the user's arguments plus $@, its lines
# going to the terminal and $out; under the words of $launch first, if any (run_pinned).
pin=${BENCH_ONE_CPU:-}
launch=()
run() {
  local runner=$1
  shift
  local exe=$bin/$runner
  [ "$runner" != go ] || exe=$gobin
  ${launch[@]+"${launch[@]}"} "$exe" ${args[@]+"${args[@]}"} "$@" | tee -a "$out" || status=1
}
# The same, pinned to CPU $pin (BENCH_ONE_CPU).
run_pinned() {
  launch=(taskset -c "$pin")
  run "$@"
  launch=()
}
# The worker counts other than 1 that a runner may run: 2, the online CPUs (picos-thread) and
# any --workers=N,M given.
others=2,$(nproc)
for a in ${args[@]+"${args[@]}"}; do
  case "$a" in --workers=*) others+=",${a#--workers=}" ;; esac
done
# Runs a fiber runner: in one pass, or with $pin its 1-worker figures pinned (echo aside).
run_fibers() {
  local runner=$1
  if [ -z "$pin" ]; then
    run "$runner" --skip=rss_parked
    return
  fi
  run_pinned "$runner" --skip=rss_parked,echo --threads=1
  run "$runner" --skip=rss_parked --threads="$others"
  run "$runner" --only=echo --threads=1
}
[ -z "$pin" ] || command -v taskset >/dev/null || {
  echo "bench.sh: BENCH_ONE_CPU needs taskset (util-linux)" >&2
  exit 2
}
echo "== picos_bench ${args[*]-}${pin:+ (1 worker pinned to CPU $pin)}"
run_fibers picos_bench
echo "== boost_fiber_bench ${args[*]-}${pin:+ (1 worker pinned to CPU $pin)}"
run_fibers boost_fiber_bench
echo "== epoll_echo_peer ${args[*]-}"
run epoll_echo_peer
if [ -n "$gobin" ]; then
  echo "== go (tools/bench/go, GOMAXPROCS = workers) ${args[*]-}${pin:+ (1 worker pinned to CPU $pin)}"
  run_fibers go
fi
echo "== rss_parked: one fresh process per impl"
for spec in picos_bench:picos-fifo:1 picos_bench:picos-multififo:1 \
  picos_bench:picos-multififo:2 picos_bench:picos-libevent:1 picos_bench:picos-thread: \
  boost_fiber_bench:boost_fiber:1 boost_fiber_bench:boost_fiber:2 go:go:1 go:go:2; do
  IFS=: read -r runner impl threads <<<"$spec"
  [ "$runner" != go ] || [ -n "$gobin" ] || continue
  run "$runner" --only=rss_parked --impl="$impl" ${threads:+--threads="$threads"}
done
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
first = {}
for n, t in order:
    first.setdefault(n, len(first))
print('| workload | workers | unit | best picos (scheduler) | peer | picos/peer | go | picos/go '
      '| picos-thread |')
print('|---|---|---|---|---|---|---|---|---|')
for key in sorted(order, key=lambda k: (first[k[0]], k[1])):
    impls = rows[key]
    unit = next(iter(impls.values()))[1]
    higher = unit.endswith('/s')
    picos = [(v, i) for i, (v, _) in impls.items()
             if i.startswith('picos-') and i != 'picos-thread' and v is not None]
    failed = [i for i, (v, _) in impls.items()
              if i.startswith('picos-') and i != 'picos-thread' and v is None]
    best = (max if higher else min)(picos) if picos else None
    p = '%s (%s)' % (fmt(best[0]), best[1][len('picos-'):]) if best else ('FAILED' if failed else '-')
    if failed:
        p += ' [FAILED: %s]' % ', '.join(i[len('picos-'):] for i in failed)
    peer_name = next((i for i in ('boost_fiber', 'epoll_c') if i in impls), None)
    peer = impls[peer_name][0] if peer_name else None
    b = '%s (%s)' % (fmt(peer), peer_name) if peer_name else '-'
    def ratio(other):
        if not best or not other:
            return '-'
        return '%.2f' % ((other / best[0]) if higher else (best[0] / other))
    go = impls['go'][0] if 'go' in impls else None
    g = fmt(go) if 'go' in impls else '-'
    th = fmt(impls['picos-thread'][0]) if 'picos-thread' in impls else '-'
    print('| %s | %d | %s | %s | %s | %s | %s | %s | %s |'
          % (key[0], key[1], unit, p, b, ratio(peer), g, ratio(go), th))
PY
echo "raw lines: $out"
if [ -n "$charts" ]; then
  python3 tools/bench/chart.py "$out" "$charts" || status=1
fi
exit $status
