// Copyright 2026 The Picos for C++ Authors.
//
// mux/context/internal/thread_state.h — what each thread knows about the context it runs,
// and the stack-overflow report.
//
// `ThreadState` is a plain thread_local struct: the running context, and that context's
// stack (whose guard range the SIGSEGV/SIGBUS handler compares with the faulting address).
// `Context::resume()` sets both before switching in and restores them after switching back.
//
// Migration hazard: code on a fiber stack can suspend on one thread and continue on another,
// and gcc may keep the address of a thread_local in a register across a call (or treat a
// function returning it as const). Therefore thread_state() is `noipa` (never inlined, never
// analysed across calls): every call computes the address for the thread it runs on.
// Private to mux/context.

#ifndef PICOS_MUX_CONTEXT_INTERNAL_THREAD_STATE_H_
#define PICOS_MUX_CONTEXT_INTERNAL_THREAD_STATE_H_

#include "picos/internal/attributes.h"

namespace picos::mux::context {
class Context;
class Stack;
}  // namespace picos::mux::context

namespace picos::mux::context::internal {

struct ThreadState {
  Context* current;    // the context running on this thread; nullptr on the thread's stack
  const Stack* stack;  // its stack (the handler reads its guard range)
  bool prepared;       // prepare_thread() ran on this thread
};

// The calling thread's state. Any thread; one call and a TLS address computation (~1 ns).
PICOS_NOIPA ThreadState* thread_state() noexcept;

// Done once per thread, the first time it resumes a context (`ts` is its state): installs
// the SIGSEGV/SIGBUS overflow handler process-wide (std::call_once) and gives the thread an
// alternate signal stack (unmapped at thread exit) so the handler can run after an overflow.
// Under ASan/TSan it only sets `prepared`: the sanitizers handle SEGV themselves. Cold path.
void prepare_thread(ThreadState* ts) noexcept;

}  // namespace picos::mux::context::internal

#endif  // PICOS_MUX_CONTEXT_INTERNAL_THREAD_STATE_H_
