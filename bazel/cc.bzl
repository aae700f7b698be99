"""The project's C++ rules: cc_library/cc_binary/cc_test with the project's flags applied.

Every compiled target of Picos for C++ carries PICOS_COPTS (bazel/copts.bzl) and links
-pthread; these wrappers say it once instead of in every rule. Extra `copts`/`linkopts` are
appended. Use them in this repository's BUILD files:

    load("//bazel:cc.bzl", "picos_cc_library", "picos_cc_test")
    picos_cc_library(name = "x", srcs = ["x.cc"], hdrs = ["x.h"], deps = ["//picos"])
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")
load("//bazel:copts.bzl", "PICOS_COPTS")

_LINKOPTS = ["-pthread"]

def picos_cc_library(name, copts = [], linkopts = [], **kwargs):
    """cc_library with PICOS_COPTS and -pthread."""
    cc_library(name = name, copts = PICOS_COPTS + copts, linkopts = _LINKOPTS + linkopts, **kwargs)

def picos_cc_binary(name, copts = [], linkopts = [], **kwargs):
    """cc_binary with PICOS_COPTS and -pthread."""
    cc_binary(name = name, copts = PICOS_COPTS + copts, linkopts = _LINKOPTS + linkopts, **kwargs)

def picos_cc_test(name, copts = [], linkopts = [], **kwargs):
    """cc_test with PICOS_COPTS and -pthread (a test outside the scheduler matrix)."""
    cc_test(name = name, copts = PICOS_COPTS + copts, linkopts = _LINKOPTS + linkopts, **kwargs)
