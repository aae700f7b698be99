// Copyright 2026 The Picos for C++ Authors.
//
// picos/computation.h — a cancelable, single-assignment result that triggers can attach to.
//
// A computation starts Running and is completed exactly once, either Returned with a value
// or Canceled with a reason (a non-null std::exception_ptr). Triggers attached while it runs
// are signaled when it completes, in attach order (Mode::kFifo, the default) or newest first
// (Mode::kLifo). Every fiber has a computation: canceling it cancels the fiber, because the
// trigger of whatever the fiber awaits is attached to it.
//
// `PackedComputation` is the type-erased handle (what OCaml calls `packed`): everything that
// does not need the value. `Computation<T>` adds the typed operations; `Computation<void>`
// completes without a value. Both are cheap handles to one reference-counted shared state,
// like std::shared_future: copies refer to the same computation.
//
// Implementation (see docs/design.md): a state word readable without locking, and a bag of
// attached triggers guarded by a tiny spin lock. Completion swaps the bag out under the lock
// and signals outside it. Detached triggers are removed lazily, so attach and detach are
// amortised O(1) and the bag never holds more than about twice the live triggers.
//
// Thread safety: every operation may be called from any thread concurrently, except `await`
// and `wait`, which suspend the calling fiber (see Trigger::await).

#ifndef PICOS_COMPUTATION_H_
#define PICOS_COMPUTATION_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <ratio>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/thread_cache.h"
#include "picos/trigger.h"

// PICOS_INTERNAL_TSAN: defined in -fsanitize=thread builds (gcc's __SANITIZE_THREAD__, or
// clang's __has_feature), where ComputationState's destructor carries a TSan annotation.
#if defined(__SANITIZE_THREAD__)
#define PICOS_INTERNAL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PICOS_INTERNAL_TSAN 1
#endif
#endif

namespace picos {

// Order in which a computation signals its attached triggers when it completes.
enum class Mode : std::uint8_t {
  kFifo,  // attach order: the oldest trigger first
  kLifo,  // newest first
};

class PackedComputation;
class Tx;

namespace internal {

struct WaitSlot;  // picos/fiber.h: a fiber's cancel slot, linked into its computation

// Recycled per thread (ThreadCached): a Computation<void> (every fiber's, every timeout's)
// allocates from the thread's free list; a ValueState from a list of its own size (below).
class ComputationState : public RefCounted<ComputationState>,
                         public ThreadCached<ComputationState> {
 public:
  enum : std::uint8_t { kRunning = 0, kReturned = 1, kCanceled = 2 };

  explicit ComputationState(Mode mode) noexcept : mode_(mode) {}
#if defined(PICOS_INTERNAL_TSAN)
  // Drops the cancelation reason with TSan's checks off (see computation.cc): the last
  // reference to a user's exception may be the finished fiber's, on the child's thread.
  virtual ~ComputationState();
#else
  virtual ~ComputationState() = default;
#endif

  // The attached triggers. Most computations have one or two (a joiner, a timer's cleanup):
  // those are kept in place, so attaching allocates nothing; the InlinedVector is no larger
  // than a std::vector. Past them (an Ivar or a Barrier with more waiters), the arrays of 4
  // and 8 come from the thread's cache, not malloc.
  using Bag = absl::InlinedVector<Trigger, 2, ThreadCacheArrayAllocator<Trigger, 4, 8>>;
  // What completion takes out of the computation under its lock, to signal outside it
  // (signal_all): the attached triggers, and the cancel slots of the fibers that run as part
  // of it (a list linked through the slots, first and last).
  struct Completed {
    Bag triggers;
    WaitSlot* first_slot = nullptr;
    WaitSlot* last_slot = nullptr;
  };

  std::uint8_t status() const noexcept { return status_.load(std::memory_order_acquire); }
  // The status as a sequentially consistent load: Fiber::try_suspend's side of its handshake
  // with a canceler (picos/fiber.cc).
  std::uint8_t status_seq_cst() const noexcept { return status_.load(std::memory_order_seq_cst); }

  bool try_attach(const Trigger& t);
  // A fiber's cancel slot (Fiber::attach_canceler): linked at the end of the computation's
  // list, with a reference the list holds, if the computation is running; returns whether
  // it was. Allocates nothing: the links are in the slot. When the computation completes,
  // signal_all ends each linked slot's wait if it was canceled (Fiber::cancel_waiter) and
  // drops the list's reference.
  bool try_link_slot(WaitSlot* w) noexcept;
  // Unlinks `w` (Fiber::drop_canceler) and drops the list's reference, if the computation is
  // still running; else completion has taken the list, and `w` with it, and does both.
  void unlink_slot(WaitSlot* w) noexcept;
  // Detach bookkeeping for a trigger that is (now) signaled. Returns false iff canceled.
  bool unsuspend() noexcept;
  // Completes with the reason. Returns true iff this call completed the computation.
  bool try_cancel(std::exception_ptr reason) noexcept;
  // Completes as Returned after `write(this)` stored the value (called under the lock). A
  // `write` that throws leaves the computation running, nothing signaled, the lock free, and
  // its exception reaches the caller.
  template <typename Write>
  bool try_return_with(Write&& write) noexcept(noexcept(write(std::declval<ComputationState*>())))
      ABSL_LOCKS_EXCLUDED(lock_) {
    lock_.lock();
    if (status_.load(std::memory_order_relaxed) != kRunning) {
      lock_.unlock();
      return false;
    }
    if constexpr (noexcept(write(this))) {
      write(this);
    } else {
      try {
        write(this);
      } catch (...) {
        lock_.unlock();
        throw;
      }
    }
    finish_locked_and_signal(kReturned);
    return true;
  }

  // For Tx: the caller holds lock_ and has checked kRunning.
  Completed complete_locked(std::uint8_t status) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // In the computation's mode: FIFO signals the slots in link order, then the triggers in
  // attach order; LIFO the reverse of that.
  void signal_all(Completed& done) noexcept;

  // White-box views for tests: the trigger slots currently held in the bag, and the fibers'
  // cancel slots currently linked.
  std::size_t bag_size_for_testing();
  std::size_t linked_slots_for_testing();

  SpinLock lock_;
  std::exception_ptr reason_;  // written under lock_ before status_ becomes kCanceled

  // Whether some thread has executed a heavy fence (picos/internal/asymmetric_fence.h) since
  // this computation was canceled: the cancelers of its fibers (picos/fiber.cc) then need not
  // execute another. Set (release) after the fence returns; false until then.
  bool fenced_since_canceled() const noexcept {
    return fenced_since_canceled_.load(std::memory_order_acquire);
  }
  void set_fenced_since_canceled() noexcept {
    fenced_since_canceled_.store(true, std::memory_order_release);
  }

 private:
  // Completes, releases lock_, then signals the bag.
  void finish_locked_and_signal(std::uint8_t status) noexcept ABSL_UNLOCK_FUNCTION(lock_);
  // Its case with triggers or slots to signal.
  void finish_locked_and_signal_all(std::uint8_t status) noexcept ABSL_UNLOCK_FUNCTION(lock_);
  // Stores the final status: sequentially consistent for kCanceled, release for kReturned.
  void store_status_locked(std::uint8_t status) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void compact_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void end_slot(WaitSlot* w, bool canceled) noexcept;

  std::atomic<std::uint8_t> status_{kRunning};
  const Mode mode_;
  std::atomic<bool> fenced_since_canceled_{false};
  std::uint32_t detached_ ABSL_GUARDED_BY(lock_) = 0;      // detaches since the last compaction
  Bag triggers_ ABSL_GUARDED_BY(lock_);                    // attach order
  WaitSlot* first_slot_ ABSL_GUARDED_BY(lock_) = nullptr;  // link order (WaitSlot::prev/next)
  WaitSlot* last_slot_ ABSL_GUARDED_BY(lock_) = nullptr;
};

// A Computation<T>'s state. Recycled per thread too, on a free list of its own size (one per
// T), when it is small (cached(): at most 256 bytes, malloc's alignment): a Computation<T> per
// fiber (skynet's, a promise's) then costs no malloc and no free. Larger or over-aligned ones
// go to malloc. (Deleted through ComputationState's virtual destructor, so these are the
// operators its delete finds.)
template <typename T>
class ValueState final : public ComputationState {
 public:
  using ComputationState::ComputationState;
  std::optional<T> value_;  // written under lock_ before status_ becomes kReturned

  static void* operator new(std::size_t size) {
    if constexpr (cached()) return ThreadCache<ValueState>::allocate(size);
    if constexpr (over_aligned())
      return ::operator new (size, std::align_val_t{alignof(ValueState)});
    return ::operator new(size);
  }
  static void operator delete(void* p, std::size_t size) noexcept {
    if constexpr (cached()) {
      ThreadCache<ValueState>::deallocate(p, size);
    } else if constexpr (over_aligned()) {
      // Unsized: clang before 19 declares the sized forms only with -fsized-deallocation.
      ::operator delete (p, std::align_val_t{alignof(ValueState)});
    } else {
      ::operator delete(p);
    }
  }

 private:
  // Functions: a static member's initializer could not take the size of the class yet.
  static constexpr bool over_aligned() noexcept {
    return alignof(ValueState) > __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  }
  static constexpr bool cached() noexcept { return sizeof(ValueState) <= 256 && !over_aligned(); }
};

// The names the delay checks below put in their messages.
inline constexpr char kCancelAfter[] = "picos::PackedComputation::cancel_after";
inline constexpr char kSleep[] = "picos::Fiber::sleep";

// Throws std::invalid_argument unless `seconds` is a finite or infinite non-negative number
// ("<fn>: delay must be non-negative (got -1e-10 s)", "<fn>: delay is NaN"); converts to
// nanoseconds, saturating very large values. `fn`: the public function checked for.
std::chrono::nanoseconds checked_delay(double seconds, const char* fn);
// Throws std::invalid_argument("<fn>: delay must be non-negative (got <ns> ns)"); `ns` is the
// delay in nanoseconds, printed without loss for every integral duration.
[[noreturn]] void throw_negative_delay(const char* fn, long double ns);
inline void check_delay(std::chrono::nanoseconds delay, const char* fn) {
  if (delay.count() < 0) [[unlikely]]
    throw_negative_delay(fn, static_cast<long double>(delay.count()));
}
// A delay of any duration type as nanoseconds: negative (or NaN) ones are rejected as by
// check_delay (checked_delay for a floating-point count), and those too long for nanoseconds
// saturate to nanoseconds::max() (they never fire), where an implicit conversion would have
// overflowed. Sub-nanosecond parts are truncated.
template <typename Rep, typename Period>
std::chrono::nanoseconds saturated_delay(std::chrono::duration<Rep, Period> delay, const char* fn) {
  using std::chrono::nanoseconds;
  using Ns = std::chrono::duration<long double, std::nano>;  // exact for 64-bit counts
  if constexpr (std::is_floating_point_v<Rep>) {
    return checked_delay(static_cast<double>(std::chrono::duration<long double>(delay).count()),
                         fn);
  } else {
    if constexpr (std::is_signed_v<Rep>) {
      if (delay.count() < 0) throw_negative_delay(fn, Ns(delay).count());
    }
    using R = std::ratio_divide<Period, std::nano>;
    if constexpr (R::den == 1) {
      // A whole number of nanoseconds per tick (ms, s, h...): integers only, exact.
      constexpr auto kMaxTicks = static_cast<std::uintmax_t>(nanoseconds::max().count() / R::num);
      if (static_cast<std::uintmax_t>(delay.count()) > kMaxTicks) return nanoseconds::max();
      return nanoseconds(static_cast<nanoseconds::rep>(delay.count()) * R::num);
    } else {
      if (Ns(delay).count() >= static_cast<long double>(nanoseconds::max().count())) {
        return nanoseconds::max();
      }
      return std::chrono::duration_cast<nanoseconds>(Ns(delay));
    }
  }
}

}  // namespace internal

// Type-erased computation handle: all operations that do not need the value type.
class PackedComputation {
 public:
  // A new running computation of no particular value type (completed with try_finish()).
  explicit PackedComputation(Mode mode = Mode::kFifo);

  bool is_running() const noexcept { return s_->status() == internal::ComputationState::kRunning; }
  bool is_canceled() const noexcept {
    return s_->status() == internal::ComputationState::kCanceled;
  }
  bool is_returned() const noexcept {
    return s_->status() == internal::ComputationState::kReturned;
  }

  // The cancelation reason if canceled, else nullptr. (Inline: every resumed wait asks.)
  std::exception_ptr canceled() const noexcept {
    if (s_->status() != internal::ComputationState::kCanceled) return nullptr;
    return s_->reason_;
  }

  // Rethrows the cancelation reason if canceled; no-op otherwise. (Inline: every yield, spawn
  // and cancelation point checks; only the throw is out of line.)
  void check() const {
    if (s_->status() == internal::ComputationState::kCanceled) [[unlikely]]
      rethrow_reason();
  }

  // Cancels with `reason` (must not be null: std::invalid_argument). Returns true iff this
  // call completed the computation; then every attached trigger is signaled on this thread.
  bool try_cancel(std::exception_ptr reason) const;
  void cancel(std::exception_ptr reason) const { (void)try_cancel(std::move(reason)); }

  // Attaches `trigger` so that it is signaled when the computation completes. Returns false,
  // attaching nothing, if the computation has completed or the trigger is already signaled.
  bool try_attach(const Trigger& trigger) const;

  // Signals `trigger` and forgets it (amortised O(1): storage is reclaimed lazily).
  void detach(const Trigger& trigger) const noexcept;

  // Suspends the current fiber until the computation completes (no-op if it has). Does not
  // rethrow the computation's own cancelation; throws the *fiber's* cancelation reason if the
  // fiber is canceled while waiting. Dumps (picos/debug.h) show the wait as
  // "picos::Computation@<state> await".
  void wait() const;
  // The same, with the wait labeled for dumps as `kind`, `object` and `value` (see
  // Trigger::set_wait_label): for libraries whose waits are waits on a computation.
  void wait(const debug::WaitKind& kind, const void* object, std::int64_t value = 0) const;

  // Cancels the computation with `reason` after `delay`, unless it completes first (then the
  // timer is removed: nothing leaks). Goes through the current scheduler's timers. Throws
  // std::invalid_argument for a negative delay or a null reason, and the fiber's
  // cancelation reason if the current fiber is already canceled. Very large delays are
  // accepted and never fire.
  // The messages name "picos::PackedComputation::cancel_after" (docs/core.md, "Errors").
  void cancel_after(std::chrono::nanoseconds delay, std::exception_ptr reason) const;
  // Same with a delay of any other std::chrono::duration (seconds, hours, a floating-point
  // count...): one too long for nanoseconds (seconds::max(), 300 years) saturates to
  // nanoseconds::max() and never fires, where the implicit conversion to nanoseconds would
  // overflow (and seconds::max() would arrive negative); a negative one is rejected.
  template <typename Rep, typename Period>
  void cancel_after(std::chrono::duration<Rep, Period> delay, std::exception_ptr reason) const {
    cancel_after(internal::saturated_delay(delay, internal::kCancelAfter), std::move(reason));
  }
  // Same with the delay in seconds; also rejects NaN (std::invalid_argument).
  void cancel_after(double seconds, std::exception_ptr reason) const;

  // A trigger that, when signaled while `from` is canceled, cancels `into` with the same
  // reason. Not attached to anything: attach it to `from` and detach it when done.
  static Trigger canceler(const PackedComputation& from, const PackedComputation& into);

  // Attaches a canceler from `from` into `into` and returns it. If `from` has already
  // completed, rethrows its cancelation reason, or throws std::invalid_argument
  // ("already returned") if it returned.
  static Trigger attach_canceler(const PackedComputation& from, const PackedComputation& into);

  // For schedulers (see Fiber::unsuspend): detach bookkeeping of a signaled trigger without
  // signaling it. Returns false iff the computation is canceled.
  bool unsafe_unsuspend() const noexcept { return s_->unsuspend(); }

  // Identity.
  friend bool operator==(const PackedComputation& a, const PackedComputation& b) noexcept {
    return a.s_ == b.s_;
  }
  const void* id() const noexcept { return s_.get(); }

  // White-box: trigger slots currently held (live plus not yet reclaimed detached ones).
  std::size_t bag_size_for_testing() const { return s_->bag_size_for_testing(); }
  // White-box: cancel slots of fibers that run as part of this computation and have waited
  // cancelably, currently linked (one per such fiber; see Fiber's cancel slot).
  std::size_t linked_slots_for_testing() const { return s_->linked_slots_for_testing(); }

 protected:
  explicit PackedComputation(internal::Ref<internal::ComputationState> s) noexcept
      : s_(std::move(s)) {}
  friend class Tx;
  friend class Fiber;
  [[noreturn]] void rethrow_reason() const;

  internal::Ref<internal::ComputationState> s_;
};

// A computation whose value has type T (or no value, for T = void).
template <typename T>
class Computation : public PackedComputation {
  static constexpr bool kVoid = std::is_void_v<T>;
  // `const T&`, or void.
  using ConstRef = typename std::conditional_t<kVoid, std::type_identity<void>,
                                               std::add_lvalue_reference<const T>>::type;
  using State = std::conditional_t<kVoid, internal::ComputationState,
                                   internal::ValueState<std::conditional_t<kVoid, int, T>>>;

 public:
  // A new running computation.
  explicit Computation(Mode mode = Mode::kFifo)
      : PackedComputation(internal::Ref<internal::ComputationState>::adopt(new State(mode))) {}

  // A computation already returned with `value` (or, for void, already finished).
  template <typename... A>
  static Computation returned(A&&... value) {
    Computation c;
    c.try_return(std::forward<A>(value)...);
    return c;
  }

  // Completes with `value`. Returns true iff this call completed the computation; then every
  // attached trigger is signaled on this thread.
  //
  // A value of another type is converted to T first, outside the computation's lock. If that
  // conversion throws, or the move of T into the shared state does (only a T whose move
  // constructor is not noexcept), the exception reaches the caller and nothing has changed:
  // the computation is still running, no trigger is signaled. (`try_capture` then cancels
  // with it.)
  template <typename U = T, typename = std::enable_if_t<!std::is_void_v<U>>>
  bool try_return(U value) const {
    if constexpr (std::is_same_v<U, T>) {
      return s_->try_return_with(
          [&](internal::ComputationState* s) noexcept(std::is_nothrow_move_constructible_v<T>) {
            static_cast<State*>(s)->value_.emplace(std::move(value));
          });
    } else {
      return try_return<T>(T(std::move(value)));
    }
  }
  template <typename U = T, typename = std::enable_if_t<std::is_void_v<U>>>
  bool try_return() const {
    return s_->try_return_with([](internal::ComputationState*) noexcept {});
  }
  template <typename... A>
  void return_value(A&&... value) const {
    (void)try_return(std::forward<A>(value)...);
  }
  // For Computation<void>: finish = return.
  bool try_finish() const { return try_return(); }
  void finish() const { (void)try_finish(); }

  // Runs `fn()` and completes with its result, or cancels with the exception it throws.
  template <typename F>
  bool try_capture(F&& fn) const {
    try {
      if constexpr (kVoid) {
        fn();
        return try_return();
      } else {
        return try_return(fn());
      }
    } catch (...) {
      return try_cancel(std::current_exception());
    }
  }
  template <typename F>
  void capture(F&& fn) const {
    (void)try_capture(std::forward<F>(fn));
  }

  // The outcome if completed: a copy of the value (rethrows the cancelation reason if
  // canceled); std::nullopt (or false for void) while running. Needs a copyable T.
  auto peek() const {
    if constexpr (kVoid) {
      switch (s_->status()) {
        case internal::ComputationState::kRunning:
          return false;
        case internal::ComputationState::kCanceled:
          std::rethrow_exception(s_->reason_);
        default:
          return true;
      }
    } else {
      switch (s_->status()) {
        case internal::ComputationState::kRunning:
          return std::optional<T>();
        case internal::ComputationState::kCanceled:
          std::rethrow_exception(s_->reason_);
        default:
          return std::optional<T>(*static_cast<State*>(s_.get())->value_);
      }
    }
  }

  // Suspends the current fiber until the computation completes, then returns its value or
  // rethrows its cancelation reason. If the *fiber* is canceled while waiting, throws the
  // fiber's reason instead. Does not suspend if already completed. Like
  // std::shared_future::get, the value is returned by reference to the shared state: it
  // lives as long as some handle to the computation does. Works for move-only T.
  ConstRef await() const {
    wait();
    check();
    if constexpr (!kVoid) return *value_ptr();
  }

  // For the sole owner of a returned computation (such as a scheduler's `run`): waits like
  // `await()`, then moves the value out. Other handles then see a moved-from value.
  T take() const {
    wait();
    check();
    if constexpr (!kVoid) return std::move(*value_ptr());
  }

 private:
  auto* value_ptr() const noexcept { return &*static_cast<State*>(s_.get())->value_; }

  explicit Computation(internal::Ref<internal::ComputationState> s) noexcept
      : PackedComputation(std::move(s)) {}
};

}  // namespace picos

#endif  // PICOS_COMPUTATION_H_
