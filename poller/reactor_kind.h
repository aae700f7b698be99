// Copyright 2026 The Picos for C++ Authors.
//
// poller/reactor_kind.h — which reactor a scheduler's io waits use: the value of the
// `reactor` option of mux/fifo and mux/multififo (docs/io.md#choosing-the-reactor).
//
//   picos::mux::fifo::Options o;
//   o.reactor = picos::ReactorKind::kIoUring;
//
// kDefault defers to the environment variable PICOS_REACTOR (`epoll` or `io_uring`; unset or
// empty: epoll), read when the scheduler starts, so a binary can be switched without a
// rebuild. Where io_uring is asked for but cannot be used (kernel before 5.13, io_uring
// disabled by the kernel.io_uring_disabled sysctl or a seccomp filter), the scheduler uses
// epoll and the process prints one line to stderr, once: never a failure.

#ifndef PICOS_POLLER_REACTOR_KIND_H_
#define PICOS_POLLER_REACTOR_KIND_H_

namespace picos {

enum class ReactorKind : unsigned char {
  kDefault,  // PICOS_REACTOR, else epoll
  kEpoll,    // poller/epoll_poller.h: level-triggered one-shot epoll, re-armed per wait
  kIoUring,  // poller/uring_poller.h: one-shot polls (and reads) in an io_uring, per wait
};

}  // namespace picos

#endif  // PICOS_POLLER_REACTOR_KIND_H_
