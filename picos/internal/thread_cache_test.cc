// Copyright 2026 The Picos for C++ Authors.

#include "picos/internal/thread_cache.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace picos::internal {
namespace {

struct Small : ThreadCached<Small> {
  std::uint64_t a = 1;
  std::uint64_t b = 2;
  std::uint64_t c = 3;
};

struct alignas(32) Wide : ThreadCached<Wide> {
  unsigned char bytes[96];
};

// Too large for two to share a slab (a class template instantiated with a large type may be):
// not cached, but it compiles and works.
struct Huge : ThreadCached<Huge> {
  unsigned char bytes[3000] = {};
};

// A type larger than Small that derives from it: its blocks go to malloc.
struct Larger : Small {
  std::uint64_t extra[8] = {};
};

#if PICOS_INTERNAL_THREAD_CACHE

TEST(ThreadCacheTest, BurstTakesSlabsAndReusesBlocks) {
  // Several slabs' worth, all of which fits in a thread's list once freed (kMax = 1,024).
  const std::size_t per_slab = ThreadCache<Small>::slab_blocks();
  const std::size_t n = 5 * per_slab + 3;
  ASSERT_LE(6 * per_slab, 1024u);
  const std::int64_t slabs = static_cast<std::int64_t>((n + per_slab - 1) / per_slab);
  std::thread([&] {
    const std::int64_t slabs_before = ThreadCache<Small>::slabs_for_testing();
    std::vector<Small*> v;
    std::set<Small*> seen;
    for (std::size_t i = 0; i < n; ++i) {
      Small* s = new Small;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s) % alignof(Small), 0u);
      EXPECT_TRUE(seen.insert(s).second) << "a block was handed out twice";
      v.push_back(s);
    }
    // One slab per slab_blocks() objects, not one malloc per object.
    EXPECT_EQ(ThreadCache<Small>::slabs_for_testing() - slabs_before, slabs);
    for (Small* s : v) {
      EXPECT_EQ(s->a + s->b + s->c, 6u);  // nothing overwrote another object
      delete s;
    }
    // Freed blocks are listed and handed out again, without new slabs.
    for (std::size_t i = 0; i < n; ++i) {
      Small* s = new Small;
      EXPECT_TRUE(seen.count(s) == 1);
      v[i] = s;
    }
    EXPECT_EQ(ThreadCache<Small>::slabs_for_testing() - slabs_before, slabs);
    for (Small* s : v) delete s;
  }).join();
}

TEST(ThreadCacheTest, ExitedThreadsGiveEverySlabBack) {
  const std::int64_t before = ThreadCache<Small>::slabs_for_testing();
  // Allocated on one thread, freed on another (whose list overflows past kMax and gives the
  // rest back to the slabs), both threads exit: no slab is left.
  std::vector<Small*> v;
  std::thread([&] {
    for (int i = 0; i < 5000; ++i) v.push_back(new Small);
  }).join();
  std::thread([&] {
    for (Small* s : v) delete s;
  }).join();
  EXPECT_EQ(ThreadCache<Small>::slabs_for_testing(), before);
}

TEST(ThreadCacheTest, ConcurrentCrossThreadFrees) {
  const std::int64_t before = ThreadCache<Small>::slabs_for_testing();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<Small*>> made(kThreads);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) made[t].push_back(new Small);
    });
  }
  for (auto& t : ts) t.join();
  ts.clear();
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      // Each thread frees another's objects, interleaved with its own allocations.
      for (Small* s : made[(t + 1) % kThreads]) {
        delete s;
        delete new Small;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ThreadCache<Small>::slabs_for_testing(), before);
}

// The allocator serves single objects from the cache (std::allocate_shared's block among
// them, freed on whichever thread drops the last reference) and arrays from operator new.
TEST(ThreadCacheTest, TheAllocatorServesSingleObjectsFromTheCache) {
  std::thread([] {
    ThreadCacheAllocator<Small> a;
    Small* one = a.allocate(1);
    Small* many = a.allocate(100);  // from operator new
    a.deallocate(many, 100);
    a.deallocate(one, 1);
    EXPECT_EQ(a.allocate(1), one);  // freed to this thread's list: the same block again
    a.deallocate(one, 1);
  }).join();
  std::vector<std::shared_ptr<Small>> shared;
  std::thread([&] {
    for (int i = 0; i < 1000; ++i) {
      shared.push_back(std::allocate_shared<Small>(ThreadCacheAllocator<Small>()));
      EXPECT_EQ(shared.back()->c, 3u);
    }
  }).join();
  shared.clear();  // freed on this thread: the blocks join its list
}

// The array allocator serves arrays of exactly N1 or N2 elements from the cache and any other
// size from operator new; a container using it grows through them.
TEST(ThreadCacheTest, TheArrayAllocatorServesItsTwoSizesFromTheCache) {
  using A = ThreadCacheArrayAllocator<std::uint64_t, 4, 8>;
  std::thread([] {
    A a;
    std::uint64_t* four = a.allocate(4);
    std::uint64_t* eight = a.allocate(8);
    std::uint64_t* five = a.allocate(5);
    for (int i = 0; i < 4; ++i) four[i] = 1;
    for (int i = 0; i < 8; ++i) eight[i] = 2;
    for (int i = 0; i < 5; ++i) five[i] = 3;
    a.deallocate(five, 5);
    a.deallocate(eight, 8);
    a.deallocate(four, 4);
    // Freed to this thread's lists: the next ones are the same blocks.
    EXPECT_EQ(a.allocate(4), four);
    EXPECT_EQ(a.allocate(8), eight);
    a.deallocate(four, 4);
    a.deallocate(eight, 8);
    std::vector<int, ThreadCacheArrayAllocator<int, 4, 8>> v;
    for (int i = 0; i < 100; ++i) v.push_back(i);  // 1, 2, 4, 8 cached; 16, ... malloc's
    for (int i = 0; i < 100; ++i) ASSERT_EQ(v[static_cast<std::size_t>(i)], i);
  }).join();
}

#endif  // PICOS_INTERNAL_THREAD_CACHE

// Cached or not (under ASan nothing is), an over-aligned object is aligned.
TEST(ThreadCacheTest, OverAlignedTypesStayAligned) {
  std::thread([] {
    std::vector<Wide*> v;
    for (std::size_t i = 0; i < 3 * ThreadCache<Wide>::slab_blocks(); ++i) {
      v.push_back(new Wide);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.back()) % 32, 0u);
      std::memset(v.back()->bytes, 0xab, sizeof v.back()->bytes);
    }
    for (Wide* w : v) delete w;
  }).join();
}

TEST(ThreadCacheTest, LargerDerivedObjectsGoToMalloc) {
  const std::int64_t before = ThreadCache<Small>::slabs_for_testing();
  std::thread([] {
    std::vector<Small*> v;
    for (int i = 0; i < 1000; ++i) v.push_back(new Larger);
    for (Small* s : v) delete static_cast<Larger*>(s);
  }).join();
  EXPECT_EQ(ThreadCache<Small>::slabs_for_testing(), before);
}

TEST(ThreadCacheTest, ObjectsTooLargeForASlabGoToMalloc) {
  const std::int64_t before = ThreadCache<Huge>::slabs_for_testing();
  std::vector<Huge*> v;
  for (int i = 0; i < 100; ++i) {
    v.push_back(new Huge);
    v.back()->bytes[2999] = 7;
  }
  for (Huge* h : v) {
    EXPECT_EQ(h->bytes[2999], 7);
    delete h;
  }
  EXPECT_EQ(ThreadCache<Huge>::slabs_for_testing(), before);
  EXPECT_EQ(before, 0);
}

}  // namespace
}  // namespace picos::internal
