// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/dispatch.h — the calling thread's installed handler and current fiber, read
// inline by the core's operations. Private to //picos (a source of the library, not a header
// of it).
//
// Hazard: a fiber may suspend on one thread and resume on another (multififo), and the
// compiler may keep a thread-local's address across a call (in position-independent code it
// comes from __tls_get_addr, which gcc treats as pure). So read `tls_dispatch` only where no
// switch can come between the read and the use, and never again after an operation that may
// switch: the operations below read it once and end with the handler's call.
// Fiber::current() and set_current_fiber() stay out of line for every other caller.

#ifndef PICOS_INTERNAL_DISPATCH_H_
#define PICOS_INTERNAL_DISPATCH_H_

#include "picos/handler.h"

namespace picos {
namespace internal {

// Trivially constructible: a plain thread-local load (no init guard, no TLS wrapper call).
struct DispatchState {
  Handler* handler;
  Fiber* fiber;
};
extern thread_local constinit DispatchState tls_dispatch;  // picos/handler.cc

// The handler one operation dispatches to (the installed one, else the default): two
// instructions instead of a call to current_handler(). Only as the last thread-local access
// of its caller (above).
[[gnu::always_inline]] inline Handler& handler_for_this_call() noexcept {
  if (Handler* h = tls_dispatch.handler) [[likely]]
    return *h;
  return current_handler();
}

}  // namespace internal
}  // namespace picos

#endif  // PICOS_INTERNAL_DISPATCH_H_
