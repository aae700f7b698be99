// Copyright 2026 The Picos for C++ Authors.

#include "picos/fiber.h"

#include <atomic>

#include "picos/handler.h"

namespace picos {
namespace internal {

std::uint32_t new_fls_index() noexcept {
  static std::atomic<std::uint32_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed);
}

namespace {
// The reason a sleep's private computation is canceled with when its timer fires. Never
// escapes: sleep returns normally in that case.
struct SleepDone {};
const std::exception_ptr& sleep_done() {
  static const std::exception_ptr kDone = std::make_exception_ptr(SleepDone{});
  return kDone;
}
}  // namespace

}  // namespace internal

FiberRef Fiber::create(PackedComputation computation, bool forbid) {
  return FiberRef::adopt(new Fiber(std::move(computation), forbid));
}

Fiber::~Fiber() {
  for (FlsSlot& s : fls_) {
    if (s.destroy) s.destroy(s.value);
  }
}

Fiber::FlsSlot* Fiber::fls_slot(std::uint32_t index, bool grow) {
  if (index >= fls_.size()) {
    if (!grow) return nullptr;
    std::size_t n = fls_.size() < 3 ? 3 : fls_.size();
    while (n <= index) n = 2 * n + 1;
    fls_.resize(n);
  }
  return &fls_[index];
}

void Fiber::spawn(FiberRef fiber, absl::AnyInvocable<void()> main) {
  if (!main) throw std::invalid_argument("picos::Fiber::spawn: empty main");
  spawn_main(std::move(fiber), FiberMain(main));
}

void Fiber::spawn_main(FiberRef fiber, FiberMain main) {
  if (!fiber) throw std::invalid_argument("picos::Fiber::spawn: null fiber");
  internal::current_handler().spawn(std::move(fiber), std::move(main));
}

void Fiber::yield() { internal::current_handler().yield(); }

void Fiber::sleep(std::chrono::nanoseconds delay) {
  internal::check_delay(delay);
  Computation<void> c(Mode::kLifo);
  c.cancel_after(delay, internal::sleep_done());
  Trigger t;
  if (c.try_attach(t)) {
    if (std::exception_ptr reason = t.await()) {
      c.finish();  // removes the timer
      std::rethrow_exception(reason);
    }
  }
}

void Fiber::sleep(double seconds) { sleep(internal::checked_delay(seconds)); }

bool Fiber::try_suspend(const Trigger& trigger, void* x, void* y, Trigger::Action action) {
  if (!forbid_) {
    if (computation_.try_attach(trigger)) {
      if (!trigger.on_signal(x, y, action)) {
        (void)computation_.unsafe_unsuspend();
        return false;
      }
      return true;
    }
    if (computation_.is_canceled()) {
      trigger.dispose();
      return false;
    }
  }
  return trigger.on_signal(x, y, action);
}

bool Fiber::unsuspend(const Trigger& trigger) const {
  if (!trigger.is_signaled()) throw std::invalid_argument("picos::Fiber::unsuspend: not signaled");
  return forbid_ || computation_.unsafe_unsuspend();
}

}  // namespace picos
