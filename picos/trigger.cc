// Copyright 2026 The Picos for C++ Authors.

#include "picos/trigger.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "absl/base/attributes.h"
#include "picos/handler.h"
#include "picos/internal/debug_registry.h"
#include "picos/internal/dispatch.h"

namespace picos {
namespace internal {

void TriggerState::release_if_unsignaled() noexcept {
  if (state_.load(std::memory_order_relaxed) == kAwaiting) release_(x_, y_);
}

namespace {
// The release of a from_action trigger given none: every from_action trigger has a release,
// which is how misuse is told apart from a second await (throw_awaiting). Ordinary triggers
// pay nothing for it; a from_action trigger given no release calls this on its (rare) path.
void no_release(void*, void*) noexcept {}

// The misuse of a trigger found Awaiting by `fn` (any thread's, cold): a from_action trigger
// (only those have a release: picos/trigger.h) or one already awaited.
[[noreturn, gnu::cold]] void throw_awaiting(const TriggerState& s, const char* fn,
                                            const char* cannot) {
  if (s.release_ != nullptr) {
    throw std::invalid_argument(std::string(fn) + ": a from_action trigger cannot be " + cannot);
  }
  throw std::invalid_argument("picos::Trigger: already awaiting");
}
}  // namespace

void concurrent_attach(const char* fn) noexcept {
  std::fprintf(stderr,
               "picos: %s: two fibers awaited one trigger at the same time (a trigger is "
               "awaited once, by the fiber that made it: picos/trigger.h); the first "
               "awaiter's wake-up may be lost, so the process aborts\n",
               fn);
  std::fflush(stderr);
  std::abort();
}

}  // namespace internal

using internal::TriggerState;

Trigger::Trigger()
    : s_(internal::Ref<TriggerState>::adopt(new TriggerState(TriggerState::kInitial))) {}

Trigger Trigger::signaled() {
  // One shared, never freed state: it holds nothing and never changes.
  static TriggerState* const kSignaled = new TriggerState(TriggerState::kSignaled);
  return Trigger(internal::Ref<TriggerState>::share(kSignaled));
}

Trigger Trigger::from_action(void* x, void* y, Action action, Release release) {
  if (action == nullptr) throw std::invalid_argument("picos::Trigger::from_action: null action");
  auto* s = new TriggerState(TriggerState::kAwaiting);
  s->action_ = action;
  s->release_ = release != nullptr ? release : &internal::no_release;  // marks it from_action
  s->x_ = x;
  s->y_ = y;
  return Trigger(internal::Ref<TriggerState>::adopt(s));
}

bool Trigger::is_initial() const {
  switch (s_->state_.load(std::memory_order_acquire)) {
    case TriggerState::kInitial:
      return true;
    case TriggerState::kSignaled:
      return false;
    default:
      throw std::invalid_argument("picos::Trigger: already awaiting");
  }
}

namespace {
// await() when the trigger is being awaited (misuse) or traces are on: out of line, so that the
// usual path is a load, a test and the handler's call (not a tail call: gcc 12 makes none when
// the std::exception_ptr comes back in memory, with or without await's __builtin_return_address).
// With traces on, the trace is taken here, on the awaiting fiber's stack (the scheduler may suspend
// it from another), from `from` (await's caller) outwards; it describes this await until the await
// returns.
[[gnu::noinline, gnu::cold]] std::exception_ptr await_slow(const Trigger& t, const TriggerState& s,
                                                           std::uint8_t state, const void* from) {
  if (state != TriggerState::kInitial) {
    internal::throw_awaiting(s, "picos::Trigger::await", "awaited");
  }
  Fiber& fiber = Fiber::current();  // the same fiber after the await, whatever the thread
  internal::capture_await_trace(fiber, from);
  std::exception_ptr r = internal::current_handler().await(t);
  internal::end_await_trace(fiber);
  return r;
}
}  // namespace

std::exception_ptr Trigger::await() const {
  // One test for the three unusual cases: already signaled, misuse (already awaiting), and
  // traces on (kInitial is 0).
  const TriggerState& s = *s_;
  const std::uint8_t state = s.state_.load(std::memory_order_acquire);
  const std::uint8_t traces = internal::fiber_traces_on.load(std::memory_order_relaxed);
  if ((state | traces) != 0) [[unlikely]] {
    if (state == TriggerState::kSignaled) return nullptr;
    return await_slow(*this, s, state, __builtin_return_address(0));
  }
  return internal::handler_for_this_call().await(*this);
}

namespace {
// signal's rare case out of line (from_action triggers, which all have a release), so that its
// common case needs no stack frame.
ABSL_ATTRIBUTE_NOINLINE void act_then_release(const Trigger& t, Trigger::Action action,
                                              Trigger::Release release, void* x, void* y) noexcept {
  action(t, x, y);
  release(x, y);
}
}  // namespace

void Trigger::signal() const noexcept {
  TriggerState* s = s_.get();
  if (s->state_.load(std::memory_order_acquire) == TriggerState::kSignaled) return;
  if (s->state_.exchange(TriggerState::kSignaled, std::memory_order_acq_rel) ==
      TriggerState::kAwaiting) {
    // We won the Awaiting -> Signaled transition: the fields were published before the
    // Initial -> Awaiting CAS (release) and are never rewritten.
    Action action = s->action_;
    Release release = s->release_;
    void* x = s->x_;
    void* y = s->y_;
    // Nothing below touches `*this` or the state after the action: the action may resume the
    // awaiter, which may drop the last handle (possibly the very one we were called on).
    if (release != nullptr) [[unlikely]] {
      act_then_release(*this, action, release, x, y);
      return;
    }
    // The usual case (a scheduler's resume action, no release): a tail call, with no
    // registers saved for a release after it (-12 instructions per signal).
    action(*this, x, y);
  }
}

void Trigger::Wake::signal_unawaited(internal::TriggerState* s) noexcept {
  Trigger(internal::Ref<internal::TriggerState>::adopt(s)).signal();
}

bool Trigger::on_signal_failed() const {
  if (s_->state_.load(std::memory_order_acquire) == TriggerState::kSignaled) return false;
  internal::throw_awaiting(*s_, "picos::Trigger::on_signal", "awaited");
}

void Trigger::dispose() const {
  TriggerState* s = s_.get();
  std::uint8_t expected = TriggerState::kInitial;
  if (s->state_.compare_exchange_strong(expected, TriggerState::kSignaled,
                                        std::memory_order_acq_rel, std::memory_order_acquire)) {
    return;
  }
  if (expected == TriggerState::kAwaiting)
    internal::throw_awaiting(*s, "picos::Trigger::dispose", "disposed");
}

}  // namespace picos
