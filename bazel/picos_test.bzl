"""The conformance matrix: one test source, one cc_test per scheduler configuration."""

load("@rules_cc//cc:defs.bzl", "cc_test")

# Scheduler configurations: name -> the //mux/testing library implementing picos::testing
# for it. A new scheduler adds itself here (and in mux/testing/), nowhere else.
SCHEDULERS = {
    "fifo": "//mux/testing:fifo",
    "fifo_q1": "//mux/testing:fifo_q1",
    "fifo_cf": "//mux/testing:fifo_cf",
    "libevent": "//mux/libevent:testing",
    "multififo_t1": "//mux/multififo:testing_t1",
    "multififo_t2": "//mux/multififo:testing_t2",
    "multififo_t2_cf": "//mux/multififo:testing_t2_cf",
    "multififo_t4": "//mux/multififo:testing_t4",
    "nosched": "//mux/testing:nosched",
    "randos_s1": "//randos:testing_s1",
    "randos_s2": "//randos:testing_s2",
    "randos_s3": "//randos:testing_s3",
    "randos_fresh": "//randos:testing_fresh",
    "randos_t2": "//randos:testing_t2",
    "randos_vclock": "//randos:testing_vclock",
    "thread": "//mux/thread:testing",
}

def picos_test(name, srcs, deps = [], schedulers = None, tags = [], size = "small", **kwargs):
    """Expands to <name>_<scheduler> for each configuration, plus a test_suite <name>.

    Each generated test links the configuration's picos::testing implementation and
    gtest_main, and is tagged "picos_matrix" and with the configuration's name, so
    `bazel test --test_tag_filters=fifo //...` runs one column of the matrix.

    Args:
      name: base name.
      srcs: test sources (they call picos::testing::run).
      deps: extra dependencies (the library under test).
      schedulers: subset of SCHEDULERS to use (default: all).
      tags: extra tags.
      size: test size.
      **kwargs: passed to every cc_test.
    """
    # The source is compiled once; each configuration only links it with its scheduler.
    # (It may use only the picos::testing interface, which is the same for all of them.)
    lib = name + "_cases"
    native.cc_library(
        name = lib,
        testonly = True,
        srcs = srcs,
        deps = deps + [
            "//mux/testing:testing_h",
            "//third_party:gtest",
        ],
        alwayslink = True,
        tags = tags,
    )
    tests = []
    for sched in (schedulers or SCHEDULERS.keys()):
        test_name = "%s_%s" % (name, sched)
        cc_test(
            name = test_name,
            size = size,
            deps = [
                ":" + lib,
                SCHEDULERS[sched],
                "//third_party:gtest_main",
            ],
            tags = tags + ["picos_matrix", sched],
            **kwargs
        )
        tests.append(":" + test_name)
    native.test_suite(name = name, tests = tests, tags = tags)
