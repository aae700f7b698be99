// Copyright 2026 The Picos for C++ Authors.
//
// The blocking pool: a mutex-guarded FIFO of jobs and threads started on demand, up to the
// limit, that take jobs until the pool is destroyed (the default pool never is).

#include "io/blocking.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "picos/fiber.h"
#include "picos/internal/mutex.h"

namespace picos::io {

class BlockingPool::Impl {
 public:
  explicit Impl(const Options& o) : options(o) {}

  // Queues `job`, first starting a thread if every started one is busy and the limit allows.
  void submit(absl::AnyInvocable<void()> job) {
    bool start = false;
    {
      internal::MutexLock lock(mu_);
      const bool thread_free = idle_ > queue_.size();
      start = !thread_free && started_ < options.threads;
      if (!thread_free && !start && queue_.size() >= options.max_queued) {
        throw BlockingPoolFull(absl::StrCat("picos::io::run_blocking: the pool's ", options.threads,
                                            " threads are busy and ", queue_.size(),
                                            " calls are queued (max_queued)"));
      }
      if (start) ++started_;
    }
    if (start) {
      try {
        internal::MutexLock lock(threads_mu_);
        threads_.emplace_back([this] { work(); });
      } catch (...) {  // no thread (std::system_error): nothing submitted
        internal::MutexLock lock(mu_);
        --started_;
        throw;
      }
    }
    internal::MutexLock lock(mu_);
    queue_.push_back(std::move(job));
    cv_.notify_one();
  }

  // Waits for every submitted job, then stops the threads.
  void stop() {
    {
      internal::MutexLock lock(mu_);
      stopping_ = true;
      cv_.notify_all();
    }
    internal::MutexLock lock(threads_mu_);
    for (std::thread& t : threads_) t.join();
  }

  int threads_started() const noexcept {
    internal::MutexLock lock(mu_);
    return started_;
  }
  std::size_t pending() const noexcept {
    internal::MutexLock lock(mu_);
    return queue_.size() + static_cast<std::size_t>(started_ - idle_);
  }

  const Options options;

 private:
  void work() {
    internal::MutexLock lock(mu_);
    for (;;) {
      ++idle_;
      while (queue_.empty() && !stopping_) cv_.wait(lock);
      --idle_;
      if (queue_.empty()) return;  // stopping, and nothing left
      absl::AnyInvocable<void()> job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      job();          // completes a computation; never throws (capture catches)
      job = nullptr;  // the job's state (and a dropped result) goes here, unlocked
      lock.lock();
    }
  }

  mutable internal::Mutex mu_;
  internal::CondVar cv_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  int started_ ABSL_GUARDED_BY(mu_) = 0;
  std::size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  internal::Mutex threads_mu_;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(threads_mu_);
};

BlockingPool::BlockingPool(const Options& options) {
  if (options.threads < 1) {
    throw std::invalid_argument(
        absl::StrCat("picos::io::BlockingPool: threads must be >= 1, not ", options.threads));
  }
  impl_ = new Impl(options);
}

BlockingPool::~BlockingPool() {
  impl_->stop();
  delete impl_;
}

void BlockingPool::submit(absl::AnyInvocable<void()> job) {
  Fiber::current().check();
  impl_->submit(std::move(job));
}

const BlockingPool::Options& BlockingPool::options() const noexcept { return impl_->options; }
int BlockingPool::threads_started() const noexcept { return impl_->threads_started(); }
std::size_t BlockingPool::pending() const noexcept { return impl_->pending(); }

BlockingPool& default_blocking_pool() {
  // Never destroyed: fibers of any scheduler may use it until the process exits, and threads
  // blocked in it must not be joined by a static destructor.
  static BlockingPool* pool = [] {
    BlockingPool::Options o;
    const unsigned cpus = std::thread::hardware_concurrency();
    o.threads = static_cast<int>(cpus == 0 ? 8 : std::max(8u, 4 * cpus));
    if (const char* env = std::getenv("PICOS_BLOCKING_THREADS")) {
      char* end = nullptr;
      const long n = std::strtol(env, &end, 10);
      if (end != env && *end == '\0' && n > 0 && n <= 1 << 16) o.threads = static_cast<int>(n);
    }
    return new BlockingPool(o);
  }();
  return *pool;
}

// ---- resolve -----------------------------------------------------------------------------

std::string Address::to_string() const {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return absl::StrCat(host, ":", port);
  }
  if (family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    return absl::StrCat("[", host, "]:", port);
  }
  return absl::StrCat("<address family ", family, ">");
}

std::vector<Address> resolve(const std::string& host, const std::string& service, int socktype,
                             int family) {
  return run_blocking([host, service, socktype, family] {
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    addrinfo* list = nullptr;
    const int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                                 service.empty() ? nullptr : service.c_str(), &hints, &list);
    if (rc != 0) {
      throw ResolveError(rc, absl::StrCat("picos::io::resolve(\"", host, "\", \"", service,
                                          "\"): ", ::gai_strerror(rc)));
    }
    std::vector<Address> out;
    for (const addrinfo* a = list; a != nullptr; a = a->ai_next) {
      if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
      Address x;
      std::memcpy(&x.storage, a->ai_addr, a->ai_addrlen);
      x.length = a->ai_addrlen;
      x.family = a->ai_family;
      x.socktype = a->ai_socktype;
      x.protocol = a->ai_protocol;
      out.push_back(x);
    }
    ::freeaddrinfo(list);
    return out;
  });
}

}  // namespace picos::io
