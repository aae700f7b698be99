#!/usr/bin/env bash
# Lints the workspace, offline, with the LLVM tools from Debian (tools/setup.sh installs them):
#  1. clang-format --dry-run -Werror over every tracked C/C++ file (.clang-format; a few
#     seconds): lists each file whose formatting differs, changes nothing;
#  2. clang-tidy (.clang-tidy) over the C++ files changed since a base revision: committed
#     changes since BASE plus what is modified or untracked in the working tree. It needs no
#     Bazel and no compile_commands.json in the tree: it writes a temporary one that compiles
#     each file with `clang++ -std=c++20 -I<root>` (every include is either from the root or
#     a system header), so a handful of files takes well under a minute.
#
#   tools/lint.sh                  # format check + clang-tidy on changes since HEAD~1
#   tools/lint.sh --base main      # clang-tidy on changes since `main`
#   tools/lint.sh --all            # clang-tidy on every tracked C++ file (minutes)
#   tools/lint.sh --no-format      # skip step 1; --no-tidy skips step 2
#   tools/lint.sh -- a.cc b.h      # clang-tidy on exactly these files
#
# Exit status: 0 clean, 1 a format difference or a clang-tidy finding, 2 bad usage.
# Fix formatting with `clang-format -i FILE...`; CI runs this script (.ci/run).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

base=HEAD~1
all=0
what=""
do_format=1
do_tidy=1
files=()
while [ $# -gt 0 ]; do
  case "$1" in
    --base) base="${2:?--base needs a revision}"; shift 2 ;;
    --base=*) base="${1#--base=}"; shift ;;
    --all) all=1; shift ;;
    --no-format) do_format=0; shift ;;
    --no-tidy) do_tidy=0; shift ;;
    --) shift; files=("$@"); what="given"; break ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "lint: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

for tool in clang-format clang-tidy clang++; do
  command -v "$tool" >/dev/null || { echo "lint: $tool not found (run tools/setup.sh)" >&2; exit 2; }
done

status=0
jobs=$(nproc 2>/dev/null || echo 2)
# C/C++ sources and headers; examples/consumer is a workspace of its own but ours to format.
is_cxx='\.(cc|cpp|cxx|c|h|hh|hpp)$'

# ---- 1. formatting ------------------------------------------------------------------------
if [ "$do_format" -eq 1 ]; then
  t0=$(date +%s)
  mapfile -t tracked < <(git ls-files | grep -E "$is_cxx")
  out=$(printf '%s\0' "${tracked[@]}" |
        xargs -0 -r -P "$jobs" -n 16 clang-format --dry-run -Werror 2>&1)
  bad=$(printf '%s\n' "$out" | grep -oE '^[^:]+:[0-9]+:[0-9]+: error' | cut -d: -f1 | sort -u)
  if [ -n "$bad" ]; then
    n=$(printf '%s\n' "$bad" | wc -l)
    echo "lint: clang-format: $n of ${#tracked[@]} files need formatting (clang-format -i FILE):"
    printf '  %s\n' $bad
    status=1
  else
    echo "lint: clang-format: ${#tracked[@]} files formatted ($(( $(date +%s) - t0 )) s)"
  fi
fi

# ---- 2. clang-tidy on changed files ---------------------------------------------------------
if [ "$do_tidy" -eq 1 ]; then
  t0=$(date +%s)
  if [ -z "$what" ]; then
    what="changed since $base"
    if [ "$all" -eq 1 ]; then
      what="tracked"
      mapfile -t files < <(git ls-files | grep -E "$is_cxx")
    else
      if ! git rev-parse --verify -q "$base^{commit}" >/dev/null; then
        echo "lint: base revision '$base' not found (a shallow clone? use --base REV)" >&2
        exit 2
      fi
      mapfile -t files < <({ git diff --name-only --diff-filter=d "$base" --;
                             git ls-files --others --exclude-standard; } | grep -E "$is_cxx" | sort -u)
    fi
  fi
  # Only files that exist, outside the separate consumer workspace, and not C.
  existing=()
  # C sources (tools/demo/epoll_echo.c, a peer written in plain C) are format-checked only:
  # .clang-tidy's checks are written for this project's C++.
  for f in "${files[@]+"${files[@]}"}"; do
    [ -f "$f" ] && [[ "$f" != examples/consumer/* ]] && [[ "$f" != *.c ]] && existing+=("$f")
  done
  if [ ${#existing[@]} -eq 0 ]; then
    echo "lint: clang-tidy: no C++ files ($what)"
  else
    db=$(mktemp -d -t picos-lint.XXXXXX)
    trap 'rm -rf "$db"' EXIT
    # One compile command per file: headers are parsed as C++ too (a header that does not
    # compile on its own is a finding). Findings are reported in the listed files only
    # (--header-filter='^$'): a changed header is checked as a file of its own, and an
    # unchanged header's old findings do not fail a change that merely includes it.
    python3 - "$root" "$db/compile_commands.json" "${existing[@]}" <<'PY'
import json, sys
root, out, files = sys.argv[1], sys.argv[2], sys.argv[3:]
# Files that Bazel compiles with local_defines (mux/BUILD): one configuration stands for all.
defines = {
    "mux/default.cc": ["-DPICOS_DEFAULT_FIFO"],
    "mux/default_test.cc": ['-DPICOS_EXPECTED_SCHEDULER="fifo"'],
}
cmds = [{"directory": root, "file": f,
         "arguments": ["clang++", "-x", "c++", "-std=c++20", "-I" + root, "-Wthread-safety"] +
                      defines.get(f, []) + ["-fsyntax-only", f]} for f in files]
json.dump(cmds, open(out, "w"), indent=1)
PY
    echo "lint: clang-tidy: ${#existing[@]} file(s) ($what)"
    log="$db/tidy.log"
    printf '%s\0' "${existing[@]}" |
      xargs -0 -r -P "$jobs" -n 1 clang-tidy --quiet -p "$db" --header-filter='^$' \
        >"$log" 2>"$db/tidy.err"
    rc=$?
    # clang-tidy prints "N warnings generated" on stderr; keep real errors only.
    grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^Use -system-headers' \
      "$db/tidy.err" >&2 || true
    if [ -s "$log" ] || [ "$rc" -ne 0 ]; then
      cat "$log"
      n=$(grep -cE ': (warning|error): ' "$log" || true)
      echo "lint: clang-tidy: $n finding(s) ($(( $(date +%s) - t0 )) s)"
      status=1
    else
      echo "lint: clang-tidy: clean ($(( $(date +%s) - t0 )) s)"
    fi
  fi
fi

exit $status
