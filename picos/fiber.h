// Copyright 2026 The Picos for C++ Authors.
//
// picos/fiber.h — a fiber: identity, cancelation state and fiber-local storage.
//
// A `Fiber` is what a scheduler runs. It has a computation (canceling it cancels the fiber),
// a `forbid` flag that masks cancelation propagation, and fiber-local storage. Fibers are
// reference counted and handled through `FiberRef`; `Fiber::current()` returns the running
// one by reference.
//
// Thread safety: a fiber's fields are touched only by the fiber itself while it runs, or by
// its scheduler while it is suspended (the ready queue's release/acquire hand-off orders
// those accesses). Canceling a fiber goes through its computation and is safe from any
// thread.
//
// With no scheduler installed, every OS thread is one implicit fiber: `Fiber::current()`
// works, `yield` yields the OS thread, `spawn` starts an OS thread (see picos/handler.h).

#ifndef PICOS_FIBER_H_
#define PICOS_FIBER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "picos/computation.h"
#include "picos/fiber_main.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/thread_cache.h"
#include "picos/trigger.h"

namespace picos {

class Fiber;
namespace debug {
struct WaitKind;
}  // namespace debug

namespace internal {
struct FiberShard;       // picos/internal/debug_registry.h
struct FiberDebugExtra;  // picos/internal/debug_registry.h
// With traces on, Trigger::await calls it on the awaiting fiber's stack (picos/debug.h), with
// its own return address: the trace starts at await's caller.
// With traces on: the trace of the await the fiber starts (Trigger::await), from the frame
// `from` returns to, and the end of that await (the trace no longer describes the fiber).
void capture_await_trace(Fiber& fiber, const void* from) noexcept;
void end_await_trace(Fiber& fiber) noexcept;
// A fiber's cancel slot: the state of the trigger it waits on while suspended cancelably (a
// TriggerState*), null while it does not, or busy() while a canceler takes the trigger out.
// Shared by the fiber and its computation, whose list of slots it is linked into from the
// fiber's first cancelable wait (ComputationState::try_link_slot) until the fiber leaves the
// computation or the computation completes (picos/fiber.cc). Each holds a reference.
struct WaitSlot : RefCounted<WaitSlot>, ThreadCached<WaitSlot> {
  static void* busy() noexcept { return &busy_tag; }
  std::atomic<void*> trigger{nullptr};
  // The computation's list, under its lock (ComputationState::first_slot_).
  WaitSlot* prev = nullptr;
  WaitSlot* next = nullptr;
  // Whether the fiber's side of the handshake stores the trigger with a light fence
  // (picos/internal/asymmetric_fence.h) and the canceler pays a heavy one where it finds the
  // slot empty; else both sides are sequentially consistent. Set before the slot is shared.
  bool light = false;
  static inline char busy_tag = 0;  // its address is the busy mark
};
}  // namespace internal
using FiberRef = internal::Ref<Fiber>;

// Thrown by FlsKey<T>::get_or_throw when the key has no value in the fiber.
class FlsNotSet : public std::logic_error {
 public:
  FlsNotSet() : std::logic_error("picos: fiber-local storage key not set") {}
};

// Fibers are created at every spawn: their memory is recycled per thread (ThreadCached).
class Fiber : public internal::RefCounted<Fiber>, public internal::ThreadCached<Fiber> {
 public:
  // Creates a fiber that runs as part of `computation`. `forbid` = true starts it with
  // cancelation propagation masked. A fiber must be spawned at most once: a second spawn
  // (Fiber::spawn, or a scheduler's run_fiber) throws std::invalid_argument, as does spawning
  // a thread's implicit fiber (see spawn).
  static FiberRef create(PackedComputation computation, bool forbid = false);

  // The fiber running on this thread. A thread-local read (the scheduler keeps it current at
  // every switch); never suspends and never checks cancelation. On a thread without a
  // scheduler it is the thread's implicit fiber, created on first use.
  static Fiber& current();

  // ---- cancelation --------------------------------------------------------------------

  bool has_forbidden() const noexcept { return forbid_; }
  // Sets the flag and returns its previous value.
  bool exchange_forbid(bool forbid) noexcept { return std::exchange(forbid_, forbid); }
  // Runs `fn` with cancelation propagation masked (forbid) or allowed (permit), restoring the
  // previous state on return or exception. Not a counter: nesting just restores.
  template <typename F>
  decltype(auto) forbid(F&& fn) {
    Restore r{this, exchange_forbid(true)};
    return fn();
  }
  template <typename F>
  decltype(auto) permit(F&& fn) {
    Restore r{this, exchange_forbid(false)};
    return fn();
  }

  // True iff propagation is permitted and the computation is canceled.
  bool is_canceled() const noexcept { return !forbid_ && computation_.is_canceled(); }
  // The cancelation reason, or nullptr if forbidden or not canceled.
  std::exception_ptr canceled() const noexcept {
    return forbid_ ? nullptr : computation_.canceled();
  }
  // Throws the cancelation reason if `is_canceled()`.
  void check() const {
    if (!forbid_) computation_.check();
  }

  const PackedComputation& get_computation() const noexcept { return computation_; }
  // Replaces the fiber's computation. Only the fiber itself, while it runs.
  void set_computation(PackedComputation c) noexcept {
    drop_canceler();
    computation_ = std::move(c);
  }

  // ---- operations on the current fiber (dispatched to the thread's scheduler) -----------

  // Runs `main` in `fiber` eventually, possibly on another thread. If the current fiber
  // permits cancelation and is canceled, throws its reason and does not spawn. Once spawned,
  // `main` is always called, even if `fiber` is canceled before it starts. An exception
  // escaping `main` is a fatal error handled by the scheduler (see its options).
  //
  // Misuse throws std::invalid_argument, before anything is spawned: "picos::Fiber::spawn:
  // null fiber"; "...: empty main" for a main that converts to false (an empty
  // AnyInvocable or std::function, a null function pointer); "...: the fiber has already
  // been spawned" for a fiber spawned before (by spawn or a scheduler's run_fiber), the
  // running one included, or a thread's implicit fiber. The fiber counts as spawned from the
  // moment spawn gets past those checks: a spawn that then throws (the current fiber is
  // canceled, or memory runs out) leaves it spawned and unusable; spawn a new one. Two
  // threads spawning one fiber at once: exactly one succeeds.
  //
  // A callable object passed directly is moved (an lvalue: copied) once, into the storage of
  // the fiber's scheduler: the kernel's schedulers keep closures of up to 64 bytes in the
  // fiber's record, allocating nothing for them (picos/fiber_main.h).
  static void spawn(FiberRef fiber, absl::AnyInvocable<void()> main);
  template <typename F, typename D = std::decay_t<F>,
            std::enable_if_t<std::is_class_v<D> && !std::is_same_v<D, absl::AnyInvocable<void()>> &&
                                 std::is_invocable_v<D&>,
                             int> = 0>
  static void spawn(FiberRef fiber, F&& main) {
    if (is_empty_callable(std::as_const(main))) throw_empty_main();
    if constexpr (std::is_lvalue_reference_v<F> || std::is_const_v<std::remove_reference_t<F>>) {
      D copy(main);
      spawn_main(std::move(fiber), FiberMain(copy));
    } else {
      spawn_main(std::move(fiber), FiberMain(main));
    }
  }
  // What both spawns call: checks the fiber (null, already spawned: as spawn), marks it
  // spawned, then calls the handler's spawn. `main` is not checked: a view cannot tell.
  static void spawn_main(FiberRef fiber, FiberMain main);

  // For schedulers, whose run_fiber spawns its first fiber without Fiber::spawn: marks the
  // fiber spawned, and returns false (changing nothing) if it already was. One atomic
  // exchange; thread-safe.
  bool mark_spawned() noexcept { return !spawned_.exchange(true, std::memory_order_relaxed); }

  // Lets other ready fibers run. Throws the cancelation reason if the current fiber permits
  // cancelation and is canceled.
  static void yield();

  // Suspends the current fiber for `delay` (seconds: negative or NaN -> invalid_argument,
  // "picos::Fiber::sleep: delay must be non-negative (got -5 ns)"). Throws the fiber's
  // cancelation reason if it is canceled before or during the sleep. A delay of any other
  // std::chrono::duration (seconds, hours, a floating-point count) too long for nanoseconds
  // (seconds::max(), 300 years) saturates to nanoseconds::max(): the sleep ends only by
  // cancelation, where the implicit conversion to nanoseconds would have overflowed.
  static void sleep(std::chrono::nanoseconds delay);
  template <typename Rep, typename Period>
  static void sleep(std::chrono::duration<Rep, Period> delay) {
    sleep(internal::saturated_delay(delay, internal::kSleep));
  }
  static void sleep(double seconds);

  // ---- for schedulers ---------------------------------------------------------------

  // Prepares to suspend this fiber on `trigger` (call it on the scheduler's stack, after the
  // fiber's own stack is fully switched out). If the fiber permits cancelation, canceling its
  // computation signals the trigger for the duration. Returns true if the fiber is now
  // suspended and `action(trigger, x, y)` will run when it must be resumed; false if the
  // trigger is already signaled or the fiber already canceled: resume it now.
  //
  // Cost: the trigger is not attached to the computation at each wait. The fiber attaches
  // one canceler to its computation, at its first cancelable wait on that computation, and
  // each wait then publishes the trigger in the fiber's cancel slot (one atomic store and one
  // load; unsuspend clears it with one compare-and-swap). See docs/design.md, "Cancelable
  // waits without attaching".
  bool try_suspend(const Trigger& trigger, void* x, void* y, Trigger::Action action);

  // Called by the resume action with the (signaled) trigger: takes it out of the fiber's
  // cancel slot. Returns false iff the fiber permits cancelation and is canceled (schedulers
  // use that to resume canceled fibers first). Throws std::invalid_argument ("not signaled")
  // if the trigger is not signaled.
  bool unsuspend(const Trigger& trigger) const;

  // An opaque pointer for the scheduler running this fiber (its per-fiber record).
  void* scheduler_data() const noexcept { return scheduler_data_; }
  void set_scheduler_data(void* p) noexcept { scheduler_data_ = p; }

  // ---- debugging (picos/debug.h) -----------------------------------------------------

  // Unique in the process (never 0), assigned at creation.
  std::uint64_t id() const noexcept { return id_; }
  // The fiber's name in dumps (empty by default). Any thread.
  void set_name(std::string_view name);
  std::string name() const;

  // ---- fiber-local storage (see FlsKey) ------------------------------------------------
  struct FlsSlot {
    void* value = nullptr;
    void (*destroy)(void*) noexcept = nullptr;  // null: unset
  };
  // The slot of key `index`: nullptr if the fiber has none and !grow; with grow, the array
  // grows to hold it (3, 7, 15, ... slots). Only the fiber itself, or its scheduler while it
  // is suspended, or its creator before it is spawned.
  FlsSlot* fls_slot(std::uint32_t index, bool grow) {
    if (index < fls_.size()) [[likely]]
      return &fls_[index];
    return fls_slot_slow(index, grow);
  }

  ~Fiber();

 private:
  friend class internal::RefCounted<Fiber>;
  friend struct internal::FiberShard;       // reads the debug fields for dumps
  friend class internal::ComputationState;  // cancel_waiter, when a computation completes
  Fiber(PackedComputation computation, bool forbid) noexcept;

  // With traces on: stores the stack from the frame that `from` returns to (a
  // __builtin_return_address(0)) as the spawn's trace (`spawn`), or as the trace of the await
  // in progress, until end_trace (dumps show it while the fiber is suspended in that await).
  void capture_trace(bool spawn, const void* from) noexcept;
  void end_trace() noexcept;
  friend void internal::capture_await_trace(Fiber& fiber, const void* from) noexcept;
  friend void internal::end_await_trace(Fiber& fiber) noexcept;

  // try_suspend without the debug state, in every case; its fast path is inline in it.
  bool try_suspend_general(const Trigger& trigger, void* x, void* y, Trigger::Action action);
  // try_suspend's outcomes after publishing `trigger` in slot `w`: the computation was
  // canceled, or the trigger was signaled, before the wait began. Both return false.
  static bool canceled_before_wait(internal::WaitSlot& w, const Trigger& trigger);
  // `seen`: what the failed compare-and-swap found (Awaiting: a concurrent await, misuse).
  static bool signaled_before_wait(internal::WaitSlot& w, const Trigger& trigger,
                                   std::uint8_t seen) noexcept;

  struct Restore {
    Fiber* f;
    bool prev;
    ~Restore() { f->forbid_ = prev; }
  };

  // The cancel slot, linked into the computation first if it is not yet; nullptr if the
  // computation has completed (nothing can cancel a wait then).
  internal::WaitSlot* cancel_slot() { return wait_ ? wait_.get() : attach_canceler(); }
  // cancel_slot's slow path, at the first cancelable wait on the current computation: a new
  // slot, linked into the computation's list.
  internal::WaitSlot* attach_canceler();
  // Unlinks the slot, if any, from the computation and lets it go: a later wait uses a new
  // one, so this computation can never end it.
  void drop_canceler() noexcept;
  // Run by the completion of computation `c`, canceled, for each slot `w` linked into it:
  // ends the wait published in `w`, if any.
  static void cancel_waiter(internal::WaitSlot& w, internal::ComputationState& c) noexcept;

  [[noreturn]] static void throw_empty_main();

  bool forbid_;
  mutable internal::SpinLock name_lock_;  // (beside forbid_: no room taken)
  // Set by the fiber's one spawn (mark_spawned); true from creation for a thread's implicit
  // fiber. In the padding after name_lock_: no room taken, on the line spawn writes anyway.
  std::atomic<bool> spawned_{false};
  PackedComputation computation_;
  void* scheduler_data_ = nullptr;
  // The cancel slot linked into computation_ (null until the first cancelable wait on it):
  // the trigger of the wait in progress, if any.
  internal::Ref<internal::WaitSlot> wait_;
  // The slots' first array (3 slots: keys 0 to 2, as many as most programs make) comes from
  // a per-thread cache instead of malloc: a flock's fork sets its key in every child, so
  // every such spawn made one malloc and one free (~300 instructions) for it. Larger arrays
  // are malloc's.
  FlsSlot* fls_slot_slow(std::uint32_t index, bool grow);
  std::vector<FlsSlot, internal::ThreadCacheArrayAllocator<FlsSlot, 3>> fls_;

  // Debugging (picos/debug.h). The wait fields are written by try_suspend (the label comes
  // from the trigger: Trigger::set_wait_label) and unsuspend, and read by dumps on any
  // thread: relaxed atomics, each a snapshot. (Which scheduler runs the fiber, and the
  // registry's links, are in the scheduler's record: internal::FiberListing.) With these the
  // fiber is 104 bytes (120 until its canceler trigger gave way to the linked slot), within
  // malloc's fast bins. (spawned_ sits in padding: static_assert in picos/fiber.cc.)
  const std::uint64_t id_;
  // The name and traces, allocated at the first set_name or trace (null: neither).
  std::unique_ptr<internal::FiberDebugExtra> extra_ ABSL_GUARDED_BY(name_lock_);
  // Debug ticks (picos/debug.cc) at the suspension in progress, 0 while not suspended
  // (cleared by unsuspend, which is const).
  mutable std::atomic<std::uint64_t> suspended_at_{0};
  std::atomic<const debug::WaitKind*> wait_kind_{nullptr};  // null: no label
  std::atomic<const void*> wait_object_{nullptr};
  std::atomic<std::int64_t> wait_value_{0};
};

namespace internal {
std::uint32_t new_fls_index() noexcept;
}  // namespace internal

// A key into fiber-local storage holding values of type T. Keys are meant to be created once
// (as globals or statics): each takes a new index for the life of the process. Values are
// owned by the fiber and destroyed when it is destroyed or the key is removed/overwritten.
// Small trivially copyable values are stored inline, others on the heap.
// Only the fiber itself (or its scheduler while it is suspended) may access its storage.
template <typename T>
class FlsKey {
  static constexpr bool kInline =
      sizeof(T) <= sizeof(void*) && std::is_trivially_copyable_v<T> && alignof(T) <= alignof(void*);

 public:
  FlsKey() noexcept : index_(internal::new_fls_index()) {}
  FlsKey(const FlsKey&) = delete;
  FlsKey& operator=(const FlsKey&) = delete;

  // The value in `fiber`, or nullptr if unset.
  T* get(Fiber& fiber = Fiber::current()) const {
    Fiber::FlsSlot* s = fiber.fls_slot(index_, false);
    if (!s || !s->destroy) return nullptr;
    return ptr(*s);
  }
  // The value, or throws FlsNotSet.
  T& get_or_throw(Fiber& fiber = Fiber::current()) const {
    if (T* p = get(fiber)) return *p;
    throw FlsNotSet();
  }
  // The value, or `def` if unset.
  T get_or(T def, Fiber& fiber = Fiber::current()) const {
    if (T* p = get(fiber)) return *p;
    return def;
  }
  // Stores `value`, destroying any previous one.
  T& set(T value, Fiber& fiber = Fiber::current()) const {
    Fiber::FlsSlot* s = fiber.fls_slot(index_, true);
    clear(*s);
    if constexpr (kInline) {
      ::new (static_cast<void*>(&s->value)) T(value);
      s->destroy = [](void*) noexcept {};
    } else {
      s->value = new T(std::move(value));
      s->destroy = [](void* p) noexcept { delete static_cast<T*>(p); };
    }
    return *ptr(*s);
  }
  // Destroys the value, if any.
  void remove(Fiber& fiber = Fiber::current()) const {
    if (Fiber::FlsSlot* s = fiber.fls_slot(index_, false)) clear(*s);
  }
  // Makes room so that a later `set` does not grow the fiber's slot array.
  void reserve(Fiber& fiber = Fiber::current()) const { (void)fiber.fls_slot(index_, true); }

 private:
  static T* ptr(Fiber::FlsSlot& s) noexcept {
    if constexpr (kInline) {
      return std::launder(reinterpret_cast<T*>(&s.value));
    } else {
      return static_cast<T*>(s.value);
    }
  }
  static void clear(Fiber::FlsSlot& s) noexcept {
    if (s.destroy) {
      if constexpr (!kInline) s.destroy(s.value);
      s.destroy = nullptr;
      s.value = nullptr;
    }
  }

  std::uint32_t index_;
};

}  // namespace picos

#endif  // PICOS_FIBER_H_
