// Copyright 2026 The Picos for C++ Authors.
//
// Tx::try_commit when memory runs out: the allocations it needs (with more than four
// computations) come before it locks any of them, so std::bad_alloc leaves every computation
// running and unlocked, and the transaction can be committed again. The binary replaces the
// global operator new with one that fails, on this thread, once `t_allow` more allocations have
// succeeded. Outside the matrix (a replaced operator new would apply to every configuration's
// binary): no scheduler is needed.

#include <cstdlib>
#include <new>
#include <vector>

#include "gtest/gtest.h"
#include "picos/computation.h"
#include "picos/tx.h"

namespace {
thread_local int t_allow = -1;  // allocations left before they fail; -1: never fail
}  // namespace

void* operator new(std::size_t n) {
  if (t_allow == 0) throw std::bad_alloc();
  if (t_allow > 0) --t_allow;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace picos {
namespace {

// Whether the computation's spin lock is free (white-box: id() is its state).
bool unlocked(const PackedComputation& c) {
  auto* s = static_cast<internal::ComputationState*>(const_cast<void*>(c.id()));
  if (!s->lock_.try_lock()) return false;
  s->lock_.unlock();
  return true;
}

TEST(TxOutOfMemoryTest, ACommitThatCannotAllocateLocksNothing) {
  constexpr int kComputations = 6;  // more than the four kept inline
  // Fail each allocation of try_commit in turn: the first (fail_at 0), then the second.
  for (int fail_at = 0; fail_at < 2; ++fail_at) {
    std::vector<Computation<void>> cs(kComputations);
    Tx tx;
    for (const Computation<void>& c : cs) ASSERT_TRUE(tx.try_finish(c));
    t_allow = fail_at;
    EXPECT_THROW((void)tx.try_commit(), std::bad_alloc) << "fail_at " << fail_at;
    t_allow = -1;
    for (const Computation<void>& c : cs) {
      EXPECT_TRUE(unlocked(c)) << "fail_at " << fail_at;
      EXPECT_TRUE(c.is_running());
    }
    if (::testing::Test::HasFailure()) return;  // a locked computation would hang below
    EXPECT_FALSE(tx.is_aborted());
    EXPECT_TRUE(tx.try_commit());  // again, with memory
    for (const Computation<void>& c : cs) EXPECT_TRUE(c.is_returned());
  }
}

}  // namespace
}  // namespace picos
