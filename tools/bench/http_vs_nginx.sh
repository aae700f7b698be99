#!/usr/bin/env bash
# //tools/http's HTTP server measured against nginx, the server its users would otherwise put
# there: Debian's nginx-light serving the same fixed 13-byte body ("Hello, world!") from a
# `return 200` location, with one worker, then two; then ours (built with -c opt) on fifo (one
# worker thread) and on multififo with two workers. Every server listens on 127.0.0.1 and is
# driven, one at a time in the same run, by the same
#   wrk -t1 -c100 -d8s --latency http://127.0.0.1:PORT/
# It prints wrk's figures as the suite's result lines (tools/bench/bench_util.h):
#   bench=http_hello      impl=<impl> threads=<workers> value=<requests/s> unit=requests/s
#   bench=http_hello_mean impl=<impl> threads=<workers> value=<ms>         unit=ms
#   bench=http_hello_p99  impl=<impl> threads=<workers> value=<ms>         unit=ms
# (impl: nginx, picos-fifo, picos-multififo), then a table with ours / nginx at the same worker
# count. nginx runs as the invoking user from a temporary directory (its config, pid file,
# error log and temp paths there; access_log off), in the foreground, and is stopped with
# SIGQUIT. Needs nginx-light and wrk (tools/setup.sh installs them, optional packages); says
# so and exits 1 without them. Environment: HTTP_BENCH_DURATION (default 8s),
# HTTP_BENCH_CONNECTIONS (100), HTTP_BENCH_ROUNDS (1: the four servers run in turn that many
# times, and the table shows each figure's median), HTTP_BENCH_OUT (the result lines are also
# appended there), HTTP_BENCH_REACTORS (default "epoll": our two servers run once per
# reactor named, e.g. "epoll io_uring", through PICOS_REACTOR; impl picos-fifo_uring and
# picos-multififo_uring for io_uring).
# docs/benchmarks.md ("HTTP server against nginx") holds the latest table.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${HTTP_BENCH_DURATION:-8s}
conns=${HTTP_BENCH_CONNECTIONS:-100}
rounds=${HTTP_BENCH_ROUNDS:-1}
read -r -a reactors <<<"${HTTP_BENCH_REACTORS:-epoll}"
nginx=$(command -v nginx || echo /usr/sbin/nginx)
if [ ! -x "$nginx" ] || ! command -v wrk >/dev/null; then
  echo "http_vs_nginx: needs nginx (Debian's nginx-light) and wrk; install them with" \
    "tools/setup.sh (optional packages) or apt-get install nginx-light wrk" >&2
  exit 1
fi
bazel build -c opt //tools/http:http_server </dev/null
server="$(bazel info -c opt bazel-bin </dev/null)/tools/http/http_server"
tmp=$(mktemp -d -t http-vs-nginx.XXXXXX)
lines=$tmp/lines.txt  # the result lines of this run
pid=
cleanup() {
  [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# A free TCP port on 127.0.0.1 for nginx (ours takes --port=0 and says which).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Runs wrk against port $3 and prints the result lines for impl $1 with $2 workers.
measure() {
  local impl=$1 workers=$2 port=$3 log
  log=$tmp/wrk-$impl-$workers.txt
  wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/" >/dev/null  # warm-up
  wrk -t1 -c"$conns" -d"$duration" --latency "http://127.0.0.1:$port/" >"$log"
  python3 - "$impl" "$workers" "$log" <<'PY' | tee -a "$lines"
import re, sys
impl, workers, path = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(path).read()
def ms(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
mean = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s)\b", text, re.M)
p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", text, re.M)
bad = re.search(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", text)
if not (rps and mean and p99) or bad:
    why = bad.group(1) if bad else "no figures"
    sys.stderr.write("http_vs_nginx: %s: %s\n%s" % (impl, why, text))
    for name, unit in (("http_hello", "requests/s"), ("http_hello_mean", "ms"),
                       ("http_hello_p99", "ms")):
        print("bench=%s impl=%s threads=%s value=FAILED unit=%s" % (name, impl, workers, unit))
    sys.exit(0)
line = "bench=%s impl=%s threads=%s value=%s unit=%s"
print(line % ("http_hello", impl, workers, "%.0f" % float(rps.group(1)), "requests/s"))
print(line % ("http_hello_mean", impl, workers, "%.3f" % ms(*mean.groups()), "ms"))
print(line % ("http_hello_p99", impl, workers, "%.3f" % ms(*p99.groups()), "ms"))
PY
}

run_nginx() {
  local workers=$1 port
  port=$(free_port)
  mkdir -p "$tmp/nginx"
  cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    location / { return 200 "Hello, world!"; }
  }
}
EOF
  "$nginx" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf" &
  pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.05
  done
  measure nginx "$workers" "$port"
  kill -QUIT "$pid"
  wait "$pid" || true
  pid=
}

run_picos() {
  local scheduler=$1 workers=$2 reactor=$3 port impl
  local args=(--port=0 --scheduler="$scheduler")
  [ "$scheduler" != multififo ] || args+=(--threads="$workers")
  impl=picos-$scheduler
  [ "$reactor" = epoll ] || impl=${impl}_${reactor#io_}  # picos-fifo_uring, as picos_bench
  PICOS_REACTOR=$reactor "$server" "${args[@]}" >"$tmp/picos.out" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/^http server on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/picos.out")
    [ -z "$port" ] || break
    sleep 0.05
  done
  measure "$impl" "$workers" "$port"
  kill -TERM "$pid"
  wait "$pid" || true
  pid=
}

echo "== wrk -t1 -c$conns -d$duration --latency, 127.0.0.1, $(nproc) CPUs, $("$nginx" -v 2>&1)"
for round in $(seq "$rounds"); do
  [ "$rounds" -eq 1 ] || echo "== round $round of $rounds"
  run_nginx 1
  run_nginx 2
  for reactor in "${reactors[@]}"; do
    run_picos fifo 1 "$reactor"
    run_picos multififo 2 "$reactor"
  done
done
[ -z "${HTTP_BENCH_OUT:-}" ] || cat "$lines" >>"$HTTP_BENCH_OUT"
echo
python3 - "$lines" "$rounds" <<'PY'
import re, statistics, sys
rows = {}  # (impl, threads) -> {bench: [values]}
for line in open(sys.argv[1]):
    m = re.match(r"bench=(\S+) impl=(\S+) threads=(\d+) value=(\S+) unit=\S+$", line.strip())
    if m:
        name, impl, threads, value = m.groups()
        rows.setdefault((impl, int(threads)), {}).setdefault(name, []).append(
            None if value == "FAILED" else float(value))
def median(r, name):
    v = r.get(name, [])
    return None if not v or None in v else statistics.median(v)
rounds = int(sys.argv[2])
if rounds > 1:
    print("medians of %d rounds" % rounds)
print("| server | workers | requests/s | mean latency (ms) | p99 latency (ms) "
      "| requests/s vs nginx |")
print("|---|---|---|---|---|---|")
for (impl, threads), r in rows.items():
    rps = median(r, "http_hello")
    ref = median(rows.get(("nginx", threads), {}), "http_hello")
    ratio = "%.2f" % (rps / ref) if rps and ref and impl != "nginx" else ""
    f = lambda v, fmt: "FAILED" if v is None else fmt % v
    print("| %s | %d | %s | %s | %s | %s |" % (impl, threads, f(rps, "%.0f"),
          f(median(r, "http_hello_mean"), "%.2f"), f(median(r, "http_hello_p99"), "%.2f"), ratio))
PY
