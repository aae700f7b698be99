// Copyright 2026 The Picos for C++ Authors.
//
// picos::FiberMain: a fiber's main function on its way from Fiber::spawn to a scheduler.
//
// It is a view of the caller's callable, valid only during Handler::spawn, that the scheduler
// moves (once) to where it will live: `place` into storage the scheduler owns (the fiber's
// record, so a spawn allocates nothing for the closure), or `take` into an AnyInvocable of its
// own (on the heap when the callable does not fit AnyInvocable's inline buffer). Either returns
// the owner: an `absl::AnyInvocable<void()>` that calls the callable and destroys it when it is
// destroyed or reset (a placed callable's storage is not freed: it stays the scheduler's, and
// must outlive the owner).
//
// A handler calls exactly one of `place` and `take`, unless it throws before (the caller then
// still owns the callable, and destroys it). Neither is called on a moved-from view.

#ifndef PICOS_FIBER_MAIN_H_
#define PICOS_FIBER_MAIN_H_

#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"

namespace picos {

// Whether `f` is a callable that converts to false: an empty std::function, a null function
// pointer. Folded away (false) for one that cannot be empty, such as a lambda. What
// Fiber::spawn and //std/structured's forks check before spawning anything.
template <typename F>
constexpr bool is_empty_callable(const F& f) noexcept {
  if constexpr (std::is_constructible_v<bool, const F&>) {
    return !static_cast<bool>(f);
  } else {
    return false;
  }
}

class FiberMain {
 public:
  // A view of `f`, which `place` or `take` moves from. F: a move-constructible class type
  // callable as void() (its result, if any, is discarded).
  template <typename F>
  explicit FiberMain(F& f) noexcept
      : f_(std::addressof(f)),
        size_(sizeof(F)),
        align_(alignof(F)),
        place_(&place_impl<F>),
        take_(&take_impl<F>) {
    static_assert(std::is_class_v<F> && !std::is_const_v<F>, "a non-const callable object");
    static_assert(std::is_move_constructible_v<F>, "the callable is moved into the fiber");
    static_assert(std::is_invocable_v<F&>, "main is called as main()");
  }

  FiberMain(FiberMain&&) noexcept = default;
  FiberMain(const FiberMain&) = delete;
  FiberMain& operator=(const FiberMain&) = delete;

  // What `place` needs.
  std::size_t size() const noexcept { return size_; }
  std::size_t align() const noexcept { return align_; }
  // Whether the callable fits `n` bytes of storage aligned to `alignment` (a power of two,
  // as every alignment is: so a smaller alignment divides it, and no division is needed; a
  // `%` here was a `div` instruction on every spawn).
  bool fits(std::size_t n, std::size_t alignment) const noexcept {
    return size_ <= n && align_ <= alignment;
  }

  // Moves the callable into `storage` (size() bytes, aligned to align()); see above. An
  // AnyInvocable is already an owner: it is moved out as it is, leaving `storage` unused.
  absl::AnyInvocable<void()> place(void* storage) && { return place_(f_, storage); }
  // Moves the callable into an AnyInvocable of its own; see above.
  absl::AnyInvocable<void()> take() && { return take_(f_); }

 private:
  // Owns a callable placed in storage it does not own: calls it; destroys it at the end.
  template <typename F>
  class Placed {
   public:
    explicit Placed(F* f) noexcept : f_(f) {}
    Placed(Placed&& o) noexcept : f_(std::exchange(o.f_, nullptr)) {}
    Placed& operator=(Placed&&) = delete;
    ~Placed() {
      if (f_) f_->~F();
    }
    void operator()() { (*f_)(); }

   private:
    F* f_;
  };

  template <typename F>
  static absl::AnyInvocable<void()> place_impl(void* f, void* storage) {
    if constexpr (std::is_same_v<F, absl::AnyInvocable<void()>>) {
      (void)storage;  // already type-erased: the owner is the AnyInvocable itself
      return std::move(*static_cast<F*>(f));
    } else {
      F* placed = ::new (storage) F(std::move(*static_cast<F*>(f)));
      return absl::AnyInvocable<void()>(Placed<F>(placed));
    }
  }
  template <typename F>
  static absl::AnyInvocable<void()> take_impl(void* f) {
    return absl::AnyInvocable<void()>(std::move(*static_cast<F*>(f)));
  }

  void* f_;
  std::size_t size_;
  std::size_t align_;
  absl::AnyInvocable<void()> (*place_)(void*, void*);
  absl::AnyInvocable<void()> (*take_)(void*);
};

}  // namespace picos

#endif  // PICOS_FIBER_MAIN_H_
