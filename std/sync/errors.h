// Copyright 2026 The Picos for C++ Authors.
//
// std/sync/errors.h — the exceptions the poisonable primitives share.
//
// A primitive is *poisoned* when a holder declares the state it guards broken (Lock, Rwlock,
// Sem, Barrier: `poison()`, or a `holding` section that exits by an exception). From then on
// every acquire, current waiters included, throws `Poisoned`; releases become no-ops. An Rwlock
// can also be *frozen*: it stays read-locked forever, shared holds still succeed, and an
// exclusive acquire throws `Frozen`. Both derive from std::runtime_error; `what()` names the
// primitive and the operation.

#ifndef PICOS_STD_SYNC_ERRORS_H_
#define PICOS_STD_SYNC_ERRORS_H_

#include <stdexcept>

namespace picos::sync {

class Poisoned : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Frozen : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace picos::sync

#endif  // PICOS_STD_SYNC_ERRORS_H_
