// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/unique_function.h — a move-only `void()` callable (std::move_only_function
// is C++23). Small callables (up to three pointers, nothrow-movable) are stored inline, so
// spawning a fiber with a small lambda does not allocate for the closure.

#ifndef PICOS_INTERNAL_UNIQUE_FUNCTION_H_
#define PICOS_INTERNAL_UNIQUE_FUNCTION_H_

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace picos::internal {

class UniqueFunction {
 public:
  UniqueFunction() noexcept = default;

  template <typename F, typename = std::enable_if_t<
                            !std::is_same_v<std::decay_t<F>, UniqueFunction> &&
                            std::is_invocable_v<std::decay_t<F>&>>>
  UniqueFunction(F&& f) {  // NOLINT: implicit, like std::function
    using D = std::decay_t<F>;
    if constexpr (sizeof(D) <= sizeof(buf_) && alignof(D) <= alignof(std::max_align_t) &&
                  std::is_nothrow_move_constructible_v<D>) {
      ::new (static_cast<void*>(buf_)) D(std::forward<F>(f));
      ops_ = &kInlineOps<D>;
    } else {
      *reinterpret_cast<D**>(buf_) = new D(std::forward<F>(f));
      ops_ = &kHeapOps<D>;
    }
  }

  UniqueFunction(UniqueFunction&& o) noexcept : ops_(o.ops_) {
    if (ops_) {
      ops_->move(buf_, o.buf_);
      o.ops_ = nullptr;
    }
  }
  UniqueFunction& operator=(UniqueFunction&& o) noexcept {
    if (this != &o) {
      reset();
      ops_ = o.ops_;
      if (ops_) {
        ops_->move(buf_, o.buf_);
        o.ops_ = nullptr;
      }
    }
    return *this;
  }
  UniqueFunction(const UniqueFunction&) = delete;
  UniqueFunction& operator=(const UniqueFunction&) = delete;
  ~UniqueFunction() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }
  void operator()() { ops_->call(buf_); }

  void reset() noexcept {
    if (ops_) {
      ops_->destroy(buf_);
      ops_ = nullptr;
    }
  }

 private:
  struct Ops {
    void (*call)(void* buf);
    void (*move)(void* dst, void* src) noexcept;  // move-constructs dst, destroys src
    void (*destroy)(void* buf) noexcept;
  };
  template <typename D>
  static constexpr Ops kInlineOps = {
      [](void* b) { (*std::launder(reinterpret_cast<D*>(b)))(); },
      [](void* d, void* s) noexcept {
        D* src = std::launder(reinterpret_cast<D*>(s));
        ::new (d) D(std::move(*src));
        src->~D();
      },
      [](void* b) noexcept { std::launder(reinterpret_cast<D*>(b))->~D(); },
  };
  template <typename D>
  static constexpr Ops kHeapOps = {
      [](void* b) { (**reinterpret_cast<D**>(b))(); },
      [](void* d, void* s) noexcept { *reinterpret_cast<D**>(d) = *reinterpret_cast<D**>(s); },
      [](void* b) noexcept { delete *reinterpret_cast<D**>(b); },
  };

  alignas(std::max_align_t) unsigned char buf_[3 * sizeof(void*)];
  const Ops* ops_ = nullptr;
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_UNIQUE_FUNCTION_H_
