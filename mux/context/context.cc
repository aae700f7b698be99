// Copyright 2026 The Picos for C++ Authors.
//
// The switch protocol ("resumer on the resumer's stack", docs/context.md):
//  - run() builds a `Resumer` on its own stack, records it in `resumer_`, publishes this
//    context in the thread's ThreadState, and jumps to the context's saved fcontext handing
//    it a `Hop` {resumer, from = nullptr, to}.
//  - A context may hand the thread to another with switch_to(): it publishes the target in
//    the ThreadState its Resumer recorded (the run() call's thread, which every context under
//    it runs on), passes its Resumer on and jumps straight to the target, handing it itself
//    (or, for the target's first run, a Hop {resumer, from = itself, to}).
//  - Every context, when it starts or returns from a jump, reads what it was handed first
//    (`arrive`): the jumper's saved fcontext goes to the Resumer (from run()) or to the
//    jumping context (from switch_to). A Hop is told from a context by its low bit, set on
//    Hops. suspend() jumps back to the Resumer, naming itself in `returned`; so does the
//    final switch after the entry function returns. After a jump the context reads
//    no thread_local it read before: it may be on a different thread.
//  - run() never migrates (only contexts running under it return to it, on the thread running
//    that run()), so it may keep thread-local state across its jump; it re-reads it anyway.
//  - After the final switch, run() gives the finished context's stack back to its own
//    thread's pool: the stack is released by a thread that is no longer running on it.

#include "mux/context/context.h"

#include <boost/context/detail/fcontext.hpp>
#include <cstdint>

#include "absl/base/attributes.h"
#include "mux/context/internal/fatal.h"
#include "mux/context/internal/sanitizers.h"
#include "mux/context/internal/thread_state.h"
#include "mux/context/stack.h"
#include "picos/internal/attributes.h"

namespace picos::mux::context {

namespace bc = boost::context::detail;

// The transfer data of every jump into a context (jumps back to a Resumer carry nothing).
// Lives on the jumper's stack; read by the target before anything else runs.
struct Context::Hop {
  Resumer* resumer;  // the run() call the target runs under from now on
  Context* from;     // the context that jumped (t.fctx is its saved state); nullptr: run()
  Context* to;       // the target
};

namespace {
// A Hop's address with the low bit set, as jumps hand it over.
void* tag(void* hop) noexcept {
  return static_cast<char*>(hop) + 1;  // (Hops are aligned: the bit was clear)
}
}  // namespace

const Context::Hop* Context::untag(void* data) noexcept {
  return reinterpret_cast<const Hop*>(static_cast<char*>(data) - 1);
}

// arrive()'s other case (context.h): `data` is a tagged Hop. Under ASan a jump from run() also
// tells the target the resumer's stack bounds, for jumping back.
void Context::arrive_from_hop(void* fctx, void* data, [[maybe_unused]] void* fake_stack) noexcept {
  const Hop* hop = untag(data);
  if (hop->from != nullptr) {
    hop->from->fctx_ = fctx;
#ifdef PICOS_CONTEXT_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
  } else {
    Resumer* r = hop->resumer;
    r->ctx = fctx;
#ifdef PICOS_CONTEXT_ASAN
    __sanitizer_finish_switch_fiber(fake_stack, &r->stack_bottom, &r->stack_size);
#endif
  }
}

namespace {

std::size_t round_stack_size(std::size_t size) noexcept {
  if (size < kMinStackSize) size = kMinStackSize;
  if (size > kMaxStackSize) size = kMaxStackSize;
  // A power of two: a mask, not a division (a `div` instruction per fiber created).
  const std::size_t page = page_size();
  return (size + page - 1) & ~(page - 1);
}

}  // namespace

Context::Context(Entry entry, void* arg, std::size_t stack_size) noexcept
    : entry_(entry), arg_(arg), stack_size_(round_stack_size(stack_size)) {}

Context::~Context() {
  if (resumer_ != nullptr) internal::fatal("a Context was destroyed while it was running");
  if (phase_ == kStarted) release_stack(/*abandoned=*/true);
}

PICOS_NOIPA Context* Context::current() noexcept { return internal::thread_state()->current; }

void Context::start() noexcept {
  stack_ = StackPool::take(stack_size_);
  fctx_ = bc::make_fcontext(stack_->top(), stack_->usable_size(), &Resumer::enter);
  phase_ = kStarted;
}

void Context::release_stack(bool abandoned) noexcept {
  stack_->forget_fiber_state(abandoned);
  StackPool::give(stack_);
  stack_ = nullptr;
  fctx_ = nullptr;
}

Context::Outcome Context::run() noexcept {
  if (phase_ == kFinished) internal::fatal("Context::resume() called on a finished context");
  if (resumer_ != nullptr) internal::fatal("Context::resume() called on a running context");
  if (phase_ == kNew) start();

  internal::ThreadState* ts = internal::thread_state();
  if (!ts->prepared) [[unlikely]] {
    internal::prepare_thread(ts);
  }
  Context* const outer = ts->current;
  const Stack* const outer_stack = ts->stack;
  ts->current = this;
  ts->stack = stack_;

  Resumer r;
  r.ts = ts;
  internal::trade_eh_state(r.eh, ts->eh, eh_);  // the caller's waits here; the context's in
  resumer_ = &r;
  Hop hop{&r, nullptr, this};
#ifdef PICOS_CONTEXT_TSAN
  r.tsan_fiber = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(stack_->tsan_fiber(), 0);
#endif
#ifdef PICOS_CONTEXT_ASAN
  void* fake_stack = nullptr;
  __sanitizer_start_switch_fiber(&fake_stack, stack_->limit(), stack_->usable_size());
#endif
  bc::transfer_t t = bc::jump_fcontext(fctx_, tag(&hop));
#ifdef PICOS_CONTEXT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif

  ts = internal::thread_state();  // same thread, but never trust a TLS address across a jump
  ts->current = outer;
  ts->stack = outer_stack;
  Context* back = r.returned;
  if (back->phase_ == kFinished) {
    back->release_stack(/*abandoned=*/false);
    return {back, true};
  }
  back->fctx_ = t.fctx;
  return {back, false};
}

bool Context::resume() noexcept {
  Outcome o = run();
  if (o.context != this) {
    internal::fatal(
        "Context::resume(): another context came back (it was reached by switch_to); use run()");
  }
  return o.finished;
}

void Context::suspend_not_running() noexcept {
  internal::fatal("Context::suspend() called on a context that is not running");
}

void Context::switch_to_slow(Context& next) noexcept {
  Resumer* const r = resumer_;
  if (r == nullptr) internal::fatal("Context::switch_to() called on a context that is not running");
  if (&next == this) internal::fatal("Context::switch_to() called with the running context");
  if (next.phase_ == kFinished) {
    internal::fatal("Context::switch_to() called with a finished context");
  }
  if (next.resumer_ != nullptr)
    internal::fatal("Context::switch_to() called with a running context");
  stack_->check_canary();
  next.start();  // the only case left: `next` has not run yet
  Hop out{r, this, &next};
  jump_to(next, r, tag(&out));
}

void Context::Resumer::enter(bc::transfer_t t) noexcept {
  // A first run is always handed a (tagged) Hop.
  Context* self = untag(t.data)->to;
  arrive(t.fctx, t.data, nullptr);
  self->entry_(self->arg_);

  // Finished. The resumer may have changed while the entry function ran (migration, switches).
  self->stack_->check_canary();
  Resumer* r = self->resumer_;
  self->resumer_ = nullptr;
  self->phase_ = kFinished;
  r->returned = self;
  *r->ts->eh = r->eh;  // the finished context's own is empty: no catch block is left open
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
