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

// What the C++ runtime keeps per thread about exceptions (the Itanium C++ ABI's
// __cxa_eh_globals, as libstdc++ and libc++abi lay it out): the exceptions being handled
// (catch blocks entered and not left) and the count std::uncaught_exceptions() returns. A
// context carries its own while it is suspended, and every switch trades it with the
// thread's, so that a fiber may suspend inside a catch block, or in a destructor while an
// exception propagates, and resume on any thread (docs/hazards.md).
struct EhState {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
#ifdef __ARM_EABI_UNWINDER__
  void* propagating_exceptions = nullptr;
#endif
};

// Saves the thread's exception state `*thread` into `save` and puts `load` in its place. Whole
// objects, padding included (16 bytes on x86-64: two vector moves rather than four scalar ones).
inline void trade_eh_state(EhState& save, EhState* thread, const EhState& load) noexcept {
  __builtin_memcpy(&save, thread, sizeof(EhState));
  __builtin_memcpy(thread, &load, sizeof(EhState));
}

struct ThreadState {
  Context* current;    // the context running on this thread; nullptr on the thread's stack
  const Stack* stack;  // its stack (the handler reads its guard range)
  EhState* eh;         // the runtime's exception state of this thread (set by prepare_thread)
  bool prepared;       // prepare_thread() ran on this thread
};

// The calling thread's state. Any thread; one call and a TLS address computation (~1 ns).
PICOS_NOIPA ThreadState* thread_state() noexcept;

// Done once per thread, the first time it resumes a context (`ts` is its state): finds the
// thread's exception state (`eh`, which lives as long as the thread), installs
// the SIGSEGV/SIGBUS overflow handler process-wide (std::call_once) and gives the thread an
// alternate signal stack (unmapped at thread exit) so the handler can run after an overflow.
// Under ASan/TSan it only sets `prepared`: the sanitizers handle SEGV themselves. Cold path.
void prepare_thread(ThreadState* ts) noexcept;

}  // namespace picos::mux::context::internal

#endif  // PICOS_MUX_CONTEXT_INTERNAL_THREAD_STATE_H_
