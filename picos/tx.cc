// Copyright 2026 The Picos for C++ Authors.

#include "picos/tx.h"

#include <algorithm>
#include <stdexcept>

#include "absl/base/thread_annotations.h"

namespace picos {

using internal::ComputationState;

bool Tx::record(const PackedComputation& c, std::exception_ptr reason, Write write) {
  if (state_ == kCommitted) throw std::invalid_argument("picos::Tx: already committed");
  if (state_ == kAborted) return false;
  ComputationState* s = c.s_.get();
  bool duplicate =
      std::any_of(ops_.begin(), ops_.end(), [s](const Op& op) { return op.c.get() == s; });
  if (duplicate || s->status() != ComputationState::kRunning) {
    state_ = kAborted;
    ops_.clear();
    return false;
  }
  ops_.push_back(
      Op{internal::Ref<ComputationState>::share(s), std::move(reason), std::move(write)});
  return true;
}

bool Tx::try_cancel(const PackedComputation& c, std::exception_ptr reason) {
  if (!reason) throw std::invalid_argument("picos::Tx: cancelation reason must not be null");
  return record(c, std::move(reason), nullptr);
}

namespace {
// try_commit's locked section, noexcept: a throw under the computations' spin locks would
// leave them locked forever, so nothing in it may throw (a bug would terminate instead). The
// caller has locked every computation of `ops` and reserved room for one bag per op in `bags`;
// `write`s are the nothrow moves of Tx::try_return (and try_finish's no-op).
template <typename Ops, typename Bags>
void complete_all_locked(Ops& ops, Bags& bags) noexcept ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (auto& op : ops) {
    if (op.reason) {
      op.c->reason_ = op.reason;
      bags.push_back(op.c->complete_locked(ComputationState::kCanceled));
    } else {
      op.write(op.c.get());
      bags.push_back(op.c->complete_locked(ComputationState::kReturned));
    }
  }
}
}  // namespace

// Not checked by -Wthread-safety: it takes a set of locks only known at run time, in a loop.
bool Tx::try_commit() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  if (state_ == kCommitted) throw std::invalid_argument("picos::Tx: already committed");
  if (state_ == kAborted) return false;
  // Everything that may allocate (and throw std::bad_alloc) comes before the first lock: a
  // commit that throws leaves the transaction and its computations as they were.
  absl::InlinedVector<ComputationState*, 4> order;
  order.reserve(ops_.size());
  absl::InlinedVector<ComputationState::Completed, 4> bags;
  bags.reserve(ops_.size());
  for (const Op& op : ops_) order.push_back(op.c.get());
  // Lock in address order so that concurrent commits over overlapping sets cannot deadlock.
  std::sort(order.begin(), order.end());
  for (ComputationState* s : order) s->lock_.lock();
  bool all_running = std::all_of(order.begin(), order.end(), [](ComputationState* s) {
    return s->status() == ComputationState::kRunning;
  });
  if (!all_running) {
    for (ComputationState* s : order) s->lock_.unlock();
    state_ = kAborted;
    ops_.clear();
    return false;
  }
  complete_all_locked(ops_, bags);
  for (ComputationState* s : order) s->lock_.unlock();
  state_ = kCommitted;
  for (std::size_t i = 0; i < ops_.size(); ++i) ops_[i].c->signal_all(bags[i]);
  ops_.clear();
  return true;
}

}  // namespace picos
