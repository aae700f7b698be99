// Copyright 2026 The Picos for C++ Authors.
//
// tools/demo/schedulers.h — how the tools' servers (//tools/demo:demo, //tools/http:http_server)
// pick a scheduler at run time: every scheduler is linked into the binary and --scheduler=NAME
// chooses one of fifo, multififo, libevent, thread and randos (--threads=N: multififo's
// workers, 0 = one per CPU); an empty name means the build's default (//mux:default,
// --//mux:scheduler=...). The choice is made per run call: the server code never names a
// scheduler. Also the descriptor limit a server raises before it starts.
//
// Header-only; the binary that includes it links every scheduler (the :schedulers target's
// deps), so a tool that needs one scheduler only should call that scheduler's run directly.

#ifndef PICOS_TOOLS_DEMO_SCHEDULERS_H_
#define PICOS_TOOLS_DEMO_SCHEDULERS_H_

#include <sys/resource.h>

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "mux/default.h"
#include "mux/fifo/fifo.h"
#include "mux/libevent/libevent.h"
#include "mux/multififo/multififo.h"
#include "mux/thread/thread.h"
#include "randos/randos.h"

namespace picos::tools {

// The names --scheduler accepts, in the order the tools list them.
inline constexpr const char* kSchedulerNames[] = {"fifo", "multififo", "libevent", "thread",
                                                  "randos"};

// True iff `name` is one of kSchedulerNames.
inline bool is_scheduler_name(const std::string& name) {
  return std::find(std::begin(kSchedulerNames), std::end(kSchedulerNames), name) !=
         std::end(kSchedulerNames);
}

// The scheduler a run uses: `flag` if set, else the build's default.
inline std::string scheduler_name(const std::string& flag) {
  return flag.empty() ? picos::mux::default_scheduler_name() : flag;
}

inline picos::mux::multififo::Options multififo_options(int threads) {
  picos::mux::multififo::Options o;
  o.threads = threads;
  return o;
}

// The name a tool prints: "multififo (N workers)" for multififo, else the name itself.
inline std::string display_name(const std::string& scheduler, int threads) {
  if (scheduler != "multififo") return scheduler;
  return "multififo (" +
         std::to_string(picos::mux::multififo::resolved_threads(multififo_options(threads))) +
         " workers)";
}

// Runs `main()` as the first fiber of the scheduler `name` (one of kSchedulerNames; `threads`
// applies to multififo) and returns its result or rethrows its exception. Throws
// std::invalid_argument for an unknown name.
template <typename F>
std::invoke_result_t<F&> run_on(const std::string& name, int threads, F&& main) {
  if (name == "fifo") return picos::mux::fifo::run(main);
  if (name == "multififo") return picos::mux::multififo::run(main, multififo_options(threads));
  if (name == "libevent") return picos::mux::libevent::run(main);
  if (name == "thread") return picos::mux::thread::run(main);
  if (name == "randos") return picos::randos::run(main);
  throw std::invalid_argument("unknown scheduler '" + name + "'");
}

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force (0 if
// it cannot be read).
inline rlim_t raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur;
}

}  // namespace picos::tools

#endif  // PICOS_TOOLS_DEMO_SCHEDULERS_H_
