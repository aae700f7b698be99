// Copyright 2026 The Picos for C++ Authors.
// picos::mux::run on the scheduler this library was built for: PICOS_DEFAULT_<NAME> is set by
// //mux:default_<name> (mux/BUILD); //mux:default picks one of those with --//mux:scheduler.

#include "mux/default.h"

#include <utility>

#if defined(PICOS_DEFAULT_FIFO)
#include "mux/fifo/fifo.h"
namespace sched = picos::mux::fifo;
#define PICOS_DEFAULT_NAME "fifo"
#elif defined(PICOS_DEFAULT_MULTIFIFO)
#include "mux/multififo/multififo.h"
namespace sched = picos::mux::multififo;
#define PICOS_DEFAULT_NAME "multififo"
#elif defined(PICOS_DEFAULT_LIBEVENT)
#include "mux/libevent/libevent.h"
namespace sched = picos::mux::libevent;
#define PICOS_DEFAULT_NAME "libevent"
#elif defined(PICOS_DEFAULT_THREAD)
#include "mux/thread/thread.h"
namespace sched = picos::mux::thread;
#define PICOS_DEFAULT_NAME "thread"
#elif defined(PICOS_DEFAULT_RANDOS)
#include "randos/randos.h"
namespace sched = picos::randos;
#define PICOS_DEFAULT_NAME "randos"
#else
#error "build //mux:default_<scheduler> through Bazel: it defines which scheduler to use"
#endif

namespace picos::mux {
namespace {

// The common options as the linked scheduler's own; fields it lacks are ignored.
sched::Options scheduler_options(const Options& common) {
  sched::Options o;
  o.fatal_exn_handler = common.fatal_exn_handler;
  o.forbid = common.forbid;
#if defined(PICOS_DEFAULT_MULTIFIFO) || defined(PICOS_DEFAULT_RANDOS)
  if (common.threads != 0) o.threads = common.threads;
#endif
#if defined(PICOS_DEFAULT_FIFO) || defined(PICOS_DEFAULT_MULTIFIFO) || \
    defined(PICOS_DEFAULT_LIBEVENT)
  if (common.quota != 0) o.quota = common.quota;
#endif
#if !defined(PICOS_DEFAULT_THREAD)
  if (common.stack_size != 0) o.stack_size = common.stack_size;
#endif
  return o;
}

}  // namespace

const char* default_scheduler_name() { return PICOS_DEFAULT_NAME; }

void run_fiber(FiberRef fiber, absl::AnyInvocable<void()> main, const Options& options) {
  sched::run_fiber(std::move(fiber), std::move(main), scheduler_options(options));
}

}  // namespace picos::mux
