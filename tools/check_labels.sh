#!/usr/bin/env bash
# Checks that every Bazel label the docs name exists: extracts each //... label and target
# pattern from README.md and docs/*.md (also @picos_cpp//..., read as this repository's, and
# other @repo//... labels), and resolves them with `bazel query`. A label that this workspace
# does not have is looked up in the example consumer workspace (examples/consumer), which the
# "Use it from your own workspace" docs describe. Placeholders such as //mux/<scheduler> are
# skipped. Prints one line per missing label (file:line: label) and a summary line
# "check_labels: N labels, N missing"; exits 1 if any is missing.
#   tools/check_labels.sh             # README.md docs/*.md
#   tools/check_labels.sh FILE...     # other Markdown files
set -uo pipefail
cd "$(dirname "$0")/.."
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(README.md docs/*.md)

# file:line<TAB>label, one per occurrence.
occurrences="$(python3 - "${files[@]}" <<'PY'
import re, sys
# Labels of imagined code that the docs use as examples (a scheduler you might add, your own
# binary or test, the package of the visibility error in building.md); everything else must
# exist.
EXAMPLES = {"//mux/mysched", "//mux/testing:mysched", "//my:app", "//path/to:ivar_test",
            "//std/zz_vis_probe:uses_fifo"}
# A label: optional @repo, //, then a package path (or "..."), optional :target. Not part of a
# URL (https://...), not a C++ comment (// text).
LABEL = re.compile(r"(?<![\w:/.<>])(@[A-Za-z0-9_.-]*)?//([A-Za-z0-9_][A-Za-z0-9_./+-]*|\.\.\.|(?=:))(:[A-Za-z0-9_./+=-]*[A-Za-z0-9_+])?")
for path in sys.argv[1:]:
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        for m in LABEL.finditer(line):
            repo, pkg, target = m.group(1) or "", m.group(2), m.group(3) or ""
            end = line[m.end():m.end() + 2]
            if "<" in end or "<" in pkg:          # //mux/<scheduler>, @repo//:<name>: placeholders
                continue
            if pkg.endswith("...") or pkg == "...":
                pass
            else:
                pkg = pkg.rstrip("./")           # sentence punctuation after a label
            if target.startswith(":") and "=" in target:
                target = target.split("=")[0]     # --//mux:scheduler=fifo
            if repo == "@picos_cpp":
                repo = ""
            label = "%s//%s%s" % (repo, pkg, target)
            if label in ("//", "@//") or label.startswith("//visibility:"):
                continue
            if label in EXAMPLES:
                continue
            print("%s:%d\t%s" % (path, n, label))
PY
)"
[ -n "$occurrences" ] || { echo "check_labels: no labels found"; exit 0; }
mapfile -t labels < <(cut -f2 <<<"$occurrences" | sort -u)

# resolves WORKSPACE_DIR LABEL...: prints the labels that do not resolve there.
unresolved() {
  local dir="$1"
  shift
  # Fast path: all of them in one query.
  if (cd "$dir" && bazel query --noshow_progress "set($*)" >/dev/null 2>&1 </dev/null); then
    return
  fi
  local l
  for l in "$@"; do
    (cd "$dir" && bazel query --noshow_progress "$l" >/dev/null 2>&1 </dev/null) || echo "$l"
  done
}

mapfile -t missing < <(unresolved . "${labels[@]}")
if [ ${#missing[@]} -gt 0 ] && [ -f examples/consumer/WORKSPACE ]; then
  mapfile -t missing < <(unresolved examples/consumer "${missing[@]}")
fi
for l in "${missing[@]+"${missing[@]}"}"; do
  awk -F'\t' -v l="$l" '$2 == l {print $1 ": " l " does not exist"}' <<<"$occurrences"
done
echo "check_labels: ${#labels[@]} labels, ${#missing[@]} missing"
[ ${#missing[@]} -eq 0 ]
