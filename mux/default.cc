// Copyright 2026 The Picos for C++ Authors.
// picos::mux::run for the scheduler chosen by --//mux:scheduler (see mux/BUILD).

#include "mux/default.h"

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
#error "build //mux:default through Bazel: it defines which scheduler to use"
#endif

namespace picos::mux {

const char* default_scheduler_name() { return PICOS_DEFAULT_NAME; }

void run_fiber(FiberRef fiber, internal::UniqueFunction main) {
  sched::run_fiber(std::move(fiber), std::move(main));
}

}  // namespace picos::mux
