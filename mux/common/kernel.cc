// Copyright 2026 The Picos for C++ Authors.

#include "mux/common/kernel.h"

#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

#include "picos/debug.h"

namespace picos::mux::common {

namespace {
std::logic_error off_fiber(const char* operation) {
  return std::logic_error(std::string(operation) +
                          ": called on the scheduler's own stack (in a trigger's action that "
                          "its loop ran, or in its fatal-error handler), not in a fiber");
}
}  // namespace

void throw_off_fiber(const char* operation) { throw off_fiber(operation); }

std::exception_ptr off_fiber_error(const char* operation) noexcept {
  try {
    return std::make_exception_ptr(off_fiber(operation));
  } catch (...) {  // std::bad_alloc
    return std::current_exception();
  }
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
