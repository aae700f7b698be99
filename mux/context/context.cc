// Copyright 2026 The Picos for C++ Authors.
//
// The switch protocol ("resumer on the resumer's stack", docs/context.md):
//  - resume() builds a `Resumer` on its own stack, records it in `resumer_`, publishes this
//    context in the thread's ThreadState, and jumps to the context's saved fcontext with the
//    Resumer's address as the transfer data.
//  - The context, when it starts or returns from a jump, stores the resumer's fcontext in that
//    Resumer. suspend() jumps back to it; so does the final switch after the entry function
//    returns. Nothing on the context side reads a thread_local: after a jump it may be on a
//    different thread, and the Resumer it was handed tells it everything it needs.
//  - resume() never migrates (the context only ever returns to the thread running that
//    resume()), so it may keep thread-local state across its jump; it re-reads it anyway.
//  - After the final switch, resume() gives the stack back to its own thread's pool: the
//    stack is released by a thread that is no longer running on it.

#include "mux/context/context.h"

#include <boost/context/detail/fcontext.hpp>

#include "mux/context/internal/fatal.h"
#include "mux/context/internal/sanitizers.h"
#include "mux/context/internal/thread_state.h"
#include "mux/context/stack.h"

namespace picos::mux::context {

namespace bc = boost::context::detail;

struct Context::Resumer {
  Context* self;
  bc::fcontext_t ctx = nullptr;  // where the context jumps back to
#ifdef PICOS_CONTEXT_TSAN
  void* tsan_fiber = nullptr;  // TSan fiber of the resuming thread or context
#endif
#ifdef PICOS_CONTEXT_ASAN
  const void* stack_bottom = nullptr;  // the resumer's stack, learned by the context
  std::size_t stack_size = 0;
#endif

  // The fcontext entry point: runs on the new stack at the first resume(). It is not
  // instrumented by TSan: it never returns, so a __tsan_func_entry here would stay on the
  // pooled TSan fiber's shadow stack forever and pile up as the stack is reused.
  PICOS_CONTEXT_NO_TSAN static void enter(bc::transfer_t t) noexcept;
};

namespace {

std::size_t round_stack_size(std::size_t size) noexcept {
  if (size < kMinStackSize) size = kMinStackSize;
  const std::size_t page = page_size();
  return (size + page - 1) / page * page;
}

}  // namespace

Context::Context(Entry entry, void* arg, std::size_t stack_size) noexcept
    : entry_(entry), arg_(arg), stack_size_(round_stack_size(stack_size)) {}

Context::~Context() {
  if (resumer_ != nullptr) internal::fatal("a Context was destroyed while it was running");
  if (started_ && !finished_) release_stack(/*abandoned=*/true);
}

__attribute__((noipa)) Context* Context::current() noexcept {
  return internal::thread_state()->current;
}

void Context::start() noexcept {
  stack_ = StackPool::take(stack_size_);
  fctx_ = bc::make_fcontext(stack_->top(), stack_->usable_size(), &Resumer::enter);
  started_ = true;
}

void Context::release_stack(bool abandoned) noexcept {
  stack_->forget_fiber_state(abandoned);
  StackPool::give(stack_);
  stack_ = nullptr;
  fctx_ = nullptr;
}

bool Context::resume() noexcept {
  if (finished_) internal::fatal("Context::resume() called on a finished context");
  if (resumer_ != nullptr) internal::fatal("Context::resume() called on a running context");
  if (!started_) start();

  internal::ThreadState* ts = internal::thread_state();
  if (!ts->prepared) [[unlikely]] {
    internal::prepare_thread(ts);
  }
  Context* const outer = ts->current;
  const Stack* const outer_stack = ts->stack;
  ts->current = this;
  ts->stack = stack_;

  Resumer r{this};
  resumer_ = &r;
#ifdef PICOS_CONTEXT_TSAN
  r.tsan_fiber = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(stack_->tsan_fiber(), 0);
#endif
#ifdef PICOS_CONTEXT_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, stack_->limit(), stack_->usable_size());
#endif
  bc::transfer_t t = bc::jump_fcontext(fctx_, &r);
#ifdef PICOS_CONTEXT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif

  ts = internal::thread_state();  // same thread, but never trust a TLS address across a jump
  ts->current = outer;
  ts->stack = outer_stack;
  if (finished_) {
    release_stack(/*abandoned=*/false);
    return true;
  }
  fctx_ = t.fctx;
  return false;
}

void Context::suspend() noexcept {
  Resumer* r = resumer_;
  if (r == nullptr) internal::fatal("Context::suspend() called on a context that is not running");
  stack_->check_canary();
  resumer_ = nullptr;
#ifdef PICOS_CONTEXT_TSAN
  __tsan_switch_to_fiber(r->tsan_fiber, 0);
#endif
#ifdef PICOS_CONTEXT_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, r->stack_bottom, r->stack_size);
#endif
  bc::transfer_t t = bc::jump_fcontext(r->ctx, nullptr);
  // Resumed, possibly by another thread: only the new Resumer is trusted from here on.
  r = static_cast<Resumer*>(t.data);
  r->ctx = t.fctx;
#ifdef PICOS_CONTEXT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, &r->stack_bottom, &r->stack_size);
#endif
}

void Context::Resumer::enter(bc::transfer_t t) noexcept {
  Resumer* r = static_cast<Resumer*>(t.data);
  r->ctx = t.fctx;
#ifdef PICOS_CONTEXT_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &r->stack_bottom, &r->stack_size);
#endif
  Context* self = r->self;
  self->entry_(self->arg_);

  // Finished. The resumer may have changed while the entry function ran (migration).
  self->stack_->check_canary();
  r = self->resumer_;
  self->resumer_ = nullptr;
  self->finished_ = true;
#ifdef PICOS_CONTEXT_TSAN
  __tsan_switch_to_fiber(r->tsan_fiber, 0);
#endif
#ifdef PICOS_CONTEXT_ASAN
  // No fake-stack slot: this stack is going away, ASan may free its fake stack.
  __sanitizer_start_switch_fiber(nullptr, r->stack_bottom, r->stack_size);
#endif
  bc::jump_fcontext(r->ctx, nullptr);
  internal::fatal("a finished context was resumed");  // unreachable
}

}  // namespace picos::mux::context
