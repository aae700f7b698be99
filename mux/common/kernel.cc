// Copyright 2026 The Picos for C++ Authors.

#include "mux/common/kernel.h"

#include <cxxabi.h>

#include <cstdio>
#include <optional>
#include <string>

#include "picos/debug.h"
#include "picos/internal/attributes.h"

namespace picos::mux::common {

namespace {
// The per-thread exception globals of the Itanium C++ ABI (its exception handling chapter,
// "Caught Exception Stack"; libstdc++ and libc++abi lay them out so): the exceptions caught
// and not yet finished with, innermost first, and the count std::uncaught_exceptions()
// returns.
struct EhGlobals {
  void* caught_exceptions;
  unsigned int uncaught_exceptions;
};

// This thread's EhGlobals, found once: the runtime's own lookup goes through __tls_get_addr
// (libstdc++ is a shared library), 31 instructions of a child-first spawn's 955 on fifo_cf
// (callgrind), where this thread_local of ours is one load. The globals live as long as the
// thread, at an address that never changes.
thread_local constinit const EhGlobals* t_eh_globals = nullptr;
}  // namespace

// One lookup where std::uncaught_exceptions() and abi::__cxa_current_exception_type() make
// two. Not inlined (PICOS_NOIPA): a fiber may move to another thread between two calls, so
// no caller may keep the thread-local's address across a switch.
PICOS_NOIPA bool may_switch_now() noexcept {
  const EhGlobals* g = t_eh_globals;
  if (g == nullptr) [[unlikely]] {
    g = reinterpret_cast<const EhGlobals*>(abi::__cxa_get_globals());
    t_eh_globals = g;
  }
  return g->uncaught_exceptions == 0 && g->caught_exceptions == nullptr;
}

void warn_stall(absl::string_view scheduler, std::size_t blocked, std::chrono::nanoseconds after,
                std::optional<bool> main_finished) noexcept {
  const char* main = !main_finished   ? ""
                     : *main_finished ? " (main has finished)"
                                      : " (main is among them)";
  std::fprintf(stderr,
               "%.*s: %zu fiber(s) have been blocked for %.3f s with no timer pending%s; "
               "waiting for another thread to wake them\n",
               static_cast<int>(scheduler.size()), scheduler.data(), blocked,
               std::chrono::duration<double>(after).count(), main);
  // Then every fiber and what it waits for (with the deadlocks the wait labels show).
  debug::dump_to_stderr();
}

void warn_alive(absl::string_view scheduler, std::size_t alive, std::size_t blocked,
                std::chrono::nanoseconds after) noexcept {
  std::fprintf(stderr,
               "%.*s: main has finished but %zu fiber(s) are still alive after %.3f s (%zu "
               "blocked in await); waiting for them\n",
               static_cast<int>(scheduler.size()), scheduler.data(), alive,
               std::chrono::duration<double>(after).count(), blocked);
}

}  // namespace picos::mux::common
