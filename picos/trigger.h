// Copyright 2026 The Picos for C++ Authors.
//
// picos/trigger.h — the ability to await a signal.
//
// A `Trigger` is the single low-level way to suspend a fiber. Its life is a one-way state
// machine:
//
//     Initial --await/on_signal--> Awaiting --signal--> Signaled
//     Initial ------------------signal/dispose--------> Signaled
//
// The owner creates a trigger, inserts it into whatever data structures will signal it
// (a mutex's wait queue, a computation's bag, several of them at once), and then calls
// `await()`. Any thread may `signal()` it, before or after the await started; a signal
// before the await makes the await return at once without suspending.
//
// `Trigger` is a cheap handle (one pointer) to a reference-counted shared state, so a trigger
// stays valid for every signaler that still holds it after its awaiter has moved on. Copies
// refer to the same trigger. Creating a trigger allocates one small object (no lock, no
// syscall).
//
// Thread safety: `signal`, `signal_deferred`, `is_signaled` and copying may be called from
// any thread at any time. `await` may be called only by the fiber that created the trigger,
// at most once. `on_signal` and `dispose` are for schedulers and follow the same single-owner
// rule. Breaking the rule is reported: a second await (or on_signal) after the first throws
// std::invalid_argument ("picos::Trigger: already awaiting"); two at the same time, on two
// threads, print "picos: ... two fibers awaited one trigger at the same time" and abort, since
// the loser's action may already have overwritten the winner's, whose wake-up would be lost.

#ifndef PICOS_TRIGGER_H_
#define PICOS_TRIGGER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <utility>

#include "absl/base/attributes.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/thread_cache.h"

namespace picos {

class Trigger;

namespace debug {
struct WaitKind;  // picos/debug.h
}  // namespace debug

namespace internal {

// Created and dropped at every await: recycled per thread (ThreadCached).
class TriggerState : public RefCounted<TriggerState>, public ThreadCached<TriggerState> {
 public:
  enum : std::uint8_t { kInitial = 0, kAwaiting = 1, kSignaled = 2 };
  using Action = void (*)(const Trigger& trigger, void* x, void* y) noexcept;
  using Release = void (*)(void* x, void* y) noexcept;

  explicit TriggerState(std::uint8_t state) noexcept : state_(state) {}
  // Inline, the rare case out of line: every wait's trigger dies here.
  ~TriggerState() {
    if (release_ != nullptr) [[unlikely]]
      release_if_unsignaled();
  }

  // A from_action trigger dropped without ever being signaled still owns x and y.
  void release_if_unsignaled() noexcept;

  std::atomic<std::uint8_t> state_;
  Action action_ = nullptr;
  // Never null in a from_action trigger (a no-op if it was given none), null in any other:
  // the cold paths that reject misuse tell the two apart by it.
  Release release_ = nullptr;
  void* x_ = nullptr;
  void* y_ = nullptr;
  // The awaiter's wait label (Trigger::set_wait_label); the other two fields are meaningful
  // only when label_kind_ is set. Written and read by the awaiting fiber's thread only.
  const debug::WaitKind* label_kind_ = nullptr;
  const void* label_object_;
  std::int64_t label_value_;
};

// Called by `fn` when its compare-and-swap from Initial to Awaiting, made after it wrote its
// action, found the trigger Awaiting: another thread attached an action at the same moment
// (two fibers awaiting one trigger, misuse). Ours may have overwritten the winner's action,
// so no wake-up of either can be trusted: prints the misuse and aborts. Cold; costs the usual
// path nothing (the failed compare-and-swap already tells).
[[noreturn]] void concurrent_attach(const char* fn) noexcept;

}  // namespace internal

class Trigger {
 public:
  // Called exactly once, on the thread that signals the trigger, with the `x` and `y` given
  // to `on_signal`/`from_action`. It must return quickly and must not block, suspend or
  // throw: it typically pushes a fiber onto a ready queue. `trigger` may be dangling once the
  // action has made the awaiter runnable, so use it first.
  using Action = internal::TriggerState::Action;
  // Called exactly once when a `from_action` trigger is done with `x` and `y`: right after
  // its action ran, or when the last handle is dropped if it was never signaled. Use it to
  // release whatever `x` and `y` own.
  using Release = internal::TriggerState::Release;

  // Creates a new trigger in the Initial state. Cost: one small allocation.
  Trigger();

  // A trigger that is already signaled; awaiting it returns at once.
  static Trigger signaled();

  // Creates a trigger already in the Awaiting state: `action(trigger, x, y)` runs when it is
  // signaled, then `release(x, y)` (if not null). It is an error to `await`, `on_signal` or
  // `dispose` such a trigger (std::invalid_argument: "picos::Trigger::await: a from_action
  // trigger cannot be awaited", and likewise for the other two). Used to run a callback when
  // a computation completes. Throws std::invalid_argument ("picos::Trigger::from_action: null
  // action") for a null `action`, creating nothing and calling no `release`: `x` and `y` stay
  // the caller's.
  static Trigger from_action(void* x, void* y, Action action, Release release = nullptr);

  // True once the trigger has been signaled (or disposed). Any thread.
  bool is_signaled() const noexcept {
    return s_->state_.load(std::memory_order_acquire) == internal::TriggerState::kSignaled;
  }

  // True in the Initial state, false once signaled. Throws std::invalid_argument
  // ("already awaiting") while some awaiter or action is attached.
  bool is_initial() const;

  // Suspends the current fiber until the trigger is signaled.
  //
  // Returns nullptr when the trigger was signaled normally, or the cancelation reason when the
  // current fiber permits cancelation and its computation was canceled while it waited (or
  // before). In both cases the caller must remove the trigger from wherever it inserted it.
  // If the trigger is already signaled it returns nullptr at once, without suspending and
  // without checking cancelation. Never throws for these outcomes; throws
  // std::invalid_argument only on misuse: "picos::Trigger: already awaiting" when the trigger
  // is already being awaited, "picos::Trigger::await: a from_action trigger cannot be awaited"
  // for a `from_action` trigger. Only the fiber that owns the trigger may call it, once.
  [[nodiscard]] std::exception_ptr await() const;

  // Labels the wait of the fiber that awaits this trigger, for dumps (picos/debug.h): `kind`
  // (with static storage), the object waited on (printed as an address, never read) and the
  // kind's detail value. Call before await, on the awaiting fiber; three stores. A fiber
  // suspended on an unlabeled trigger is listed without a label.
  void set_wait_label(const debug::WaitKind& kind, const void* object = nullptr,
                      std::int64_t value = 0) const noexcept {
    internal::TriggerState* s = s_.get();
    s->label_kind_ = &kind;
    s->label_object_ = object;
    s->label_value_ = value;
  }

  // Signals the trigger; if an awaiter or action is attached, runs its action on this thread.
  // No-op when already signaled. Any thread; never blocks, never throws.
  void signal() const noexcept;

  // The second half of a `signal_deferred`: what is left of the signal, to run once: the
  // attached action taken out of the trigger, or (the trigger was not awaited yet) the whole
  // signal. Move-only; a Wake that still holds its work runs it when destroyed, so that no
  // wake-up is lost on any path (an exception included); assigning over one runs it first.
  class Wake {
   public:
    Wake() noexcept = default;
    Wake(Wake&& o) noexcept
        : trigger_(o.trigger_),
          action_(std::exchange(o.action_, nullptr)),
          release_(o.release_),
          x_(o.x_),
          y_(o.y_),
          unawaited_(std::move(o.unawaited_)) {}
    Wake& operator=(Wake&& o) noexcept {
      if (this != &o) {
        run();
        trigger_ = o.trigger_;
        action_ = std::exchange(o.action_, nullptr);
        release_ = o.release_;
        x_ = o.x_;
        y_ = o.y_;
        unawaited_ = std::move(o.unawaited_);
      }
      return *this;
    }
    Wake(const Wake&) = delete;
    Wake& operator=(const Wake&) = delete;
    ABSL_ATTRIBUTE_ALWAYS_INLINE ~Wake() { run(); }

    // Runs the action (typically: makes the awaiting fiber runnable), then its release; or
    // signals the trigger that was not awaited yet. Once; no-op when there is nothing (left)
    // to run. Never blocks, never throws.
    ABSL_ATTRIBUTE_ALWAYS_INLINE void run() noexcept {
      if (Action a = std::exchange(action_, nullptr)) {
        a(*trigger_, x_, y_);  // nothing reads the trigger after this (see Action)
        if (release_ != nullptr) release_(x_, y_);
      } else if (unawaited_) [[unlikely]] {
        // The reference goes by value: passing `this` (or a member's address) out of line
        // would let the Wake escape, and its callers reload and re-test every field after
        // each call (the destructor's run() included: 10-15 instructions per hand-off).
        signal_unawaited(unawaited_.leak());
      }
    }
    // Whether something is still to run.
    explicit operator bool() const noexcept { return action_ != nullptr || unawaited_; }

   private:
    friend class Trigger;
    // Signals the trigger of `s` and drops the reference: out of line, rare.
    static void signal_unawaited(internal::TriggerState* s) noexcept;

    const Trigger* trigger_ = nullptr;
    Action action_ = nullptr;
    Release release_ = nullptr;
    void* x_ = nullptr;
    void* y_ = nullptr;
    internal::Ref<internal::TriggerState> unawaited_;  // a reference: the signal is all to do
  };

  // `signal()` in two halves, for a primitive that finds its waiter under a lock of its own
  // (//std/sync's wait queues), to be run after the lock is released:
  //  - awaited (an action attached: the scheduler's resume of the awaiting fiber): the trigger
  //    is signaled now and the action comes back instead of running. Until it runs the awaiter
  //    stays suspended: a later `signal`, a cancelation's included, finds the trigger
  //    signaled and does nothing.
  //  - not awaited yet (Initial): nothing changes now; the Wake holds a reference and signals
  //    it when run (its awaiter must not get past await while the lock is held: it could free
  //    the primitive, lock included).
  //  - already signaled: an empty Wake.
  // Any thread; never blocks, never throws.
  //
  // Why: a waker that signals after unlocking must keep the waiter's trigger alive across the
  // unlock, since a canceled waiter may leave and drop it meanwhile; a handle copy does, at
  // an atomic increment and decrement. A suspended waiter whose trigger is signaled under the
  // lock cannot be resumed by anyone else, so it cannot leave: the handle it awaits through
  // stays valid until the Wake runs.
  //
  // Precondition, when an action is attached: this handle object (`*this`, not only the
  // trigger it refers to) stays valid until the returned Wake has run. It does when it belongs
  // to the awaiting fiber and lives until that fiber resumes (a waiter node on the fiber's
  // stack, awaited through `await()`). With an action attached by `from_action`, which no
  // fiber awaits, the caller must keep the handle alive itself.
  [[nodiscard]] ABSL_ATTRIBUTE_ALWAYS_INLINE Wake signal_deferred() const noexcept {
    internal::TriggerState* s = s_.get();
    Wake w;
    std::uint8_t seen = s->state_.load(std::memory_order_acquire);
    if (seen == internal::TriggerState::kAwaiting &&
        s->state_.compare_exchange_strong(seen, internal::TriggerState::kSignaled,
                                          std::memory_order_acq_rel, std::memory_order_acquire)) {
      // Published before the Initial -> Awaiting transition (release), never rewritten.
      w.trigger_ = this;
      w.action_ = s->action_;
      w.release_ = s->release_;
      w.x_ = s->x_;
      w.y_ = s->y_;
    } else if (seen == internal::TriggerState::kInitial) {
      w.unawaited_ = s_;  // (Awaiting only ever becomes Signaled: a failed CAS saw Signaled)
    }
    return w;
  }

  // For schedulers: attaches `action(trigger, x, y)` to run when the trigger is signaled.
  // Returns false (attaching nothing) if the trigger is already signaled. Throws
  // std::invalid_argument if an action is already attached. At most one call per trigger.
  bool on_signal(void* x, void* y, Action action) const {
    internal::TriggerState* s = s_.get();
    if (s->state_.load(std::memory_order_relaxed) == internal::TriggerState::kInitial) {
      s->action_ = action;
      s->x_ = x;
      s->y_ = y;
      std::uint8_t expected = internal::TriggerState::kInitial;
      if (s->state_.compare_exchange_strong(expected, internal::TriggerState::kAwaiting,
                                            std::memory_order_acq_rel, std::memory_order_acquire)) {
        return true;
      }
      // Signaled meanwhile: false. Awaiting: another thread attached an action at the same
      // time (misuse), and ours may have overwritten it: aborts (see concurrent_attach).
      if (expected == internal::TriggerState::kAwaiting) {
        internal::concurrent_attach("picos::Trigger::on_signal");
      }
    }
    return on_signal_failed();
  }

  // For schedulers: signals an Initial trigger without running anything. No-op when already
  // signaled; throws std::invalid_argument if an action is attached.
  void dispose() const;

  // Identity: two handles are equal when they refer to the same trigger.
  friend bool operator==(const Trigger& a, const Trigger& b) noexcept { return a.s_ == b.s_; }

  // The address of the shared state: a stable identity usable as a key.
  const void* id() const noexcept { return s_.get(); }

 private:
  // on_signal when the trigger is not Initial: false if signaled, else throws (misuse).
  bool on_signal_failed() const;

  friend class Fiber;  // its cancel slot holds a waiting trigger's state (picos/fiber.cc)
  explicit Trigger(internal::Ref<internal::TriggerState> s) noexcept : s_(std::move(s)) {}

  internal::Ref<internal::TriggerState> s_;
};

}  // namespace picos

#endif  // PICOS_TRIGGER_H_
