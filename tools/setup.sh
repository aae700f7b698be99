#!/usr/bin/env bash
# Installs exactly the Debian packages this workspace needs that are missing.
# Idempotent: a no-op (well under a second) when everything is present; safe with no
# stdin (CI) and as root or through sudo. Network access: Debian's archive only.
set -euo pipefail
PKGS=(
  bazel-bootstrap bazel-platforms bazel-rules-java  # Bazel 4.2.3 + the repos it would download
  g++ pkg-config python3
  clang clang-format clang-tidy  # clang 14: --config=clang (-Wthread-safety) and tools/lint.sh
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libevent-dev libboost-context-dev libboost-fiber-dev
  liburing-dev  # the io_uring reactor (poller/uring_poller.h)
  valgrind  # callgrind: tools/bench/instr.sh (instructions per operation; CI prints them)
)
# Wanted but not required: a failed install prints one line and the script goes on (tools/bench.sh
# then skips its Go runner; tools/bench/http_vs_nginx.sh says what is missing and stops).
OPTIONAL_PKGS=(
  golang-go  # Go 1.19: tools/bench/go, the benchmark suite's third peer (standard library only)
  nginx-light wrk  # tools/bench/http_vs_nginx.sh: nginx is //tools/http's peer, wrk the load
)
# The packages of "$@" that are not installed, one a line.
not_installed() {
  for p in "$@"; do
    # `dpkg -s` exits 0 for removed-but-not-purged packages; check the Status field instead.
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}
mapfile -t missing < <(not_installed "${PKGS[@]}")
mapfile -t missing_opt < <(not_installed "${OPTIONAL_PKGS[@]}")
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_opt[@]} -eq 0 ]; then
  echo "setup: all $((${#PKGS[@]} + ${#OPTIONAL_PKGS[@]})) packages already installed"
  exit 0
fi
all_missing=(${missing[@]+"${missing[@]}"} ${missing_opt[@]+"${missing_opt[@]}"})
echo "setup: installing: ${all_missing[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# Refresh the package lists only if some missing package has no install candidate.
for p in "${all_missing[@]}"; do
  cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
    $SUDO apt-get update -q || true
    break
  fi
done
# A stale list can point at a superseded .deb (404): update once and retry.
apt_install() {
  $SUDO apt-get install -y -q --no-install-recommends "$@" </dev/null ||
    { $SUDO apt-get update -q &&
      $SUDO apt-get install -y -q --no-install-recommends "$@" </dev/null; }
}
if [ ${#missing[@]} -gt 0 ]; then
  apt_install "${missing[@]}"
fi
if [ ${#missing_opt[@]} -gt 0 ]; then
  apt_install "${missing_opt[@]}" ||
    echo "setup: could not install ${missing_opt[*]} (optional: tools/bench.sh skips Go;" \
      "tools/bench/http_vs_nginx.sh needs nginx-light and wrk); going on"
fi
