// Copyright 2026 The Picos for C++ Authors.

#include "std/structured/control.h"

#include <stdexcept>

namespace picos::structured {

namespace {

std::string describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace

Errors::Errors(std::vector<std::exception_ptr> errors) : errors_(std::move(errors)) {
  what_ = "Errors[";
  for (std::size_t i = 0; i < errors_.size(); ++i) {
    if (i) what_ += "; ";
    what_ += describe(errors_[i]);
  }
  what_ += "]";
}

const std::exception_ptr& terminate_reason() noexcept {
  static const std::exception_ptr reason = std::make_exception_ptr(Terminate());
  return reason;
}

bool is_terminate(const std::exception_ptr& e) noexcept {
  if (!e) return false;
  if (e == terminate_reason()) return true;
  try {
    std::rethrow_exception(e);
  } catch (const Terminate&) {
    return true;
  } catch (...) {
    return false;
  }
}

void Control::block() {
  Fiber& fiber = Fiber::current();
  if (fiber.has_forbidden()) {
    throw std::invalid_argument("picos::structured::Control::block: cancelation forbidden");
  }
  // The trigger is attached to the fiber's computation, so it is signaled when that
  // computation completes, canceled or not. (The scheduler attaches it too while the fiber
  // waits, but only if the computation is still running then: attaching it here first closes
  // the window in which a computation returned just before the await would leave us
  // suspended forever.)
  const PackedComputation c = fiber.get_computation();
  Trigger t;
  if (c.try_attach(t)) {
    if (std::exception_ptr reason = t.await()) std::rethrow_exception(reason);
  }
  c.check();
  throw std::runtime_error("picos::structured::Control::block: computation finished");
}

namespace internal {

Deadline::Deadline(std::chrono::nanoseconds delay)
    : fiber_(Fiber::current()), outer_(fiber_.get_computation()), inner_(Mode::kLifo) {
  picos::internal::check_delay(delay, Control::kTerminateAfter);
  fiber_.check();
  canceler_ = PackedComputation::attach_canceler(outer_, inner_);
  fiber_.set_computation(inner_);
  try {
    inner_.cancel_after(delay, terminate_reason());
  } catch (...) {
    fiber_.set_computation(outer_);
    outer_.detach(canceler_);
    inner_.finish();
    throw;
  }
}

void Deadline::end(const std::exception_ptr& e) noexcept {
  if (e) {
    inner_.cancel(e);
  } else {
    inner_.finish();  // removes the timer
  }
  outer_.detach(canceler_);
  fiber_.set_computation(outer_);
}

}  // namespace internal

}  // namespace picos::structured
