// Copyright 2026 The Picos for C++ Authors.

#include "picos/internal/asymmetric_fence.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace picos::internal {
namespace {

#if defined(__linux__) && defined(__NR_membarrier)
long membarrier(int cmd) noexcept { return ::syscall(__NR_membarrier, cmd, 0, 0); }

bool register_expedited() noexcept {
  const long cmds = membarrier(MEMBARRIER_CMD_QUERY);
  if (cmds < 0 || (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 ||
      (cmds & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
    return false;
  }
  return membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}
#else
bool register_expedited() noexcept { return false; }
#endif

std::atomic<bool> g_asymmetric_wanted{true};

}  // namespace

bool asymmetric_fences() noexcept {
  static const bool available = register_expedited();  // registers even when tests turned it off
  return available && g_asymmetric_wanted.load(std::memory_order_relaxed);
}

void set_asymmetric_fences_for_testing(bool on) noexcept {
  g_asymmetric_wanted.store(on, std::memory_order_relaxed);
}

void heavy_fence() noexcept {
#if defined(__linux__) && defined(__NR_membarrier)
  if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) return;
  const int first = errno;
  if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
      membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) {
    return;
  }
  std::fprintf(stderr,
               "picos: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed (%s) after the "
               "kernel had accepted the process's registration (a seccomp filter installed "
               "since?): the threads that skip their fence on its account cannot be ordered; "
               "aborting\n",
               std::generic_category().message(first).c_str());
#else
  std::fprintf(stderr, "picos: heavy_fence() called where asymmetric_fences() is false\n");
#endif
  std::abort();
}

}  // namespace picos::internal
