// Copyright 2026 The Picos for C++ Authors.
//
// std/finally/finally.h — resources whose release runs exactly once, with cancelation masked,
// and that can be moved into a forked fiber without a window in which they could leak.
//
// C++ already has RAII: a destructor runs however a scope exits, and in a canceled fiber the
// exception carrying the cancelation reason unwinds through it like any other. What plain
// RAII lacks on fibers is (a) masking: a destructor that waits (flushes a buffer through a
// channel, joins a helper, closes a connection politely) is itself a cancelation point and
// would be cut short in a canceled fiber, so release must run with cancelation *forbidden*
// (Fiber::forbid); and (b) a hand-off to another fiber: a resource moved into a lambda given
// to Fiber::spawn is lost (or double-owned) if the spawn throws after the move, and nobody
// releases it if the spawned fiber is never run. This header gives the C++ shape of
// Picos_std_finally (docs/finally.md):
//
//  - `lastly(scope, action)`: runs `scope()`, then `action()` with cancelation forbidden,
//    however scope exits (OCaml `lastly`). `finally(acquire, release, scope)`:
//    `x = acquire()`, `scope(x)`, `release(x)` forbidden (OCaml `finally`).
//  - `Owned<T>`: a move-only handle owning a resource and its release function
//    (`instantiate(acquire, release)`). The release runs exactly once, forbidden, when the
//    handle is destroyed or `drop()`ped, unless ownership has been moved on. `borrow()` /
//    `operator->` use the resource without taking ownership.
//  - `spawn_with(fiber, owned, main)`: moves ownership into a new fiber: `main(resource)` runs
//    in the fiber and the resource is released (forbidden) when main returns or throws. If
//    the spawn fails (throws: the spawning fiber is canceled, out of memory...), ownership
//    stays with the caller's handle, which releases it as usual. Ownership passes at the
//    moment the scheduler accepts the fiber, never before.
//
// Exactly once: an Owned's state is one atomic word; `drop`, the destructor and a transfer
// race through a compare-and-swap, so the release runs once even if two fibers race
// (dropping from one fiber while another moves it is a logic error, but not a double
// release). A release function that throws is a bug: the exception propagates from drop()
// (the resource counts as released) and terminates from a destructor or from a move
// assignment over a handle that owns a resource.
//
// Cost: an Owned allocates one small shared record (the resource, its release function and
// the state word); borrowing is a load; release is one CAS plus the release function.

#ifndef PICOS_STD_FINALLY_FINALLY_H_
#define PICOS_STD_FINALLY_FINALLY_H_

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "picos/fiber.h"

namespace picos::finally {

// Runs `fn()` with cancelation propagation forbidden in the current fiber (restored after).
template <typename F>
decltype(auto) forbidden(F&& fn) {
  return Fiber::current().forbid(std::forward<F>(fn));
}

// Runs `scope()` and then, however it exits, `action()` with cancelation forbidden. Returns
// scope's result; rethrows its exception (after the action). An exception from the action
// propagates when scope returned normally and is dropped when scope threw (the first failure
// wins, as when a destructor runs during unwinding... except that it does not terminate).
template <typename Scope, typename Action>
decltype(auto) lastly(Scope&& scope, Action&& action) {
  struct Guard {
    Action& action;
    int uncaught = std::uncaught_exceptions();
    ~Guard() noexcept(false) {
      if (std::uncaught_exceptions() > uncaught) {
        try {
          forbidden(action);
        } catch (...) {  // scope's exception wins
        }
      } else {
        forbidden(action);
      }
    }
  } guard{action};
  return scope();
}

// `x = acquire()`, then `scope(x)`, then `release(x)` with cancelation forbidden however
// scope exits (if acquire throws, nothing is released). Returns scope's result.
template <typename Acquire, typename Release, typename Scope>
decltype(auto) finally(Acquire&& acquire, Release&& release, Scope&& scope) {
  auto x = acquire();
  return lastly([&]() -> decltype(auto) { return scope(x); }, [&] { release(x); });
}

// Thrown when an Owned that no longer owns its resource (moved on, transferred into a fiber,
// or dropped) is borrowed or transferred.
class NotOwned : public std::logic_error {
 public:
  explicit NotOwned(const char* what) : std::logic_error(what) {}
};

namespace internal {
template <typename T>
struct Record {
  enum : std::uint8_t { kOwned = 0, kTransferred = 1, kDropped = 2 };
  template <typename R>
  Record(T r, R rel) : resource(std::move(r)), release(std::move(rel)) {}
  T resource;
  std::function<void(T&)> release;
  std::atomic<std::uint8_t> state{kOwned};
};
}  // namespace internal

// A move-only handle that owns a resource of type T and the function that releases it.
template <typename T>
class Owned {
  using Record = internal::Record<T>;

 public:
  // An empty handle (owns nothing).
  Owned() = default;
  // Owns `resource`; `release(resource)` will run exactly once (see drop). If the handle
  // cannot be made (std::bad_alloc, or what copying `release` throws), `release(resource)`
  // runs at once, forbidden, and the exception propagates: the resource is never left
  // unowned.
  template <typename Release>
  Owned(T resource, Release&& release) {
    try {
      // `release` is copied (not moved), so that it is still whole if this throws.
      r_ = std::make_shared<Record>(std::move(resource), std::function<void(T&)>(release));
    } catch (...) {
      forbidden([&] { release(resource); });
      throw;
    }
  }
  Owned(Owned&&) noexcept = default;
  Owned& operator=(Owned&& o) noexcept {
    if (this != &o) {
      drop_noexcept();
      r_ = std::move(o.r_);
    }
    return *this;
  }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() { drop_noexcept(); }

  // True while this handle still owns a resource that has not been released.
  bool owns() const noexcept {
    return r_ && r_->state.load(std::memory_order_acquire) == Record::kOwned;
  }
  explicit operator bool() const noexcept { return owns(); }

  // Releases the resource now (cancelation forbidden) if this handle still owns it; else
  // does nothing. Afterwards the handle is empty. Rethrows an exception from the release.
  void drop() {
    std::shared_ptr<Record> r = std::move(r_);
    if (!r) return;
    std::uint8_t expected = Record::kOwned;
    if (r->state.compare_exchange_strong(expected, Record::kDropped, std::memory_order_acq_rel)) {
      forbidden([&] { r->release(r->resource); });
    }
  }

  // The resource, still owned by this handle. Throws NotOwned once it has been moved into a
  // fiber or dropped.
  T& borrow() const {
    if (!owns())
      throw NotOwned("picos::finally::Owned: the resource is not owned (moved or dropped)");
    return r_->resource;
  }
  T* operator->() const { return &borrow(); }
  T& operator*() const { return borrow(); }

  // Gives up ownership without releasing: returns the resource; the caller must release it.
  T release_ownership() {
    if (!owns())
      throw NotOwned("picos::finally::Owned: the resource is not owned (moved or dropped)");
    std::shared_ptr<Record> r = std::move(r_);
    r->state.store(Record::kTransferred, std::memory_order_release);
    return std::move(r->resource);
  }

 private:
  template <typename U, typename Main>
  friend void spawn_with(FiberRef fiber, Owned<U>& owned, Main main);

  void drop_noexcept() noexcept { drop(); }  // a throwing release terminates here

  std::shared_ptr<Record> r_;
};

// Acquires a resource (`acquire()`) and returns a handle that will release it with
// `release(resource)`, forbidden, exactly once. If acquire throws nothing is owned; if the
// handle cannot be made, the resource is released at once (see Owned's constructor).
template <typename Acquire, typename Release>
auto instantiate(Acquire&& acquire, Release release) {
  using T = std::decay_t<std::invoke_result_t<Acquire&>>;
  return Owned<T>(acquire(), std::move(release));
}

// Spawns `fiber` running `main(resource)` and moves the ownership of `owned`'s resource into
// it: the fiber releases the resource (forbidden) when main returns or throws, even if the
// fiber was canceled before it started (a spawned fiber's main always runs). If
// Fiber::spawn throws (the current fiber is canceled, out of memory...), `owned` keeps the
// resource and the exception propagates; the caller's handle releases it as usual. On
// success `owned` is left empty. Throws NotOwned if `owned` does not own a resource. An
// exception escaping `main` goes to the scheduler like any fiber's (after the release).
template <typename T, typename Main>
void spawn_with(FiberRef fiber, Owned<T>& owned, Main main) {
  if (!owned.owns()) throw NotOwned("picos::finally::spawn_with: the resource is not owned");
  std::shared_ptr<internal::Record<T>> r = owned.r_;
  // The fiber's main owns a copy of the record; it takes over only once it runs, and a spawn
  // that throws never runs it, so until then the caller's handle is the owner.
  Fiber::spawn(std::move(fiber), [r, main = std::move(main)]() mutable {
    Owned<T> mine;
    mine.r_ = std::move(r);
    main(mine.r_->resource);  // `mine` releases it on return or exception
  });
  // Spawned: ownership has passed to the fiber. Mark the caller's handle empty without
  // releasing (the fiber may already have run and released it).
  owned.r_.reset();
}

}  // namespace picos::finally

#endif  // PICOS_STD_FINALLY_FINALLY_H_
