// Copyright 2026 The Picos for C++ Authors.
//
// The kernel's record slabs (mux/common/kernel.h, Records): a burst of spawns reuses the slabs
// of the burst before it, in the same run or in the run before (the depot), instead of giving
// them back to malloc and taking them again (which made glibc shrink and regrow its heap at
// every burst: docs/benchmarks.md), and memory still follows the live records past
// kMaxSpareSlabs.

#include "mux/common/kernel.h"

#include <vector>

#include "gtest/gtest.h"
#include "mux/common/options.h"
#include "picos/computation.h"
#include "picos/fiber.h"
#include "picos/fiber_main.h"

namespace picos::mux::common {
namespace {

// A record without a stack: enough for the slabs.
struct TestRecord : RecordBase {
  using RecordBase::RecordBase;
};
using TestRecords = Records<TestRecord>;
constexpr std::size_t kPerSlab = TestRecords::kSlabRecords;
constexpr std::size_t kMaxSpares = TestRecords::kMaxSpareSlabs;

std::vector<TestRecord*> create(TestRecords& records, std::size_t n) {
  std::vector<TestRecord*> made;
  for (std::size_t i = 0; i < n; ++i) {
    auto main = [] {};
    made.push_back(records.create(Fiber::create(PackedComputation()), FiberMain(main)));
  }
  return made;
}

void discard(TestRecords& records, const std::vector<TestRecord*>& made) {
  for (TestRecord* r : made) records.discard(r);
}

TEST(RecordsTest, ABurstReusesTheSlabsOfTheBurstBefore) {
  // kernel.h's promise: the records of a burst of up to 1,024 fibers are all recycled.
  EXPECT_GE(kMaxSpares * kPerSlab, 1024u);
  CommonOptions options;
  TestRecords records(options);
  const std::size_t burst = kMaxSpares * kPerSlab;  // as many as the spares hold
  discard(records, create(records, burst));
  EXPECT_EQ(records.slabs_for_testing(), kMaxSpares);
  EXPECT_EQ(records.spare_slabs_for_testing(), kMaxSpares);
  for (int round = 0; round < 3; ++round) {
    std::vector<TestRecord*> made = create(records, burst);
    EXPECT_EQ(records.slabs_for_testing(), kMaxSpares) << "round " << round;
    EXPECT_EQ(records.spare_slabs_for_testing(), 0u);
    EXPECT_EQ(records.alive(), burst);
    discard(records, made);
    EXPECT_EQ(records.alive(), 0u);
  }
}

TEST(RecordsTest, SlabsBeyondTheSparesLeave) {
  CommonOptions options;
  TestRecords records(options);
  std::vector<TestRecord*> made = create(records, 3 * kMaxSpares * kPerSlab);
  EXPECT_EQ(records.slabs_for_testing(), 3 * kMaxSpares);
  discard(records, made);
  EXPECT_EQ(records.spare_slabs_for_testing(), kMaxSpares);
  EXPECT_EQ(records.slabs_for_testing(), kMaxSpares);  // the rest: the depot (full), malloc
  EXPECT_EQ(TestRecords::depot_slabs_for_testing(), kMaxSpares);
}

// One scheduler's run after another's: the second takes the first's slabs from the depot.
TEST(RecordsTest, ARunAfterAnotherTakesItsSlabs) {
  CommonOptions options;
  {
    TestRecords first(options);
    discard(first, create(first, kMaxSpares * kPerSlab));
    EXPECT_EQ(first.spare_slabs_for_testing(), kMaxSpares);
  }  // its spares go to the depot (already full if an earlier test filled it: then freed)
  EXPECT_EQ(TestRecords::depot_slabs_for_testing(), kMaxSpares);
  TestRecords second(options);
  std::vector<TestRecord*> made = create(second, kMaxSpares * kPerSlab);
  EXPECT_EQ(TestRecords::depot_slabs_for_testing(), 0u);
  EXPECT_EQ(second.slabs_for_testing(), kMaxSpares);
  discard(second, made);
}

TEST(RecordsTest, PartlyUsedSlabsAreNotSpares) {
  CommonOptions options;
  TestRecords records(options);
  std::vector<TestRecord*> made = create(records, 2 * kPerSlab);
  // Free all but one record of each slab: neither slab becomes a spare.
  std::vector<TestRecord*> kept;
  for (std::size_t i = 0; i < made.size(); ++i) {
    if (i % kPerSlab == 0) {
      kept.push_back(made[i]);
    } else {
      records.discard(made[i]);
    }
  }
  EXPECT_EQ(records.spare_slabs_for_testing(), 0u);
  EXPECT_EQ(records.slabs_for_testing(), 2u);
  // New records fill the freed blocks before any new slab is taken.
  std::vector<TestRecord*> again = create(records, 2 * (kPerSlab - 1));
  EXPECT_EQ(records.slabs_for_testing(), 2u);
  discard(records, again);
  discard(records, kept);
  EXPECT_EQ(records.spare_slabs_for_testing(), 2u);
}

}  // namespace
}  // namespace picos::mux::common
