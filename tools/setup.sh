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
)
missing=()
for p in "${PKGS[@]}"; do
  # `dpkg -s` exits 0 for removed-but-not-purged packages; check the Status field instead.
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages already installed"
  exit 0
fi
echo "setup: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
# Refresh the package lists only if some missing package has no install candidate.
for p in "${missing[@]}"; do
  cand=$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')
  if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
    $SUDO apt-get update -q
    break
  fi
done
# A stale list can point at a superseded .deb (404): update once and retry.
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null ||
  { $SUDO apt-get update -q &&
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null; }
