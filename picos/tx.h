// Copyright 2026 The Picos for C++ Authors.
//
// picos/tx.h — atomic completion of several computations.
//
// A `Tx` collects completions (`try_return`, `try_cancel`) of distinct running computations
// and then `try_commit()`s them all at once: either every computation in the transaction is
// completed as recorded, or none is. CML-style events and `Run.any` use it to complete "one of
// several" without a window in which two complete.
//
// Semantics (differences from OCaml's obstruction-free protocol are deliberate and explained
// in docs/design.md): recording a completion does not touch the computation, so single
// computation operations are never slowed down or aborted by a transaction; conflicts are
// detected at commit, which locks the involved computations in address order, checks that
// all are still running, completes them all, and signals their triggers after unlocking.
// The commit is linearizable.
//
// A Tx is used by one thread. Cost: the first two recorded completions are kept inline (a
// small completion's callable too), each further one may allocate; one lock per computation
// at commit.

#ifndef PICOS_TX_H_
#define PICOS_TX_H_

#include <exception>
#include <type_traits>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "picos/computation.h"

namespace picos {

class Tx {
 public:
  Tx() = default;
  Tx(const Tx&) = delete;
  Tx& operator=(const Tx&) = delete;

  // Records that `c` is to return `value`. Returns false, and aborts the whole transaction,
  // if `c` is no longer running or is already part of this transaction. Throws
  // std::invalid_argument ("already committed") after a successful commit.
  // T must be nothrow move constructible: the value is moved into place under the locks.
  template <typename T, typename U>
  bool try_return(const Computation<T>& c, U&& value) {
    static_assert(std::is_nothrow_move_constructible_v<T>,
                  "picos::Tx::try_return needs a nothrow move constructible value type");
    using State = internal::ValueState<T>;
    return record(c, nullptr,
                  [v = T(std::forward<U>(value))](internal::ComputationState* s) mutable noexcept {
                    static_cast<State*>(s)->value_.emplace(std::move(v));
                  });
  }
  // For Computation<void>.
  bool try_finish(const Computation<void>& c) {
    return record(c, nullptr, [](internal::ComputationState*) {});
  }

  // Records that `c` is to be canceled with `reason` (non-null: std::invalid_argument).
  // Same return value and errors as try_return.
  bool try_cancel(const PackedComputation& c, std::exception_ptr reason);

  // Completes every recorded computation atomically. Returns true on success; false if the
  // transaction was aborted or some computation has completed meanwhile (then nothing is
  // completed). A committed transaction cannot be committed or extended again. With more
  // than four computations it allocates, before locking any of them: std::bad_alloc then
  // leaves the transaction and its computations as they were (it may be committed again).
  bool try_commit();

  bool is_aborted() const noexcept { return state_ == kAborted; }
  bool is_committed() const noexcept { return state_ == kCommitted; }

 private:
  enum State { kStarted, kAborted, kCommitted };
  // Stores the value of a return (under the computation's lock). Small values stay inline.
  using Write = absl::AnyInvocable<void(internal::ComputationState*)>;
  struct Op {
    internal::Ref<internal::ComputationState> c;
    std::exception_ptr reason;  // null: return, using `write` to store the value
    Write write;
  };

  bool record(const PackedComputation& c, std::exception_ptr reason, Write write);

  State state_ = kStarted;
  // Inline up to two: a select's hand-off (two claims) or a fired alternative (claim and
  // mine) allocates nothing for its transaction.
  absl::InlinedVector<Op, 2> ops_;
};

}  // namespace picos

#endif  // PICOS_TX_H_
