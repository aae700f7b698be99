// Copyright 2026 The Picos for C++ Authors.
//
// mux/libevent/run.cc — run_fiber: the libevent scheduler on an event_base of its own
// (precise timers), looped on the calling thread until every fiber has finished; and what
// run_fiber and Attachment both do first (validate, use_threads).

#include <event2/event.h>
#include <event2/thread.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>

#include "mux/common/kernel.h"
#include "mux/libevent/libevent.h"
#include "mux/libevent/scheduler.h"

namespace picos::mux::libevent {

void validate(const Options& o) {
  o.validate(kSchedulerName);
  if (o.budget <= 0) throw std::invalid_argument("picos::mux::libevent: budget must be positive");
}

void use_threads() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (evthread_use_pthreads() != 0) {
      std::fprintf(stderr, "picos::mux::libevent: evthread_use_pthreads failed\n");
      std::abort();
    }
  });
}

void Scheduler::run(FiberRef fiber, absl::AnyInvocable<void()> main) {
  use_threads();
  event_config* cfg = event_config_new();
  if (!cfg) throw std::bad_alloc();
  event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (!base) throw std::runtime_error("picos::mux::libevent::run_fiber: event_base_new failed");
  struct BaseGuard {
    event_base* base;
    ~BaseGuard() { event_base_free(base); }
  } base_guard{base};
  open(base);
  // Declared after base_guard: detached (events freed) before the base is.
  struct DetachGuard {
    Scheduler* s;
    ~DetachGuard() { s->detach(); }
  } detach_guard{this};
  Record* r = records_.create(std::move(fiber), FiberMain(main));
  records_.set_main(r);
  ready_.push_back(r);
  activate();
  while (alive() > 0 && !fatal_) {
    int rc = event_base_loop(base, EVLOOP_ONCE);
    if (rc < 0) throw std::runtime_error("picos::mux::libevent::run_fiber: event_base_loop failed");
    if (rc == 1 && alive() > 0) {
      // Cannot happen: the keep-alive event is pending while fibers are alive.
      throw std::logic_error("picos::mux::libevent::run_fiber: no event pending for live fibers");
    }
  }
  if (fatal_) std::rethrow_exception(fatal_);
}

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  validate(options);
  common::start<Scheduler>(kSchedulerName, std::move(fiber), std::move(main), options);
}

}  // namespace picos::mux::libevent
