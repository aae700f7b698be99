// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/thread_cache.h — per-thread free lists for the core's small, fixed-size
// objects, refilled from slabs.
//
// Triggers, fibers, cancel slots and computation states (a Computation<T>'s too) are created
// and dropped at every wait, spawn or timer; so are, in std, a scope's state, a fiber's first
// fiber-local slots (a flock's fork sets one), an event's proto and a stream's cell. All of
// these come from here. (The schedulers' records have slabs of their own, per scheduler and
// without atomics: mux/common/kernel.h's Records.) `ThreadCache<T>` keeps freed blocks of sizeof(T)
// on a list per thread and serves the next allocation from it: no lock, no atomic, a few
// instructions. When the list is empty it takes a whole slab (about 4 KiB: one malloc for 30 to 100
// blocks) and lists the blocks it did not hand out. So a burst of allocations (a thousand fibers
// spawned at once) calls malloc once per slab instead of once per object, and frees none of them
// one by one.
//
// A block freed on another thread than the one that allocated it joins that thread's list.
// A list holds up to kMax blocks (plus one slab's worth, right after a refill); a block freed
// to a full list is given back to its slab, whose address precedes the block's storage (8
// bytes, what malloc's chunk header would take), and so is every listed block when the thread
// exits. A slab counts the blocks not given back (an atomic: blocks are given back on any
// thread) and is freed with the last. Memory therefore
// follows the live objects plus the lists, with one caveat of every slab allocator: a few
// long-lived objects keep their slabs (4 KiB each) allocated.
//
// A class opts in by deriving from `ThreadCached<itself>`, which routes its operator
// new/delete here:
//
//   class Fiber : public RefCounted<Fiber>, public ThreadCached<Fiber> { ... };
//
// Only blocks of exactly sizeof(T) are cached (a derived class's larger ones go to malloc), and
// only if two fit a slab (larger objects all go to malloc).
// Under AddressSanitizer the cache is off, so use-after-free and double frees of these objects
// are still reported.

#ifndef PICOS_INTERNAL_THREAD_CACHE_H_
#define PICOS_INTERNAL_THREAD_CACHE_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#define PICOS_INTERNAL_THREAD_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PICOS_INTERNAL_THREAD_CACHE 0
#endif
#endif
#ifndef PICOS_INTERNAL_THREAD_CACHE
#define PICOS_INTERNAL_THREAD_CACHE 1
#endif

namespace picos::internal {

template <typename T, std::uint32_t kMax = 1024>
class ThreadCache {
 public:
  static void* allocate([[maybe_unused]] std::size_t size) {
#if PICOS_INTERNAL_THREAD_CACHE
    if (kCached && size == sizeof(T)) {
      List& l = list;
      if (Link* b = l.head) [[likely]] {
        l.head = b->next;
        --l.size;
        return b;
      }
      return refill();
    }
#endif
    if constexpr (kOverAligned) return ::operator new (size, std::align_val_t{alignof(T)});
    return ::operator new(size);
  }

  static void deallocate(void* p, [[maybe_unused]] std::size_t size) noexcept {
#if PICOS_INTERNAL_THREAD_CACHE
    if (kCached && size == sizeof(T)) {
      List& l = list;
      if (l.size < kMax) [[likely]] {
        if (!l.reaper_armed) [[unlikely]]
          arm_reaper();
        auto* b = static_cast<Link*>(p);
        b->next = l.head;
        l.head = b;
        ++l.size;
      } else {
        give_back(p);
      }
      return;
    }
#endif
    if constexpr (kOverAligned) {
      ::operator delete (p, std::align_val_t{alignof(T)});
    } else {
      ::operator delete(p);
    }
  }

  // Blocks of one slab, and the slabs allocated and not yet freed (for tests).
  static constexpr std::size_t slab_blocks() noexcept { return kBlocks; }
  static std::int64_t slabs_for_testing() noexcept { return slabs.load(std::memory_order_relaxed); }

 private:
  static_assert(sizeof(T) >= sizeof(void*), "a cached block holds a link");
  // What malloc's operator new does not align to: the blocks are (a Slab is allocated with
  // its alignment), and so must be what is not cached (under ASan, a larger derived class).
  static constexpr bool kOverAligned = alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  struct Slab;
  // What the list links, in the object's storage while it is free.
  struct Link {
    Link* next;
  };
  // A block is its slab's address and the object's storage: the same 8 bytes more than the
  // object that malloc's chunk header takes.
  struct Block {
    Slab* owner;
    alignas(T) unsigned char bytes[sizeof(T)];
  };
  static constexpr std::size_t kFit = (4096 - 16) / sizeof(Block);
  // Objects too large for two to a slab (a class template's instance may be) are not cached:
  // malloc serves them.
  static constexpr bool kCached = kFit >= 2;
  static constexpr std::size_t kBlocks = kCached ? kFit : 2;
  struct Slab {
    std::atomic<std::uint32_t> out;  // blocks not given back (handed out or listed)
    Block blocks[kBlocks];
  };

  static Block* block_of(void* p) noexcept {
    return reinterpret_cast<Block*>(static_cast<unsigned char*>(p) - offsetof(Block, bytes));
  }

  // The list is empty: a new slab, its first block for the caller and the rest listed.
  [[gnu::noinline]] static void* refill() {
    auto* s = new Slab;
    slabs.fetch_add(1, std::memory_order_relaxed);
    for (Block& b : s->blocks) b.owner = s;
    List& l = list;
    if (l.reaped) {  // the thread is exiting: nothing may be listed any more
      s->out.store(1, std::memory_order_relaxed);
      return s->blocks[0].bytes;
    }
    s->out.store(kBlocks, std::memory_order_relaxed);
    if (!l.reaper_armed) arm_reaper();
    Link* head = l.head;
    for (std::size_t i = kBlocks; i-- > 1;) {
      auto* link = reinterpret_cast<Link*>(s->blocks[i].bytes);
      link->next = head;
      head = link;
    }
    l.head = head;
    l.size += static_cast<std::uint32_t>(kBlocks - 1);
    return s->blocks[0].bytes;
  }

  // Returns a block to its slab; the last one frees the slab. Any thread.
  [[gnu::noinline]] static void give_back(void* p) noexcept {
    Slab* s = block_of(p)->owner;
    if (s->out.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      slabs.fetch_sub(1, std::memory_order_relaxed);
      delete s;
    }
  }

  // Trivially destructible, so that the hot path reads it straight from thread-local
  // storage (no initialisation guard); the reaper gives its blocks back when the thread exits.
  struct List {
    Link* head;
    std::uint32_t size;
    bool reaper_armed;
    bool reaped;  // the reaper ran: the thread is exiting
  };
  struct Reaper {
    ~Reaper() {
      List& l = list;
      while (Link* b = l.head) {
        l.head = b->next;
        give_back(b);
      }
      l.size = kMax;  // blocks freed later in this thread's exit go straight back
      l.reaped = true;
    }
  };
  // The first time this thread lists a block: registers the reaper.
  [[gnu::noinline]] static void arm_reaper() noexcept {
    static thread_local Reaper reaper;  // constructed here, destroyed at thread exit
    (void)reaper;
    list.reaper_armed = true;
  }
  static constinit thread_local List list;
  static inline std::atomic<std::int64_t> slabs{0};
};

template <typename T, std::uint32_t kMax>
constinit thread_local typename ThreadCache<T, kMax>::List ThreadCache<T, kMax>::list{};

// Base class giving T the cache's operator new/delete (sized delete: a derived class of T,
// larger than T, goes to malloc).
template <typename T>
struct ThreadCached {
  static void* operator new(std::size_t size) { return ThreadCache<T>::allocate(size); }
  static void operator delete(void* p, std::size_t size) noexcept {
    ThreadCache<T>::deallocate(p, size);
  }
};

// A standard allocator for a container's first growths: arrays of exactly N1 or N2 elements
// come from the cache (a block each), other sizes from operator new. (ThreadCacheAllocator,
// below, is the one for single objects.) For containers that
// usually stay small but sometimes grow once or twice per operation: a fiber's fiber-local
// slots (3), a computation's triggers past the two inline (4, 8).
template <typename T, std::size_t N1, std::size_t N2 = N1>
struct ThreadCacheArrayAllocator {
  using value_type = T;
  template <typename U>
  struct rebind {
    using other = ThreadCacheArrayAllocator<U, N1, N2>;
  };
  ThreadCacheArrayAllocator() noexcept = default;
  template <typename U>
  ThreadCacheArrayAllocator(  // NOLINT(google-explicit-constructor)
      const ThreadCacheArrayAllocator<U, N1, N2>&) noexcept {}

  T* allocate(std::size_t n) {
    if constexpr (kCached) {
      if (n == N1) return static_cast<T*>(ThreadCache<Array<N1>>::allocate(sizeof(Array<N1>)));
      if (n == N2) return static_cast<T*>(ThreadCache<Array<N2>>::allocate(sizeof(Array<N2>)));
    }
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (kCached) {
      if (n == N1) return ThreadCache<Array<N1>>::deallocate(p, sizeof(Array<N1>));
      if (n == N2) return ThreadCache<Array<N2>>::deallocate(p, sizeof(Array<N2>));
    }
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  friend bool operator==(const ThreadCacheArrayAllocator&,
                         const ThreadCacheArrayAllocator<U, N1, N2>&) noexcept {
    return true;
  }

 private:
  // A cached block holds a link: smaller arrays all come from operator new.
  static constexpr bool kCached = std::min(N1, N2) * sizeof(T) >= sizeof(void*);
  // The storage of N elements: what the cache hands out for an array of them.
  template <std::size_t N>
  struct Array {
    alignas(T) unsigned char bytes[N * sizeof(T)];
  };
};

// A standard allocator over the cache for std::allocate_shared (the control block with its
// object, one allocation) and node-based containers: one object at a time from the cache,
// arrays from operator new.
template <typename T>
using ThreadCacheAllocator = ThreadCacheArrayAllocator<T, 1>;

// std::make_shared with the object and its control block from the thread's cache.
template <typename T, typename... A>
std::shared_ptr<T> make_cached_shared(A&&... args) {
  return std::allocate_shared<T>(ThreadCacheAllocator<T>(), std::forward<A>(args)...);
}

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_THREAD_CACHE_H_
