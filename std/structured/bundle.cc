// Copyright 2026 The Picos for C++ Authors.

#include "std/structured/bundle.h"

#include <stdexcept>
#include <string>

#include "picos/debug.h"

namespace picos::structured {
namespace internal {

namespace {

// The innermost flock of each fiber. A raw pointer: a flock's state outlives every fiber
// forked into it (its join waits for them), and join_after restores the outer value.
const FlsKey<BundleState*>& flock_key() {
  static const FlsKey<BundleState*> key;
  return key;
}

}  // namespace

BundleState* current_flock() noexcept { return flock_key().get_or(nullptr); }

void throw_empty_function(const char* fn) {
  throw std::invalid_argument(std::string(fn) + ": empty function");
}

FiberRef BundleState::prepare_fork(const PackedComputation& computation) {
  std::int64_t n = count.load(std::memory_order_relaxed);
  do {
    if (n == 0) {
      throw std::invalid_argument(
          "picos::structured::Bundle::fork: the scope has already been joined (the bundle "
          "was used after its join_after returned)");
    }
  } while (!count.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  if (std::exception_ptr reason = comp.canceled()) {
    leave();
    std::rethrow_exception(reason);
  }
  try {
    FiberRef fiber = Fiber::create(computation);
    if (is_flock) flock_key().set(this, *fiber);
    return fiber;
  } catch (...) {  // std::bad_alloc
    leave();
    throw;
  }
}

void BundleState::spawn(FiberRef fiber, FiberMain main) {
  Fiber::spawn_main(std::move(fiber), std::move(main));
}

void BundleState::leave() noexcept {
  if (count.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    (void)comp.try_cancel(terminate_reason());
    finished.signal();
  }
}

void BundleState::error(const std::exception_ptr& e) noexcept {
  if (!e || is_terminate(e)) return;
  if (e == comp.canceled()) return;
  {
    picos::internal::MutexLock lock(errors_mu);
    for (const auto& x : errors) {
      if (x == e) return;
    }
    errors.push_back(e);
    any_errors.store(true, std::memory_order_release);
  }
  (void)comp.try_cancel(terminate_reason());
}

void BundleState::check_errors() {
  if (!any_errors.load(std::memory_order_acquire)) return;
  std::vector<std::exception_ptr> es;
  {
    picos::internal::MutexLock lock(errors_mu);
    if (errors.empty()) return;
    // Moved out: the state may be destroyed by a child fiber's thread later, and the
    // exceptions' last owner should be the fiber that handles them. (libstdc++ counts
    // exception_ptr references in uninstrumented code, so TSan cannot see that ordering.)
    es = std::move(errors);
    errors.clear();
  }
  if (es.size() == 1) std::rethrow_exception(es.front());
  throw Errors(std::move(es));
}

Scope::Scope(bool flock)
    : fiber_(Fiber::current()),
      parent_(fiber_.get_computation()),
      st_(BundleRef::adopt(new BundleState(flock))),
      canceler_(PackedComputation::attach_canceler(parent_, st_->comp)) {
  fiber_.set_computation(st_->comp);
  if (flock) {
    outer_flock_ = current_flock();
    flock_key().set(st_.get(), fiber_);
  }
}

void Scope::join(const std::exception_ptr& e) {
  if (e) st_->error(e);
  fiber_.set_computation(parent_);
  const bool forbid = fiber_.exchange_forbid(true);
  st_->leave();
  static constexpr debug::WaitKind kJoin{"picos::structured scope", "join"};
  st_->finished.set_wait_label(kJoin, st_.get());
  (void)st_->finished.await();  // cannot be canceled: forbidden
  fiber_.exchange_forbid(forbid);
  parent_.detach(canceler_);
  if (st_->is_flock) {
    if (outer_flock_) {
      flock_key().set(outer_flock_, fiber_);
    } else {
      flock_key().remove(fiber_);
    }
  }
  st_->check_errors();
  fiber_.check();
}

}  // namespace internal

Bundle Flock::current() {
  internal::BundleState* st = internal::current_flock();
  if (!st)
    throw std::invalid_argument(
        "picos::structured::Flock: no flock (not inside Flock::join_after)");
  return Bundle(internal::BundleRef::share(st));
}

}  // namespace picos::structured
