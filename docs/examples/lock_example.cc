// The Lock / Rwlock example of docs/sync.md, compiled and run as a test so the doc stays true.
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <vector>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"
#include "std/sync/errors.h"
#include "std/sync/lock.h"
#include "std/sync/rwlock.h"

int main() {
  int result = picos::mux::fifo::run([] {
    // A Lock guards a counter; a holding() section that throws poisons it.
    picos::sync::Lock lock;
    int counter = 0;
    std::vector<picos::Computation<void>> workers;
    for (int i = 0; i < 4; ++i) {
      picos::Computation<void> c;
      picos::Fiber::spawn(picos::Fiber::create(c), [&, c] {
        c.capture([&] {
          for (int j = 0; j < 100; ++j) {
            std::lock_guard<picos::sync::Lock> guard(lock);  // Lock is Lockable
            ++counter;
            picos::Fiber::yield();  // suspends with the lock held: others wait, not the thread
          }
        });
      });
      workers.push_back(c);
    }
    for (auto& w : workers) w.await();

    // An Rwlock: many readers, one writer; freeze() publishes read-only state for good.
    picos::sync::Rwlock config_lock;
    int config = 0;
    config_lock.holding([&] { config = counter; });
    int seen = config_lock.sharing([&] { return config; });
    config_lock.freeze();
    bool frozen = false;
    try {
      config_lock.acquire();
    } catch (const picos::sync::Frozen&) {
      frozen = true;
    }
    {
      std::shared_lock<picos::sync::Rwlock> read(config_lock);  // readers still welcome
      seen += config;
    }

    bool poisoned = false;
    try {
      lock.holding([] { throw std::runtime_error("state broken"); });
    } catch (const std::runtime_error&) {
    }
    try {
      lock.acquire();
    } catch (const picos::sync::Poisoned&) {
      poisoned = true;
    }
    return (seen == 800 && frozen && poisoned) ? 0 : 1;
  });
  return result;
}
