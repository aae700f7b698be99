// Copyright 2026 The Picos for C++ Authors.
//
// mux/context/stack.h — fiber stacks and the per-thread pool that recycles them.
//
// A `Stack` is one anonymous memory mapping: an optional PROT_NONE guard page at the bottom,
// then the stack itself. Memory is committed lazily by the kernel (MAP_NORESERVE), so a 64 KiB
// stack that a fiber never grows costs one or two resident pages. A small header (the `Stack`
// object itself) lives in the top bytes of the mapping, so a stack needs no heap allocation.
//
// Guard pages and Linux's memory-map limit: a guarded stack is two memory maps (the mprotect
// splits the mapping), and a process may hold at most vm.max_map_count maps (65530 by
// default). Stacks are therefore guarded only while the number of live guarded stacks in the
// process is below a budget, (max_map_count - 8192) / 2 = 28669 with the default limit; 8192
// maps are left to the rest of the program. Beyond the budget, stacks are unguarded: adjacent
// unguarded stacks merge into a single map, so a million fibers stay possible. An unguarded
// stack keeps a zero canary instead: its lowest 64 usable bytes must stay zero. `Context`
// checks them at every suspend and when the fiber finishes, and aborts with a message if an
// overflow wrote anything but zeros there. Zero, because a fresh anonymous page reads as the
// shared zero page: the check costs no resident memory, where a written canary value would
// cost a second resident page per stack (measured: 7.2 instead of 4.3 KiB per parked fiber
// at 100,000 fibers). The price: an overflow that writes only zeros there goes unnoticed.
//
// `StackPool` is a per-thread cache (no lock, no atomic on its fast path): a stack released on
// a thread goes to that thread's pool and is reused for the next stack of the same size taken
// on that thread. Each thread caches at most kMaxCachedStacks (4096) stacks and kMaxCachedBytes
// (256 MiB of address space; only touched pages, typically 8-16 KiB a stack, are resident). Beyond that, stacks go
// to a process-wide depot (a mutex-guarded list, up to kMaxDepotStacks / kMaxDepotBytes) that
// threads look in before mapping a new stack, so stacks released on one worker are reused by
// another; the rest are unmapped. A thread's cached stacks are unmapped when it exits.
//
// Sanitizers: under -fsanitize=thread every stack owns a TSan fiber handle, created once with
// __tsan_create_fiber (~0.4 ms) when the stack is mapped and reused with the stack. Under
// -fsanitize=address a released stack's shadow memory is unpoisoned before reuse.

#ifndef PICOS_MUX_CONTEXT_STACK_H_
#define PICOS_MUX_CONTEXT_STACK_H_

#include <cstddef>
#include <cstdint>

namespace picos::mux::context {

// One mmap'ed fiber stack. Created and destroyed only through `StackPool` (or `Stack::map` /
// `Stack::unmap`); a `Stack*` is owned by exactly one context or one pool at a time. The
// accessors may be called from any thread that owns the stack; they cost a load or two.
class Stack {
 public:
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Maps a new stack whose stack region is `size` bytes (a multiple of the page size, at
  // least one page more than the header), guarded if the guard budget allows it. Aborts the
  // process with a message if the kernel refuses the mapping. Any thread; costs one mmap (and
  // one mprotect if guarded), plus __tsan_create_fiber under TSan.
  static Stack* map(std::size_t size) noexcept;

  // Unmaps `stack` (its TSan fiber handle is destroyed too). Any thread; one munmap. The stack
  // must not be in use: never call it on the stack you are running on.
  static void unmap(Stack* stack) noexcept;

  // Size of the stack region in bytes, excluding the guard page (the header lives in its top
  // bytes). This is the size reported when the guard page is hit.
  std::size_t size() const noexcept { return size_; }

  // The usable range [limit(), top()): `top()` is 64-byte aligned and is the initial stack
  // pointer handed to make_fcontext; `limit()` is the lowest usable address (where the canary
  // lives on unguarded stacks).
  void* top() const noexcept { return const_cast<Stack*>(this); }
  void* limit() const noexcept { return limit_; }
  std::size_t usable_size() const noexcept {
    return static_cast<std::size_t>(static_cast<char*>(top()) - static_cast<char*>(limit_));
  }

  // Whether a PROT_NONE guard page lies below `limit()`, and its address range [begin, end).
  bool guarded() const noexcept { return guard_end_ != 0; }
  std::uintptr_t guard_begin() const noexcept { return guard_begin_; }
  std::uintptr_t guard_end() const noexcept { return guard_end_; }

  // Unguarded stacks only: whether the kCanaryBytes at `limit()` are still zero (always true for a
  // guarded stack). A load and a compare.
  bool canary_intact() const noexcept {
    if (guarded()) return true;
    const volatile std::uintptr_t* words = static_cast<const volatile std::uintptr_t*>(limit_);
    std::uintptr_t any = 0;
    for (std::size_t i = 0; i < kCanaryBytes / sizeof(std::uintptr_t); ++i) any |= words[i];
    return any == 0;
  }

  // Aborts with "picos: fiber stack canary overwritten ..." if `canary_intact()` is false.
  // Called by `Context` at every suspend and when a fiber finishes.
  void check_canary() const noexcept {
    if (!canary_intact()) canary_failure();
  }

  // The TSan fiber handle that runs on this stack (nullptr outside TSan builds). Created when
  // the stack is mapped and re-created if `forget_fiber_state()` dropped it.
  void* tsan_fiber() noexcept;

  // Prepares a stack whose fiber is gone for reuse by another fiber. `abandoned` is true when
  // the fiber never finished (its frames are still on the stack): under TSan its fiber handle
  // (whose shadow call stack still holds those frames) is destroyed and re-created lazily.
  // Under ASan the whole usable range is unpoisoned. A no-op in other builds.
  void forget_fiber_state(bool abandoned) noexcept;

 private:
  friend class StackPool;

  Stack() = default;
  static constexpr std::size_t kCanaryBytes = 64;
  [[noreturn]] void canary_failure() const noexcept;

  void* mapping_ = nullptr;         // start of the mmap'ed region (guard page included)
  std::size_t mapping_size_ = 0;    // length of the mmap'ed region
  std::size_t size_ = 0;            // stack region, guard excluded
  void* limit_ = nullptr;           // lowest usable address
  std::uintptr_t guard_begin_ = 0;  // guard page range; both 0 if unguarded
  std::uintptr_t guard_end_ = 0;
  void* tsan_fiber_ = nullptr;
  Stack* next_ = nullptr;  // free-list link while cached in a pool
};

// Process-wide counters, all updated with relaxed atomics: a snapshot, not a consistent cut.
struct StackStats {
  std::size_t guarded_live = 0;    // mapped guarded stacks (in use or cached in a pool)
  std::size_t unguarded_live = 0;  // mapped unguarded (canary) stacks
  std::size_t maps_total = 0;      // stacks ever mapped (monotonic): detects a fresh mmap
  std::size_t unmaps_total = 0;    // stacks ever unmapped (monotonic)
  std::size_t guard_budget = 0;    // current limit on `guarded_live`
};

// Counters of the calling thread's pool.
struct StackPoolStats {
  std::size_t cached_stacks = 0;  // stacks cached now
  std::size_t cached_bytes = 0;   // their sizes (`Stack::size()`), summed
  std::size_t reused = 0;         // takes served from the cache (monotonic)
  std::size_t mapped = 0;         // takes that had to map a new stack (monotonic)
};

// The per-thread stack cache. Every function acts on the calling thread's pool; none takes a
// lock. A thread's pool is created on first use and unmaps its cached stacks when the thread
// exits; after that, `give` on that thread unmaps directly.
class StackPool {
 public:
  // Caching limits per thread: at most this many stacks, and at most this many bytes of
  // stack (`Stack::size()` summed; so 64 stacks of 64 KiB, or 4 of 1 MiB), in up to
  // kMaxSizes distinct sizes. A stack that does not fit is unmapped.
  static constexpr std::size_t kMaxCachedStacks = 4096;
  static constexpr std::size_t kMaxCachedBytes = 256 * 1024 * 1024;
  // The process-wide depot behind the per-thread pools (a mutex-guarded list): a thread's
  // overflow goes there, and a thread's miss looks there before mapping a new stack.
  static constexpr std::size_t kMaxDepotStacks = 131072;
  static constexpr std::size_t kMaxDepotBytes = std::size_t{8} << 30;
  static constexpr std::size_t kMaxSizes = 8;

  // Returns a stack whose `size()` is exactly `size` (a page multiple): a cached one if the
  // calling thread has one (a few loads and stores), else `Stack::map(size)`.
  static Stack* take(std::size_t size) noexcept;

  // Gives `stack` back to the calling thread's pool, or, if the pool is full, to the shared
  // depot (or unmaps it if that is full too). The caller must have called
  // `forget_fiber_state` if a fiber ran on it, and must not be running on it. O(kMaxSizes).
  static void give(Stack* stack) noexcept;

  // Unmaps every stack cached by the calling thread and every stack in the shared depot
  // (tests, or a process going idle for long). Any thread.
  static void trim() noexcept;

  // The calling thread's pool counters. Cheap.
  static StackPoolStats this_thread_stats() noexcept;

  StackPool() = delete;

 private:
  static Stack* depot_take(std::size_t size) noexcept;
  static bool depot_give(Stack* stack) noexcept;
};

// A snapshot of the process-wide stack counters. Any thread; a few relaxed loads.
StackStats stack_stats() noexcept;

// Sets the guard budget (the most guarded stacks alive at once) to `budget`; a negative value
// restores the default, (vm.max_map_count - 8192) / 2. Only new mappings are affected: cached
// and live stacks keep what they have. Tests use 0 to force the unguarded (canary) path.
void set_guard_budget_for_testing(long budget) noexcept;

// The system page size (cached after the first call).
std::size_t page_size() noexcept;

}  // namespace picos::mux::context

#endif  // PICOS_MUX_CONTEXT_STACK_H_
