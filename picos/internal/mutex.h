// Copyright 2026 The Picos for C++ Authors.
//
// picos/internal/mutex.h — std::mutex and std::condition_variable with thread-safety
// annotations, for the OS-thread locks of the core, the schedulers and the libraries.
//
// `Mutex` is a capability (absl/base/thread_annotations.h): data declared
// ABSL_GUARDED_BY(mu_) and functions declared ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) are checked
// by clang's -Wthread-safety (`--config=clang`, docs/building.md). It is a real std::mutex
// underneath, so ThreadSanitizer sees every acquire and release (Debian's absl::Mutex is not
// TSan-instrumented: TSan reports false races on data it guards). Costs the same as
// std::mutex: every member is an inline forward.
//
//   picos::internal::Mutex mu_;
//   int n_ ABSL_GUARDED_BY(mu_) = 0;
//   picos::internal::CondVar cv_;
//
//   void put() {
//     picos::internal::MutexLock lock(mu_);
//     ++n_;
//     cv_.notify_one();
//   }
//   void take() {
//     picos::internal::MutexLock lock(mu_);
//     while (n_ == 0) cv_.wait(lock);  // a loop, not a predicate lambda: see CondVar
//     --n_;
//   }
//
// Hold a Mutex through MutexLock, not std::lock_guard / std::unique_lock: those are not
// annotated, so the analysis would not see the lock taken. Mutex still models Lockable
// (`lock`, `unlock`, `try_lock`) for code that needs that, unchecked.

#ifndef PICOS_INTERNAL_MUTEX_H_
#define PICOS_INTERNAL_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "absl/base/thread_annotations.h"

namespace picos::internal {

// An annotated std::mutex. Not recursive; the holder must unlock it on the same thread.
// The member bodies carry ABSL_NO_THREAD_SAFETY_ANALYSIS: std::mutex is not annotated, so the
// analysis cannot see them take and release the lock; callers get the declared annotations.
class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.lock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return mu_.try_lock();
  }
  void unlock() ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu_.unlock(); }

  // For the analysis only (no run-time check): the caller knows the lock is held, in a place
  // the analysis cannot follow.
  void assert_held() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

  // The std::mutex itself, for code that must hand it to a standard API (std::unique_lock
  // with std::condition_variable_any, say). Locking through it is invisible to the analysis.
  std::mutex& native_handle() noexcept { return mu_; }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope (the annotated std::unique_lock). `unlock()` releases it early
// and `lock()` takes it again; the destructor releases it only if held. CondVar waits on it.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : lock_(mu.native_handle()) {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  ~MutexLock() ABSL_UNLOCK_FUNCTION() = default;

  void unlock() ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.unlock(); }
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.lock(); }

 private:
  friend class CondVar;
  std::unique_lock<std::mutex> lock_;
};

// A std::condition_variable that waits on a MutexLock. As for std::condition_variable, a
// wait releases the mutex, blocks, and takes it again before returning (also on spurious
// wake-ups); to the analysis the lock stays held throughout.
//
// Prefer a loop (`while (!ready_) cv_.wait(lock);`) to the predicate overloads: a predicate
// lambda is analysed as a function of its own, which does not hold the lock, so reading
// guarded data in it warns unless the lambda is declared
// `[&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { ... }`.
class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void notify_one() noexcept { cv_.notify_one(); }
  void notify_all() noexcept { cv_.notify_all(); }

  void wait(MutexLock& lock) { cv_.wait(lock.lock_); }
  template <typename Predicate>
  void wait(MutexLock& lock, Predicate pred) {
    cv_.wait(lock.lock_, std::move(pred));
  }

  // std::cv_status::timeout once `deadline` has passed.
  template <typename Clock, typename Duration>
  std::cv_status wait_until(MutexLock& lock,
                            const std::chrono::time_point<Clock, Duration>& deadline) {
    return cv_.wait_until(lock.lock_, deadline);
  }
  // pred()'s last value.
  template <typename Clock, typename Duration, typename Predicate>
  bool wait_until(MutexLock& lock, const std::chrono::time_point<Clock, Duration>& deadline,
                  Predicate pred) {
    return cv_.wait_until(lock.lock_, deadline, std::move(pred));
  }

  template <typename Rep, typename Period>
  std::cv_status wait_for(MutexLock& lock, const std::chrono::duration<Rep, Period>& timeout) {
    return cv_.wait_for(lock.lock_, timeout);
  }
  template <typename Rep, typename Period, typename Predicate>
  bool wait_for(MutexLock& lock, const std::chrono::duration<Rep, Period>& timeout,
                Predicate pred) {
    return cv_.wait_for(lock.lock_, timeout, std::move(pred));
  }

 private:
  std::condition_variable cv_;
};

}  // namespace picos::internal

#endif  // PICOS_INTERNAL_MUTEX_H_
