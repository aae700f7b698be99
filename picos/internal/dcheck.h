// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/dcheck.h — PICOS_DCHECK(condition): an internal invariant check for debug
// builds.
//
//   PICOS_DCHECK(count_ <= capacity_);
//
// Active when NDEBUG is not defined: Bazel's fastbuild and dbg modes, and the sanitizer
// configs (--config=asan|tsan|ubsan). If the condition is false it prints
//   picos/foo.cc:42: PICOS_DCHECK failed: count_ <= capacity_
// to stderr and calls std::abort() (a core dump, or a sanitizer's stack trace).
//
// Compiled out with -c opt (--config=opt, which defines NDEBUG): the condition is then not
// evaluated, so it must have no side effects, but it is still compiled (it must stay valid
// code, and variables used only in it do not become "unused").
//
// For the project's own invariants only: never for checking arguments from users (those
// throw std::invalid_argument and friends, in every build).

#ifndef PICOS_INTERNAL_DCHECK_H_
#define PICOS_INTERNAL_DCHECK_H_

#include <cstdio>
#include <cstdlib>

namespace picos::internal {

// Prints "file:line: PICOS_DCHECK failed: condition" and aborts. Out of line and cold, so a
// check costs one compare and a not-taken branch where it stands.
[[noreturn]] __attribute__((noinline, cold)) inline void dcheck_failed(
    const char* file, int line, const char* condition) noexcept {
  std::fprintf(stderr, "%s:%d: PICOS_DCHECK failed: %s\n", file, line, condition);
  std::fflush(stderr);
  std::abort();
}

}  // namespace picos::internal

#if defined(NDEBUG)
#define PICOS_DCHECK(condition) \
  do {                          \
    if (false) {                \
      (void)(condition);        \
    }                           \
  } while (false)
#else
#define PICOS_DCHECK(condition)                                         \
  do {                                                                  \
    if (__builtin_expect(!(condition), 0)) {                            \
      ::picos::internal::dcheck_failed(__FILE__, __LINE__, #condition); \
    }                                                                   \
  } while (false)
#endif

#endif  // PICOS_INTERNAL_DCHECK_H_
