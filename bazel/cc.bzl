"""The project's C++ rules: cc_library/cc_binary/cc_test with the project's flags applied,
and the units its packages are made of.

Every compiled target of Picos for C++ carries PICOS_COPTS (bazel/copts.bzl) and links
-pthread; these wrappers say it once instead of in every rule. Extra `copts`/`linkopts` are
appended. Use them in this repository's BUILD files:

    load("//bazel:cc.bzl", "picos_cc_library", "picos_cc_test")
    picos_cc_library(name = "x", srcs = ["x.cc"], hdrs = ["x.h"], deps = ["//picos"])

and two shorthands on them: picos_header_library(name = "x", deps = [...]) for a header-only
library of x.h, and picos_unit_test(name = "x_test", deps = [":x"]) for a small gtest_main
test of x_test.cc outside the matrix.

On them, one call for each unit that recurs across packages:

    picos_library(name = "finally", deps = ["//picos"])

makes a library of //std or //io (:finally, finally.h) and its test on the conformance
matrix (:finally_test, finally_test.cc, with //std/sync:sync_testing; bazel/picos_test.bzl);

    picos_scheduler(name = "fifo", deps = STACKFUL_SCHEDULER_DEPS + ["//poller:epoll_poller"])

makes a scheduler (:fifo, fifo.h and fifo.cc), its picos::testing shim for the matrix
(:testing, testing.cc; picos_testing_library) and its unit test (:fifo_test, fifo_test.cc).
Only this repository's BUILD files use them: another workspace writes its library and calls
picos_test itself (docs/getting-started.md), and a scheduler of its own is the three rules
written out (docs/building.md).
"""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")
load("//bazel:copts.bzl", "PICOS_COPTS")
load("//bazel:picos_test.bzl", "picos_test")

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

def picos_header_library(name, **kwargs):
    """A header-only library of one header, named after it: <name>.h (picos_cc_library)."""
    picos_cc_library(name = name, hdrs = [name + ".h"], **kwargs)

def picos_unit_test(name, deps, srcs = None, **kwargs):
    """A small gtest_main test outside the scheduler matrix (picos_cc_test).

    Args:
      name: the test; its source is <name>.cc unless `srcs` says otherwise.
      deps: what it tests and uses; //third_party:gtest_main is added last.
      srcs: its sources (default: <name>.cc).
      **kwargs: the rest of cc_test's attributes (env, local_defines, ...).
    """
    picos_cc_test(
        name = name,
        size = "small",
        srcs = srcs or [name + ".cc"],
        deps = deps + ["//third_party:gtest_main"],
        **kwargs
    )

def picos_library(name, deps, srcs = [], hdrs = None, test_deps = [], test_extra_schedulers = []):
    """The library <name> and its matrix test <name>_test.

    Args:
      name: the library, named after its header (<name>.h); its test is <name>_test.cc.
      deps: the library's dependencies.
      srcs: its sources (default: none, a header-only library).
      hdrs: its public headers (default: <name>.h).
      test_deps: what the test uses besides the library, //picos and
        //std/sync:sync_testing.
      test_extra_schedulers: extra columns for the test (picos_test's extra_schedulers).
    """
    picos_cc_library(
        name = name,
        srcs = srcs,
        hdrs = hdrs or [name + ".h"],
        deps = deps,
    )
    picos_test(
        name = name + "_test",
        srcs = [name + "_test.cc"],
        deps = [":" + name] + sorted(["//picos", "//std/sync:sync_testing"] + test_deps),
        extra_schedulers = test_extra_schedulers,
    )

# What a scheduler runs on: the kernel (//mux/common), the options and run entry point of its
# public header (//mux/common:options) and the core.
SCHEDULER_DEPS = [
    "//mux/common",
    "//mux/common:options",
    "//picos",
]

# A scheduler whose fibers run on stacks of their own (//mux/context), not on OS threads.
STACKFUL_SCHEDULER_DEPS = sorted(SCHEDULER_DEPS + ["//mux/context"])

# What every picos::testing library implements the interface with: mux/testing/testing.h,
# and the reader of its PICOS_TESTING_* settings (mux/testing/config.h).
_TESTING_DEPS = [
    "//mux/testing:config",
    "//mux/testing:testing_h",
]

def picos_testing_library(name, scheduler = None, srcs = None):
    """picos::testing on one scheduler: a testonly library a matrix column links.

    Public, so that picos_test works in any workspace (tests there link it).

    Args:
      name: the target's name.
      scheduler: the scheduler's target (None: no scheduler, //mux/testing:nosched).
      srcs: its source, which defines config::configure() and run_fiber (default:
        testing.cc).
    """
    picos_cc_library(
        name = name,
        testonly = True,
        srcs = srcs or ["testing.cc"],
        visibility = ["//visibility:public"],
        deps = ([scheduler] if scheduler else []) + _TESTING_DEPS,
    )

def picos_scheduler(
        name,
        deps,
        srcs = None,
        hdrs = None,
        testing = True,
        test_deps = [],
        testonly = None,
        visibility = None):
    """A scheduler: the library <name>, its shim :testing and the test <name>_test.

    Args:
      name: the scheduler, named after its header (<name>.h) and source (<name>.cc).
      deps: the library's dependencies: SCHEDULER_DEPS or STACKFUL_SCHEDULER_DEPS, plus the
        reactor and anything else it uses.
      srcs: the library's sources (default: <name>.cc).
      hdrs: its public headers (default: <name>.h).
      testing: whether the package has a picos::testing shim, :testing on testing.cc (False:
        it lives elsewhere, as //mux/testing:fifo does).
      test_deps: what <name>_test.cc uses besides the scheduler, //picos and gtest_main.
      testonly: for a scheduler that exists only for tests.
      visibility: the library's visibility (default: the package's).
    """
    picos_cc_library(
        name = name,
        testonly = testonly,
        srcs = srcs or [name + ".cc"],
        hdrs = hdrs or [name + ".h"],
        visibility = visibility,
        deps = deps,
    )
    if testing:
        picos_testing_library(name = "testing", scheduler = ":" + name)
    picos_unit_test(
        name = name + "_test",
        deps = [":" + name] + sorted(["//picos"] + test_deps),
    )
