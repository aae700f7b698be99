// Copyright 2026 The Picos for C++ Authors.

#include "std/event/event.h"

#include <stdexcept>

#include "picos/tx.h"

namespace picos::event {
namespace internal {

std::size_t select_index(Alt* const* alts, std::size_t n) {
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  Selection s;
  std::size_t requested = 0;  // alts[0, requested) registered (or were told the claim is lost)
  std::size_t winner = kNone;
  std::exception_ptr failure;
  try {
    while (requested < n && s.claim.is_running()) {
      bool won = alts[requested]->request(s);
      ++requested;
      if (won) {
        winner = requested - 1;
        break;
      }
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (winner == kNone && s.claim.is_running()) {
    if (failure == nullptr) {
      try {
        s.claim.wait();  // the fiber's cancelation reason if canceled while waiting
      } catch (...) {
        failure = std::current_exception();
      }
    }
    if (failure != nullptr && s.claim.try_cancel(failure)) {
      for (std::size_t i = 0; i < requested; ++i) (void)alts[i]->withdraw(s);
      std::rethrow_exception(failure);
    }
    // Else an alternative committed first: completion wins (a cancelation stays pending).
  }
  for (std::size_t i = 0; i < requested; ++i) {
    if (i != winner && alts[i]->withdraw(s)) winner = i;
  }
  if (winner == kNone) throw std::logic_error("picos::event: select committed no alternative");
  return winner;
}

namespace {

// From the thread's cache: one per computation alternative that has to wait.
struct Fire : picos::internal::ThreadCached<Fire> {
  Computation<void> claim;
  Computation<void> mine;
};

// The source completed: commit this alternative (claim and mine together).
void fire(const Trigger&, void* x, void*) noexcept {
  auto* f = static_cast<Fire*>(x);
  if (!f->claim.is_running()) return;  // lost already (or being withdrawn)
  try {
    Tx tx;
    if (tx.try_finish(f->claim) && tx.try_finish(f->mine)) (void)tx.try_commit();
  } catch (...) {
    // Out of memory building the Tx: the alternative cannot commit; the claim stays running
    // and the sync waits for another alternative (or its cancelation).
  }
}

void release_fire(void* x, void*) noexcept { delete static_cast<Fire*>(x); }

}  // namespace

bool ComputationAlt::request(Selection& s) {
  if (!source_.is_running()) return s.claim.try_finish();
  auto* f = new Fire{{}, s.claim, mine_};
  trigger_ = Trigger::from_action(f, nullptr, &fire, &release_fire);
  if (source_.try_attach(trigger_)) {
    attached_ = true;
    return false;
  }
  // Completed meanwhile: the trigger was not attached (dropping it releases `f`).
  trigger_ = Trigger::signaled();
  return s.claim.try_finish();
}

bool ComputationAlt::withdraw(Selection&) noexcept {
  if (attached_) source_.detach(trigger_);  // runs `fire` if it has not run: it does nothing
  // `fire` may still be committing on another thread: canceling `mine_` takes its lock, so it
  // either finds it returned (that Tx won) or makes sure no Tx can complete it any more.
  static const std::exception_ptr lost = std::make_exception_ptr(std::runtime_error("lost"));
  return !mine_.try_cancel(lost);
}

}  // namespace internal

Event<void> always() {
  struct A final : internal::TypedAlt<void>, picos::internal::ThreadCached<A> {
    bool request(internal::Selection& s) override { return s.claim.try_finish(); }
    bool withdraw(internal::Selection&) noexcept override { return false; }
    void take() override {}
  };
  return internal::from_proto_fn<void>(
      [] { return std::unique_ptr<internal::TypedAlt<void>>(new A); });
}

namespace {
struct Timeout : std::exception {
  const char* what() const noexcept override { return "picos::event::after: timer fired"; }
};
}  // namespace

Event<void> after(std::chrono::nanoseconds delay) {
  picos::internal::check_delay(delay, "picos::event::after");
  struct A final : internal::TypedAlt<void>, picos::internal::ThreadCached<A> {
    explicit A(std::chrono::nanoseconds d) : delay(d), base(timer) {}
    bool request(internal::Selection& s) override {
      static const std::exception_ptr reason = std::make_exception_ptr(Timeout());
      // Not a cancelation point here: sync checked on entry; a later cancel is seen by wait.
      Fiber::current().forbid([&] { timer.cancel_after(delay, reason); });
      return base.request(s);
    }
    bool withdraw(internal::Selection& s) noexcept override {
      timer.finish();  // removes the timer if it has not fired
      return base.withdraw(s);
    }
    void take() override {}
    std::chrono::nanoseconds delay;
    Computation<void> timer;
    internal::ComputationAlt base;
  };
  return internal::from_proto_fn<void>(
      [delay] { return std::unique_ptr<internal::TypedAlt<void>>(new A(delay)); });
}

Event<void> after(double seconds) {
  if (!(seconds >= 0.0)) throw std::invalid_argument("picos::event::after: negative or NaN delay");
  constexpr double kMaxSeconds = 9.0e9;
  if (seconds >= kMaxSeconds) return after(std::chrono::nanoseconds::max());
  return after(std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9)));
}

}  // namespace picos::event
