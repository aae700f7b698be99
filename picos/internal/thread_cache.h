// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/thread_cache.h — per-thread free lists for the core's small, fixed-size
// objects.
//
// Triggers, fibers, cancel slots and timer entries are created and dropped at every wait,
// spawn or timer. `ThreadCache<T>` keeps up to kMax freed blocks of sizeof(T) per thread and
// serves the next allocation from them, instead of malloc: no lock, no atomic, a few
// instructions. A block freed on another thread than the one that allocated it simply joins
// that thread's list; the lists are bounded, so a thread that only frees (a timer thread, a
// remote canceler) gives the excess back to malloc. Each thread's list is returned to malloc
// when the thread exits.
//
// A class opts in by deriving from `ThreadCached<itself>`, which routes its operator
// new/delete here:
//
//   class Fiber : public RefCounted<Fiber>, public ThreadCached<Fiber> { ... };
//
// Only blocks of exactly sizeof(T) are cached (a derived class's larger ones go to malloc).
// Under AddressSanitizer the cache is off, so use-after-free and double frees of these objects
// are still reported.

#ifndef PICOS_INTERNAL_THREAD_CACHE_H_
#define PICOS_INTERNAL_THREAD_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <new>

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
    if (size == sizeof(T)) {
      List& l = list;
      if (Block* b = l.head) {
        l.head = b->next;
        --l.size;
        return b;
      }
    }
#endif
    return ::operator new(size);
  }

  static void deallocate(void* p, [[maybe_unused]] std::size_t size) noexcept {
#if PICOS_INTERNAL_THREAD_CACHE
    if (size == sizeof(T)) {
      List& l = list;
      if (l.size < kMax) {
        if (!l.reaper_armed) arm_reaper();
        auto* b = static_cast<Block*>(p);
        b->next = l.head;
        l.head = b;
        ++l.size;
        return;
      }
    }
#endif
    ::operator delete(p);
  }

 private:
  static_assert(sizeof(T) >= sizeof(void*), "a cached block holds a link");
  struct Block {
    Block* next;
  };
  // Trivially destructible, so that the hot path reads it straight from thread-local
  // storage (no initialisation guard); the reaper frees its blocks when the thread exits.
  struct List {
    Block* head;
    std::uint32_t size;
    bool reaper_armed;
  };
  struct Reaper {
    ~Reaper() {
      List& l = list;
      while (Block* b = l.head) {
        l.head = b->next;
        ::operator delete(b);
      }
      l.size = kMax;  // blocks freed later in this thread's exit go straight to malloc
    }
  };
  // The first time this thread caches a block: registers the reaper.
  [[gnu::noinline]] static void arm_reaper() noexcept {
    static thread_local Reaper reaper;  // constructed here, destroyed at thread exit
    (void)reaper;
    list.reaper_armed = true;
  }
  static constinit thread_local List list;
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

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_THREAD_CACHE_H_
