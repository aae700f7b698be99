// Copyright 2026 The Picos for C++ Authors.
//
// std/event/event.h — Concurrent ML events: first-class synchronous operations.
//
// An `Event<T>` describes a synchronous operation that, once *synchronised on*, produces a T
// (or throws). Events are values: building one does nothing; `sync(e)` performs it, and
// `select({e1, e2, ...})` performs exactly one of several, whichever can commit first.
//
//   Event<int> e = choose({map(receive_evt(a), [](auto v) { return *v; }),
//                          map(after(1s), [] { return -1; })});
//   int x = sync(e);  // a value from channel `a`, or -1 after one second
//
// Combinators: `always(v)` (ready at once), `never<T>()` (never ready), `choose({...})` (any
// of several), `map(e, f)` / `wrap` (post-process the result on the syncing fiber, after the
// commit), `guard(f)` (build the event at sync time, e.g. to start a timer or read a clock),
// `from_computation(c)` (ready when `c` completes: its value, or its cancelation reason
// thrown), `after(d)` (ready `d` after the sync starts). Event versions of the //std/sync
// blocking operations are in std/event/sync_events.h.
//
// Semantics of `sync` / `select` (docs/event.md):
//  - Exactly one alternative commits. Every alternative shares one *claim*, a
//    picos::Computation<void>; an alternative commits by completing it (a channel hand-off
//    between two selects completes both claims in one picos::Tx), so a select never consumes
//    two values, and a value offered by a losing alternative is left where it was.
//  - Order: guards run first, in list order (an exception from a guard propagates from sync
//    with nothing requested). Then each alternative is requested in list order: one that
//    can commit at once does, and later ones are not requested (so among alternatives ready
//    on entry the first listed wins). Otherwise the fiber suspends until one commits.
//  - After the commit the losing alternatives are withdrawn (taking their channel's lock,
//    detaching from computations), and then the winner's `map` functions run on the syncing
//    fiber; an exception they throw propagates from sync (the commit has happened).
//  - Cancelation: sync is a cancelation point. A fiber canceled on entry throws its reason
//    and requests nothing. Canceled while suspended, it cancels the claim: if that wins, no
//    alternative commits (nothing consumed, no send delivered) and sync throws the reason; if
//    an alternative committed first, completion wins: sync returns its result and the
//    cancelation stays pending for the next cancelation point.
//  - `sync(never<T>())` (or `select({})`) suspends until the fiber is canceled.
//
// Thread safety: events are immutable values; copy them and sync on them from any fiber.
//
// Cost: a sync allocates the claim, one small object per alternative (from a per-thread cache
// for the events here, in sync_events.h and io's; the list of them is inline up to four), and
// a trigger if it suspends; computation-based alternatives (from_computation, after, ivar, latch,
// stream) add a trigger and a small Tx when they fire. No lock is held while suspended.

#ifndef PICOS_STD_EVENT_EVENT_H_
#define PICOS_STD_EVENT_EVENT_H_

#include <chrono>
#include <cstddef>
#include <exception>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "picos/computation.h"
#include "picos/fiber.h"
#include "picos/internal/thread_cache.h"
#include "picos/trigger.h"

namespace picos::event {

template <typename T>
class Event;

namespace internal {

// The state of one sync: the claim all alternatives race to complete, and a trigger that the
// alternatives' channel nodes share (nobody awaits it; the fiber awaits the claim).
struct Selection {
  Computation<void> claim{Mode::kLifo};
  Trigger shared;
};

// One alternative of one sync, created at sync time.
class Alt {
 public:
  virtual ~Alt() = default;
  // On the syncing fiber, while the claim may still be running: commits now if the operation
  // is ready (completing the claim) and returns true; otherwise registers so that another
  // party can commit it later, or does nothing if the claim is found completed, and returns
  // false. May throw only if it registered nothing.
  virtual bool request(Selection& s) = 0;
  // After the claim completed, for a requested alternative whose request returned false:
  // unregisters, and returns true iff this alternative was committed (by another party).
  virtual bool withdraw(Selection& s) noexcept = 0;
};

template <typename T>
class TypedAlt : public Alt {
 public:
  // On the syncing fiber, for the winner only: the result (runs the map functions).
  virtual T take() = 0;
};

// Inline room for eight alternatives: a select over a few events makes no allocation for the
// list itself (the alternatives are one small object each, from the thread's cache).
template <typename T>
using Alts = absl::InlinedVector<std::unique_ptr<TypedAlt<T>>, 8>;

// An event's building block: makes the alternatives at sync time (a guard runs its function).
template <typename T>
class Proto {
 public:
  virtual ~Proto() = default;
  virtual void instantiate(Alts<T>& out) const = 0;
};

// Runs the select protocol over `alts` (see the top) and returns the winner's index. Throws
// the fiber's cancelation reason (nothing committed).
std::size_t select_index(Alt* const* alts, std::size_t n);

template <typename T>
T sync_alts(Alts<T>& alts) {
  absl::InlinedVector<Alt*, 8> raw;
  raw.reserve(alts.size());
  for (auto& a : alts) raw.push_back(a.get());
  return alts[select_index(raw.data(), raw.size())]->take();
}

// A base alternative ready when a computation completes: `Source` says which computation
// (made at sync time) and what the result is.
class ComputationAlt : public Alt {
 public:
  explicit ComputationAlt(PackedComputation source) : source_(std::move(source)) {}
  bool request(Selection& s) override;
  bool withdraw(Selection& s) noexcept override;
  const PackedComputation& source() const noexcept { return source_; }

 private:
  PackedComputation source_;
  Computation<void> mine_;  // completed with the claim, in one Tx, iff this alternative won
  Trigger trigger_;         // attached to source_ (a from_action trigger), if requested
  bool attached_ = false;
};

template <typename T, typename Result>
class FnComputationAlt final : public TypedAlt<T>,
                               public picos::internal::ThreadCached<FnComputationAlt<T, Result>> {
 public:
  FnComputationAlt(PackedComputation source, Result result)
      : base_(std::move(source)), result_(std::move(result)) {}
  bool request(Selection& s) override { return base_.request(s); }
  bool withdraw(Selection& s) noexcept override { return base_.withdraw(s); }
  T take() override { return result_(); }

 private:
  ComputationAlt base_;
  Result result_;
};

template <typename T, typename Make>
class FnProto final : public Proto<T> {
 public:
  explicit FnProto(Make make) : make_(std::move(make)) {}
  void instantiate(Alts<T>& out) const override { out.push_back(make_()); }

 private:
  Make make_;
};

template <typename T, typename Make>
Event<T> from_proto_fn(Make make);

}  // namespace internal

// A first-class synchronous operation producing a T (T may be void). Cheap to copy: copies
// share the immutable description.
template <typename T>
class Event {
 public:
  using value_type = T;

  // never(): no alternatives.
  Event() = default;

  // For implementers of new base events: one alternative made by `proto` at sync time.
  explicit Event(std::shared_ptr<const internal::Proto<T>> proto) {
    protos_.push_back(std::move(proto));
  }

  // The alternatives, made at sync time (runs guards).
  void instantiate(internal::Alts<T>& out) const {
    for (const auto& p : protos_) p->instantiate(out);
  }

  // Used by choose().
  void append(const Event& e) { protos_.insert(protos_.end(), e.protos_.begin(), e.protos_.end()); }
  // Used by choose(): room for `n` alternatives' protos, and how many this event has.
  void reserve(std::size_t n) { protos_.reserve(n); }
  std::size_t proto_count() const noexcept { return protos_.size(); }

  bool is_never() const noexcept { return protos_.empty(); }

 private:
  // Two inline: a base event (receive_evt, send_evt, ...) or a choice of two allocates only
  // the protos.
  absl::InlinedVector<std::shared_ptr<const internal::Proto<T>>, 2> protos_;
};

namespace internal {
// The protos of all of `events` (choose() reserves them at once).
template <typename Events>
std::size_t total_protos(const Events& events) {
  std::size_t n = 0;
  for (const auto& e : events) n += e.proto_count();
  return n;
}

template <typename T, typename Make>
Event<T> from_proto_fn(Make make) {
  // From the thread's cache, not malloc: events are often made per select.
  return Event<T>(picos::internal::make_cached_shared<FnProto<T, Make>>(std::move(make)));
}
}  // namespace internal

// An event that is never ready (syncing on it alone waits until the fiber is canceled).
template <typename T>
Event<T> never() {
  return Event<T>();
}

// Any one of `events`: the first (in list order) ready at sync time, else the first to
// become ready. choose({}) is never().
template <typename T>
Event<T> choose(std::initializer_list<Event<T>> events) {
  Event<T> e;
  e.reserve(internal::total_protos(events));
  for (const auto& x : events) e.append(x);
  return e;
}
template <typename T>
Event<T> choose(const std::vector<Event<T>>& events) {
  Event<T> e;
  e.reserve(internal::total_protos(events));
  for (const auto& x : events) e.append(x);
  return e;
}

// Ready at once with a copy of `value` (always() for Event<void>).
template <typename T>
Event<T> always(T value) {
  struct A final : internal::TypedAlt<T>, picos::internal::ThreadCached<A> {
    explicit A(const T& v) : v(v) {}
    bool request(internal::Selection& s) override { return s.claim.try_finish(); }
    bool withdraw(internal::Selection&) noexcept override { return false; }
    T take() override { return v; }
    T v;
  };
  return internal::from_proto_fn<T>(
      [value = std::move(value)] { return std::unique_ptr<internal::TypedAlt<T>>(new A(value)); });
}
Event<void> always();

// Ready when `c` completes: its value (a copy), or its cancelation reason thrown by sync.
// Committing another alternative detaches from `c` and does not cancel it.
template <typename T>
Event<T> from_computation(Computation<T> c) {
  return internal::from_proto_fn<T>([c = std::move(c)] {
    auto result = [c]() -> T {
      if constexpr (std::is_void_v<T>) {
        c.check();
      } else {
        return *c.peek();
      }
    };
    return std::unique_ptr<internal::TypedAlt<T>>(
        new internal::FnComputationAlt<T, decltype(result)>(c, std::move(result)));
  });
}

// Ready `delay` after the sync starts (each sync starts its own timer, through the current
// scheduler's timers; the timer is removed when the sync ends). Negative delays throw
// std::invalid_argument when the event is made ("picos::event::after: delay must be
// non-negative (got -5 ns)"). A delay of any other std::chrono::duration (seconds, hours, a
// floating-point count) too long for nanoseconds (seconds::max(), 300 years) saturates to
// nanoseconds::max(): the event never becomes ready.
Event<void> after(std::chrono::nanoseconds delay);
template <typename Rep, typename Period>
Event<void> after(std::chrono::duration<Rep, Period> delay) {
  return after(picos::internal::saturated_delay(delay, "picos::event::after"));
}
Event<void> after(double seconds);

// `e` with `f` applied to its result, on the syncing fiber after the commit (`f()` for
// Event<void>). `f` may throw: the exception propagates from sync.
template <typename T, typename F>
auto map(const Event<T>& e, F f) {
  using U = std::conditional_t<std::is_void_v<T>, std::invoke_result<F>, std::invoke_result<F, T>>;
  using R = typename U::type;
  struct A final : internal::TypedAlt<R>, picos::internal::ThreadCached<A> {
    A(std::unique_ptr<internal::TypedAlt<T>> inner, const F& f) : inner(std::move(inner)), f(f) {}
    bool request(internal::Selection& s) override { return inner->request(s); }
    bool withdraw(internal::Selection& s) noexcept override { return inner->withdraw(s); }
    R take() override {
      if constexpr (std::is_void_v<T>) {
        inner->take();
        return f();
      } else {
        return f(inner->take());
      }
    }
    std::unique_ptr<internal::TypedAlt<T>> inner;
    F f;
  };
  struct P final : internal::Proto<R> {
    P(Event<T> e, F f) : e(std::move(e)), f(std::move(f)) {}
    void instantiate(internal::Alts<R>& out) const override {
      internal::Alts<T> inner;
      e.instantiate(inner);
      for (auto& a : inner) out.push_back(std::make_unique<A>(std::move(a), f));
    }
    Event<T> e;
    F f;
  };
  return Event<R>(picos::internal::make_cached_shared<P>(e, std::move(f)));
}
// CML's name for map.
template <typename T, typename F>
auto wrap(const Event<T>& e, F f) {
  return map(e, std::move(f));
}

// An event built by calling `f()` (which returns an Event) at each sync, before anything is
// requested; an exception from `f` propagates from sync.
template <typename F>
auto guard(F f) {
  using E = std::invoke_result_t<F>;
  using T = typename E::value_type;
  struct P final : internal::Proto<T> {
    explicit P(F f) : f(std::move(f)) {}
    void instantiate(internal::Alts<T>& out) const override { f().instantiate(out); }
    F f;
  };
  return Event<T>(picos::internal::make_cached_shared<P>(std::move(f)));
}

// Performs `e`: waits until one of its alternatives commits and returns its result (see the
// top for the exact semantics). A cancelation point.
template <typename T>
T sync(const Event<T>& e) {
  Fiber::current().check();
  internal::Alts<T> alts;
  e.instantiate(alts);
  return internal::sync_alts(alts);
}

// sync(choose(events)).
template <typename T>
T select(std::initializer_list<Event<T>> events) {
  Fiber::current().check();
  internal::Alts<T> alts;
  for (const auto& e : events) e.instantiate(alts);
  return internal::sync_alts(alts);
}
template <typename T>
T select(const std::vector<Event<T>>& events) {
  Fiber::current().check();
  internal::Alts<T> alts;
  for (const auto& e : events) e.instantiate(alts);
  return internal::sync_alts(alts);
}

}  // namespace picos::event

#endif  // PICOS_STD_EVENT_EVENT_H_
