// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/ivar.h — an incremental (write-once) variable.
//
// `Ivar<T>` starts empty, is filled exactly once (`fill`) or poisoned with an exception
// (`poison`), and readers wait for it (`read`). A thin layer over picos::Computation<T>:
// the value lives in the shared state, so an Ivar is a cheap handle (copies refer to the
// same variable) and works for move-only T.
//
// Behaviour:
//  - `read` suspends the fiber until the Ivar is filled or poisoned; it is a cancelation point
//    (throws the fiber's reason if canceled while waiting); once filled it returns the value
//    by reference without suspending; once poisoned it rethrows the poison.
//  - `fill` and `poison` never suspend and are not cancelation points; doing either on an
//    Ivar that is already filled or poisoned throws std::logic_error ("already filled").
//    `try_fill` / `try_poison` return false instead.
//  - `peek` returns the value's address if filled, nullptr while empty, and rethrows a poison.

#ifndef PICOS_STD_SYNC_IVAR_H_
#define PICOS_STD_SYNC_IVAR_H_

#include <exception>
#include <stdexcept>
#include <utility>

#include "picos/computation.h"

namespace picos::sync {

template <typename T>
class Ivar {
 public:
  Ivar() : c_(Mode::kFifo) {}

  bool try_fill(T value) const { return c_.try_return(std::move(value)); }
  void fill(T value) const {
    if (!try_fill(std::move(value))) throw std::logic_error("picos::sync::Ivar: already filled");
  }

  // `reason` must not be null (std::invalid_argument).
  bool try_poison(std::exception_ptr reason) const { return c_.try_cancel(std::move(reason)); }
  void poison(std::exception_ptr reason) const {
    if (!try_poison(std::move(reason))) throw std::logic_error("picos::sync::Ivar: already filled");
  }

  const T& read() const { return c_.await(); }

  const T* peek() const {
    if (c_.is_running()) return nullptr;
    return &c_.await();  // completed: returns (or rethrows) without suspending
  }

  bool is_filled() const noexcept { return c_.is_returned(); }
  bool is_poisoned() const noexcept { return c_.is_canceled(); }

  // The underlying computation, e.g. to attach triggers or select over several.
  const Computation<T>& computation() const noexcept { return c_; }

 private:
  Computation<T> c_;
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_IVAR_H_
