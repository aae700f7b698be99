// The example of docs/sync.md, compiled and run as a test so the doc stays true.
#include <mutex>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"
#include "std/sync/condition.h"
#include "std/sync/mutex.h"

int main() {
  int total = picos::mux::fifo::run([] {
    picos::sync::Mutex m;
    picos::sync::Condition ready;
    int items = 0;
    picos::Computation<void> producer;
    picos::Fiber::spawn(picos::Fiber::create(producer), [&, producer] {
      producer.capture([&] {
        for (int i = 0; i < 10; ++i) {
          std::lock_guard<picos::sync::Mutex> lock(m);
          ++items;
          ready.signal();
        }
      });
    });
    std::unique_lock<picos::sync::Mutex> lock(m);
    ready.wait(m, [&] { return items == 10; });  // suspends this fiber, not the thread
    lock.unlock();
    producer.await();
    return items;
  });
  return total == 10 ? 0 : 1;
}
