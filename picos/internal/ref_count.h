// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/ref_count.h — intrusive reference counting for the core's shared objects.
//
// Triggers, computations and fibers are shared between the fiber that owns them and any
// number of other threads that may still hold them after the owner moved on (a signaler that
// lost a race, a timer, a canceler). There is no garbage collector, so each such object
// carries an atomic count and the public types are cheap handles (`Ref<T>`).
//
// Cost: one relaxed increment per copy, one acq_rel decrement per release (a load only for the
// last reference, see release()). Moves are free.

#ifndef PICOS_INTERNAL_REF_COUNT_H_
#define PICOS_INTERNAL_REF_COUNT_H_

#include <atomic>
#include <cstdint>
#include <utility>

namespace picos::internal {

// Base class of reference-counted objects. `T` must derive from RefCounted<T> and have an
// accessible destructor; the last `release()` deletes it.
template <typename T>
class RefCounted {
 public:
  void acquire() const noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  // The last reference is dropped without a read-modify-write: a count that reads 1 is the
  // caller's own reference, and no other thread can be taking one at that moment. Taking a
  // reference needs one that outlives the taking (a handle, or a raw pointer that a protocol
  // keeps valid while its holder waits, as picos/fiber.cc's cancel slot does), so the taking
  // happens before that holder's drop and the load sees it. The acquire load pairs with the
  // release half of the other holders' decrements, as the fetch_sub's acquire would.
  void release() const noexcept {
    if (refs_.load(std::memory_order_acquire) == 1 ||
        refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      delete static_cast<const T*>(this);
    }
  }
  // For tests and assertions only: racy by nature.
  std::uint32_t ref_count_for_testing() const noexcept {
    return refs_.load(std::memory_order_relaxed);
  }

 protected:
  RefCounted() = default;
  ~RefCounted() = default;

 private:
  mutable std::atomic<std::uint32_t> refs_{1};  // the creator holds the first reference
};

// A strong reference: like a single-type std::shared_ptr without the control block.
template <typename T>
class Ref {
 public:
  Ref() noexcept = default;
  // Adopts a reference the caller already owns (e.g. the one from `new`).
  static Ref adopt(T* p) noexcept {
    Ref r;
    r.p_ = p;
    return r;
  }
  // Takes an additional reference to `p`.
  static Ref share(T* p) noexcept {
    if (p) p->acquire();
    return adopt(p);
  }
  Ref(const Ref& o) noexcept : p_(o.p_) {
    if (p_) p_->acquire();
  }
  Ref(Ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  Ref& operator=(Ref o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~Ref() {
    if (p_) p_->release();
  }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  // Gives up ownership without releasing.
  T* leak() noexcept { return std::exchange(p_, nullptr); }
  friend bool operator==(const Ref& a, const Ref& b) noexcept { return a.p_ == b.p_; }

 private:
  T* p_ = nullptr;
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_REF_COUNT_H_
