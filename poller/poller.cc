// Copyright 2026 The Picos for C++ Authors.

#include "poller/poller.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace picos::internal {
namespace {

// One line per process and reason: a scheduler started a thousand times says it once.
void say_once(std::atomic<bool>& said, const std::string& line) noexcept {
  if (said.exchange(true, std::memory_order_relaxed)) return;
  std::fprintf(stderr, "%s\n", line.c_str());
}

ReactorKind from_environment() noexcept {
  const char* v = std::getenv("PICOS_REACTOR");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "epoll") == 0) return ReactorKind::kEpoll;
  if (std::strcmp(v, "io_uring") == 0) return ReactorKind::kIoUring;
  static std::atomic<bool> said{false};
  say_once(said, std::string("picos: PICOS_REACTOR=") + v +
                     " is neither epoll nor io_uring; using epoll");
  return ReactorKind::kEpoll;
}

}  // namespace

ReactorKind resolve_reactor(ReactorKind requested) noexcept {
  if (requested == ReactorKind::kDefault) requested = from_environment();
  if (requested != ReactorKind::kIoUring) return ReactorKind::kEpoll;
  std::string why;
  if (UringPoller::available(&why)) return ReactorKind::kIoUring;
  static std::atomic<bool> said{false};
  say_once(said, "picos: io_uring unavailable (" + why + "); using epoll");
  return ReactorKind::kEpoll;
}

}  // namespace picos::internal
