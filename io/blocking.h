// Copyright 2026 The Picos for C++ Authors.
//
// picos::io::run_blocking: work that can only block (no non-blocking form: getaddrinfo,
// regular-file IO, fsync, stat, a library's blocking call) runs on a bounded pool of OS
// threads, and only the calling fiber waits for it; its scheduler's thread keeps running
// other fibers.
//
//   std::string text = io::run_blocking([path] { return read_whole_file(path); });
//   std::vector<io::Address> a = io::resolve("localhost", "8080");
//
// Contract:
//  - run_blocking(f) moves `f` into the pool (capture by value: see cancelation), runs it on a
//    pool thread, suspends the calling fiber until it returns, and then returns its result or
//    rethrows what it threw. Any callable, with any movable result (or void). Any fiber, on
//    any scheduler, and with no scheduler (the caller's thread then blocks, as every picos
//    wait does there).
//  - Cancelation: the wait is a cancelation point. A fiber canceled before the call throws its
//    reason and submits nothing; canceled while waiting it throws its reason at once, without
//    waiting for `f`. `f` cannot be interrupted: it runs to the end on its pool thread and its
//    result (or exception) is dropped (destroyed by whichever of the call and the fiber lets
//    go of it last). So `f` must not refer to the caller's stack:
//    capture by value, or by reference only to what outlives the pool.
//  - Bounds: a pool has at most `threads` threads (started as work arrives, kept after) and
//    queues at most `max_queued` calls beyond them; a call past that throws BlockingPoolFull
//    and submits nothing (back-pressure is the caller's choice: retry, shed, or size the
//    pool).
//  - The default pool (run_blocking without a pool) has 4 threads per online CPU, at least 8,
//    and queues up to 65,536 calls; PICOS_BLOCKING_THREADS (a positive integer) overrides its
//    thread count, read once, when the pool is first used. It lives until the process exits.
//  - A BlockingPool of your own: its destructor waits for every call already submitted to
//    finish (their fibers may have gone: results are dropped). Destroying a pool from one of
//    its own calls is undefined.

#ifndef PICOS_IO_BLOCKING_H_
#define PICOS_IO_BLOCKING_H_

#include <sys/socket.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "picos/computation.h"

namespace picos::io {

// A call submitted to a pool whose threads are all busy and whose queue is full.
class BlockingPoolFull : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What run_blocking(f) returns: f's result type, without reference or const.
template <typename F>
using BlockingResult =
    std::remove_cv_t<std::remove_reference_t<std::invoke_result_t<std::decay_t<F>&>>>;

class BlockingPool {
 public:
  struct Options {
    int threads = 8;                 // at least 1
    std::size_t max_queued = 65536;  // calls waiting for a thread; 0: none wait
  };

  // std::invalid_argument for threads < 1.
  explicit BlockingPool(const Options& options);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // See the contract above.
  template <typename F>
  BlockingResult<F> run(F&& f);

  const Options& options() const noexcept;
  // Racy snapshots, for tests and diagnostics: threads started, calls queued or running.
  int threads_started() const noexcept;
  std::size_t pending() const noexcept;

 private:
  class Impl;
  // Checks the current fiber's cancelation, then queues `job` or throws BlockingPoolFull.
  void submit(absl::AnyInvocable<void()> job);

  Impl* impl_;
};

// The process-wide pool run_blocking uses (see the contract for its size).
BlockingPool& default_blocking_pool();

template <typename F>
BlockingResult<F> run_blocking(F&& f) {
  return default_blocking_pool().run(std::forward<F>(f));
}

// ---- resolve -----------------------------------------------------------------------------

// One result of resolve: an address to connect or bind to, with the socket() arguments.
struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = 0;
  int socktype = 0;
  int protocol = 0;

  const sockaddr* addr() const noexcept { return reinterpret_cast<const sockaddr*>(&storage); }
  // "127.0.0.1:80", "[::1]:80".
  std::string to_string() const;
};

// getaddrinfo's failure: `code()` is its EAI_* value, what() names the host and service and
// carries gai_strerror's text.
class ResolveError : public std::runtime_error {
 public:
  ResolveError(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const noexcept { return code_; }

 private:
  int code_;
};

// getaddrinfo(host, service) on the default blocking pool (SOCK_STREAM unless `socktype`
// says otherwise; AF_UNSPEC unless `family` does). Throws ResolveError, and what
// run_blocking throws (the fiber's cancelation reason, BlockingPoolFull).
std::vector<Address> resolve(const std::string& host, const std::string& service,
                             int socktype = SOCK_STREAM, int family = AF_UNSPEC);

// ---- implementation ----------------------------------------------------------------------

template <typename F>
BlockingResult<F> BlockingPool::run(F&& f) {
  using R = BlockingResult<F>;
  // The result travels in a computation: the pool thread completes it (its triggers resume the
  // fiber through its scheduler's cross-thread path); a canceled fiber stops awaiting it, and
  // the job's handle is then the last one: the result is destroyed on the pool thread.
  Computation<R> done;
  submit([fn = std::decay_t<F>(std::forward<F>(f)), done]() mutable { done.capture(fn); });
  return done.take();
}

}  // namespace picos::io

#endif  // PICOS_IO_BLOCKING_H_
