// Spawns 100 fibers and waits for them with example::WaitGroup, on the scheduler this binary
// links (@picos_cpp//mux:default_<scheduler>), with two worker threads where the scheduler
// has workers.

#include <atomic>
#include <cstdio>
#include <memory>

#include "mux/default.h"
#include "picos/picos.h"
#include "waitgroup/waitgroup.h"

int main() {
  picos::mux::Options options;
  options.threads = 2;  // multififo: two workers; fifo runs on this thread and ignores it
  int total = picos::mux::run(
      [] {
        struct State {
          example::WaitGroup group;
          std::atomic<int> sum{0};
        };
        auto state = std::make_shared<State>();
        state->group.add(100);
        for (int i = 1; i <= 100; ++i) {
          picos::Fiber::spawn(picos::Fiber::create(picos::PackedComputation()), [state, i] {
            state->sum.fetch_add(i);
            state->group.done();
          });
        }
        state->group.wait();
        return state->sum.load();
      },
      options);
  std::printf("%s: sum %d\n", picos::mux::default_scheduler_name(), total);
  return total == 5050 ? 0 : 1;
}
