// The channel example of docs/sync.md, compiled and run as a test so the doc stays true.
#include <optional>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"
#include "std/sync/channel.h"

int main() {
  long total = picos::mux::fifo::run([] {
    picos::sync::Channel<int> jobs(4);  // at most 4 buffered; capacity 0 = rendezvous
    picos::Computation<long> worker;
    picos::Fiber::spawn(picos::Fiber::create(worker), [&, worker] {
      worker.capture([&] {
        long sum = 0;
        while (std::optional<int> job = jobs.receive()) sum += *job;  // nullopt: closed, drained
        return sum;
      });
    });
    for (int i = 1; i <= 100; ++i) jobs.send(i);  // suspends this fiber while the buffer is full
    jobs.close();                                 // the worker drains what is left, then ends
    return worker.await();
  });
  return total == 5050 ? 0 : 1;
}
