"""Compiler flags every compiled target of Picos for C++ carries (one place, like absl/copts).

A target's `copts` come after --copt/--cxxopt on the command line, so the project's own
sources compile as C++20 in any workspace, whatever that workspace's .bazelrc says.
Warnings (-Wall -Wextra -Werror) are not here: they are this repository's policy, set in
its .bazelrc, and a consumer's compiler may warn differently. Sanitizers are not here
either: they are whole-build configs (--config=asan|tsan|ubsan in bazel/picos.bazelrc), and
//mux/context detects them itself (__SANITIZE_ADDRESS__ / __SANITIZE_THREAD__) to annotate
its stack switches, so no target needs a sanitizer flag of its own.

Usage in a BUILD file:
    load("//bazel:copts.bzl", "PICOS_COPTS")
    cc_library(name = "x", srcs = [...], copts = PICOS_COPTS)
"""

# The language standard the headers and sources require.
PICOS_COPTS = ["-std=c++20"]
