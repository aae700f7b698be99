// Copyright 2026 The Picos for C++ Authors.
//
// The thread-local dispatch state and the default handler used when no scheduler is
// installed on a thread (each OS thread is one implicit fiber).

#include "picos/handler.h"

#include <cxxabi.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <thread>
#include <typeinfo>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "picos/internal/attributes.h"
#include "picos/internal/debug_registry.h"
#include "picos/internal/dispatch.h"
#include "picos/internal/mutex.h"
#include "picos/internal/timer_heap.h"
#include "picos/internal/timer_thread.h"

namespace picos {

namespace internal {
thread_local constinit DispatchState tls_dispatch{nullptr, nullptr};
}  // namespace internal

namespace {

using internal::tls_dispatch;

// The implicit fiber of a plain thread, created on first use, destroyed at thread exit.
struct ImplicitFiber {
  FiberRef fiber;
  ~ImplicitFiber() {
    if (tls_dispatch.fiber == fiber.get()) tls_dispatch.fiber = nullptr;
  }
};

__attribute__((noinline)) Fiber& implicit_fiber() {
  static thread_local ImplicitFiber holder;
  if (!holder.fiber) {
    holder.fiber = Fiber::create(PackedComputation(Mode::kLifo));
    (void)holder.fiber->mark_spawned();  // the thread runs it: it counts as spawned
  }
  tls_dispatch.fiber = holder.fiber.get();
  return *holder.fiber;
}

void print_fatal(const char* where, const std::exception_ptr& e) noexcept {
  const char* what = "(not a std::exception)";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    what = ex.what();
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(ex).name(), nullptr, nullptr, &status);
    std::fprintf(stderr, "picos: fatal: %s: exception %s: %s\n", where,
                 status == 0 && name ? name : typeid(ex).name(), what);
    std::free(name);
    return;
  } catch (...) {
  }
  std::fprintf(stderr, "picos: fatal: %s: exception %s\n", where, what);
}

// ---- the process-wide timer thread of the default handler -----------------------------

// Leaked on purpose: the thread may still be waiting when static destructors run.
internal::TimerThread& timer_thread() {
  static internal::TimerThread* const instance = new internal::TimerThread();
  return *instance;
}

// ---- the default handler -----------------------------------------------------------

struct BlockedWaiter {
  Fiber* fiber;
  internal::Mutex mu;
  internal::CondVar cv;
  bool resumed ABSL_GUARDED_BY(mu) = false;
};

void resume_blocked(const Trigger& trigger, void* x, void*) noexcept {
  auto* w = static_cast<BlockedWaiter*>(x);
  (void)w->fiber->unsuspend(trigger);  // cannot throw: the trigger is signaled
  // Notify under the lock: the waiter cannot return (and destroy `w`) before we unlock, and
  // we touch nothing after unlocking.
  internal::MutexLock lock(w->mu);
  w->resumed = true;
  w->cv.notify_one();
}

class DefaultHandler final : public Handler {
 public:
  std::exception_ptr await(const Trigger& trigger) noexcept override {
    Fiber& fiber = Fiber::current();
    BlockedWaiter w;
    w.fiber = &fiber;
    if (fiber.try_suspend(trigger, &w, nullptr, &resume_blocked)) {
      internal::MutexLock lock(w.mu);
      while (!w.resumed) w.cv.wait(lock);
    }
    return fiber.canceled();
  }

  void cancel_after(const PackedComputation& c, std::chrono::nanoseconds delay,
                    std::exception_ptr&& reason) override {
    Fiber::current().check();
    timer_thread().add(c, delay, std::move(reason));
  }

  void yield() override {
    Fiber::current().check();
    sched_yield();
  }

  void spawn(FiberRef fiber, FiberMain m) override {
    Fiber::current().check();
    absl::AnyInvocable<void()> main = std::move(m).take();
    std::thread([fiber = std::move(fiber), main = std::move(main)]() mutable {
      tls_dispatch.fiber = fiber.get();
      // Listed in dumps (picos/debug.h) while the thread runs it.
      internal::FiberListing listing;
      listing.fiber = fiber.get();
      listing.scheduler = "no scheduler (a thread)";
      internal::FiberShard::add(&listing);
      try {
        main();
      } catch (...) {
        print_fatal("an exception escaped a fiber's main on a thread without a scheduler",
                    std::current_exception());
        std::terminate();
      }
      internal::FiberShard::remove(&listing);
      tls_dispatch.fiber = nullptr;
    }).detach();
  }
};

}  // namespace

// PICOS_NOIPA: never inlined or analysed, so that a migrating scheduler's fibers re-read the
// thread-local after every switch (see docs/hazards.md).
PICOS_NOIPA Fiber& Fiber::current() {
  Fiber* f = tls_dispatch.fiber;
  if (__builtin_expect(f != nullptr, 1)) return *f;
  return implicit_fiber();
}

HandlerScope::HandlerScope(Handler& handler, Fiber* fiber) noexcept
    : prev_handler_(tls_dispatch.handler), prev_fiber_(tls_dispatch.fiber) {
  tls_dispatch.handler = &handler;
  tls_dispatch.fiber = fiber;
}

HandlerScope::~HandlerScope() {
  tls_dispatch.handler = prev_handler_;
  tls_dispatch.fiber = prev_fiber_;
}

void set_current_fiber(Fiber* fiber) noexcept { tls_dispatch.fiber = fiber; }

Handler* installed_handler() noexcept { return tls_dispatch.handler; }

namespace internal {

Handler& current_handler() noexcept {
  if (Handler* h = tls_dispatch.handler) return *h;
  static DefaultHandler default_handler;
  return default_handler;
}

}  // namespace internal
}  // namespace picos
