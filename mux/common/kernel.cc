// Copyright 2026 The Picos for C++ Authors.

#include "mux/common/kernel.h"

#include <cstdio>
#include <string>

namespace picos::mux::common {

void warn_stall(absl::string_view scheduler, std::size_t blocked, std::chrono::nanoseconds after,
                bool main_finished) noexcept {
  std::fprintf(stderr,
               "%.*s: %zu fiber(s) have been blocked for %.3f s with no timer pending (main %s); "
               "waiting for another thread to wake them\n",
               static_cast<int>(scheduler.size()), scheduler.data(), blocked,
               std::chrono::duration<double>(after).count(),
               main_finished ? "has finished" : "is among them");
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
