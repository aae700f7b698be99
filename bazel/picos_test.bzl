"""The conformance matrix: one test source, one cc_test per scheduler configuration.

The way to test a library written against //picos: over every scheduler configuration, from
this repository or from any workspace that depends on it:

    load("@picos_cpp//bazel:picos_test.bzl", "picos_test")   # "//bazel:..." inside this repository
    picos_test(name = "ivar_test", srcs = ["ivar_test.cc"], deps = [":ivar"])

Labels below are Label(...)s, so they resolve in this repository whichever workspace loads
the macro.
"""

load("@rules_cc//cc:defs.bzl", "cc_library", "cc_test")
load("//bazel:copts.bzl", "PICOS_COPTS")

# Scheduler configurations: name -> (the testonly library implementing picos::testing for its
# scheduler, the environment that configures it). Each library reads its settings at startup
# from PICOS_TESTING_* variables (documented in mux/testing/testing.h) and aborts on a bad one;
# the macro adds PICOS_TESTING_CONFIG=<name>, which scheduler_name() reports.
# A new scheduler configuration adds itself here (and, for a new scheduler, its library beside
# the scheduler), nowhere else: tests, test_suites and the tag picos_<name> follow.
_FIFO = Label("//mux/testing:fifo")
_MULTIFIFO = Label("//mux/multififo:testing")
_RANDOS = Label("//randos:testing")

SCHEDULERS = {
    "fifo": (_FIFO, {}),
    "fifo_q1": (_FIFO, {"PICOS_TESTING_QUOTA": "1"}),
    "fifo_cf": (_FIFO, {"PICOS_TESTING_CHILD_FIRST": "1"}),
    "libevent": (Label("//mux/libevent:testing"), {}),
    "lifo": (Label("//mux/testing/lifo:testing"), {}),
    "multififo_t1": (_MULTIFIFO, {"PICOS_TESTING_THREADS": "1"}),
    "multififo_t2": (_MULTIFIFO, {"PICOS_TESTING_THREADS": "2"}),
    "multififo_t2_cf": (
        _MULTIFIFO,
        {"PICOS_TESTING_THREADS": "2", "PICOS_TESTING_CHILD_FIRST": "1"},
    ),
    "multififo_t4": (_MULTIFIFO, {"PICOS_TESTING_THREADS": "4"}),
    "nosched": (Label("//mux/testing:nosched"), {}),
    "randos_s1": (_RANDOS, {"PICOS_TESTING_SEED": "1"}),
    "randos_s2": (_RANDOS, {"PICOS_TESTING_SEED": "2"}),
    "randos_s3": (_RANDOS, {"PICOS_TESTING_SEED": "3"}),
    "randos_fresh": (_RANDOS, {"PICOS_TESTING_SEED": "0"}),  # a fresh seed at every run, printed
    "randos_t2": (_RANDOS, {"PICOS_TESTING_SEED": "7", "PICOS_TESTING_THREADS": "2"}),
    "randos_vclock": (_RANDOS, {"PICOS_TESTING_SEED": "11", "PICOS_TESTING_VCLOCK": "1"}),
    "thread": (Label("//mux/thread:testing"), {}),
}

# Columns a test takes only when it asks for them (picos_test's `extra_schedulers`): the
# schedulers that own a reactor, on io_uring instead of epoll (PICOS_TESTING_IO_URING). //io's
# tests take them (IO_URING_SCHEDULERS); the rest of the matrix waits for no descriptor, and
# would only double its CI time. Any test may be run on io_uring everywhere instead with
# --test_env=PICOS_REACTOR=io_uring (the fifo and multififo columns then use it).
EXTRA_SCHEDULERS = {
    "fifo_uring": (_FIFO, {"PICOS_TESTING_IO_URING": "1"}),
    "multififo_t2_uring": (
        _MULTIFIFO,
        {"PICOS_TESTING_THREADS": "2", "PICOS_TESTING_IO_URING": "1"},
    ),
}

IO_URING_SCHEDULERS = sorted(EXTRA_SCHEDULERS.keys())

_CONFIG_VAR = "PICOS_TESTING_CONFIG"

# Every generated test carries this tag, and picos_<configuration> (picos_fifo, ...).
MATRIX_TAG = "picos_matrix"

def scheduler_tag(sched):
    """The tag that selects one column of the matrix: --test_tag_filters=picos_<sched>."""
    return "picos_" + sched

_TESTING_H = Label("//mux/testing:testing_h")
_GTEST = Label("//third_party:gtest")
_GTEST_MAIN = Label("//third_party:gtest_main")

def picos_test(
        name,
        srcs,
        deps = [],
        schedulers = None,
        tags = [],
        size = "small",
        copts = [],
        gtest = _GTEST,
        gtest_main = _GTEST_MAIN,
        env = {},
        extra_schedulers = [],
        **kwargs):
    """Expands to <name>_<configuration> for each configuration, plus a test_suite <name>.

    Each generated test links the configuration's picos::testing implementation and
    `gtest_main`, runs with the configuration's environment (PICOS_TESTING_*, see
    mux/testing/testing.h), and is tagged "picos_matrix" and "picos_<configuration>", so
    `bazel test --test_tag_filters=picos_fifo //...` runs one column of the matrix.

    Args:
      name: base name.
      srcs: test sources (they call picos::testing::run).
      deps: extra dependencies (the library under test).
      schedulers: subset of SCHEDULERS' names to use (default: all).
      tags: extra tags.
      size: test size.
      copts: extra compiler flags for srcs (they are compiled with PICOS_COPTS, -std=c++20).
      gtest: the GoogleTest library the sources compile against (default: Debian's, via
        @com_google_googletest). Pass your own to link your workspace's GoogleTest.
      gtest_main: the library providing main() (it must match `gtest`).
      env: extra environment of every generated test; it may not set PICOS_TESTING_*
        variables (the configuration's own).
      extra_schedulers: names of EXTRA_SCHEDULERS to add (e.g. IO_URING_SCHEDULERS).
      **kwargs: passed to every cc_test.
    """

    # The source is compiled once; each configuration only links it with its scheduler.
    # (It may use only the picos::testing interface, which is the same for all of them.)
    lib = name + "_cases"
    cc_library(
        name = lib,
        testonly = True,
        srcs = srcs,
        copts = PICOS_COPTS + copts,
        deps = deps + [_TESTING_H, gtest],
        alwayslink = True,
        tags = tags,
    )
    for var in env:
        if var.startswith("PICOS_TESTING_"):
            fail("picos_test %s: env may not set %s (the configurations set PICOS_TESTING_*)" %
                 (name, var))
    tests = []
    for sched in (schedulers or SCHEDULERS.keys()):
        if sched not in SCHEDULERS:
            fail("picos_test %s: unknown scheduler configuration '%s' (one of: %s)" %
                 (name, sched, ", ".join(SCHEDULERS.keys())))
    for sched in extra_schedulers:
        if sched not in EXTRA_SCHEDULERS:
            fail("picos_test %s: unknown extra configuration '%s' (one of: %s)" %
                 (name, sched, ", ".join(EXTRA_SCHEDULERS.keys())))
    for sched in list(schedulers or SCHEDULERS.keys()) + list(extra_schedulers):
        test_name = "%s_%s" % (name, sched)
        library, sched_env = SCHEDULERS[sched] if sched in SCHEDULERS else EXTRA_SCHEDULERS[sched]
        test_env = dict(env)
        test_env.update(sched_env)
        test_env[_CONFIG_VAR] = sched
        cc_test(
            name = test_name,
            size = size,
            deps = [
                ":" + lib,
                library,
                gtest_main,
            ],
            env = test_env,
            tags = tags + [MATRIX_TAG, scheduler_tag(sched)],
            **kwargs
        )
        tests.append(":" + test_name)
    native.test_suite(name = name, tests = tests, tags = tags)
