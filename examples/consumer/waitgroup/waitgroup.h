// waitgroup/waitgroup.h — WaitGroup: wait until a number of tasks have finished (Go's
// sync.WaitGroup), written only against the Picos core and picos::sync, so it works on any
// scheduler and between plain threads.

#ifndef WAITGROUP_WAITGROUP_H_
#define WAITGROUP_WAITGROUP_H_

#include <mutex>

#include "std/sync/condition.h"
#include "std/sync/mutex.h"

namespace example {

class WaitGroup {
 public:
  // Adds `n` tasks to wait for.
  void add(int n) {
    std::lock_guard<picos::sync::Mutex> lock(mutex_);
    pending_ += n;
  }

  // Marks one task finished; wakes the waiters when it was the last.
  void done() {
    std::lock_guard<picos::sync::Mutex> lock(mutex_);
    if (--pending_ == 0) zero_.broadcast();
  }

  // Suspends the calling fiber until every added task is done. Throws the cancelation reason
  // if the fiber is canceled while it waits.
  void wait() {
    std::unique_lock<picos::sync::Mutex> lock(mutex_);
    zero_.wait(mutex_, [this] { return pending_ == 0; });
  }

 private:
  picos::sync::Mutex mutex_;
  picos::sync::Condition zero_;
  int pending_ = 0;
};

}  // namespace example

#endif  // WAITGROUP_WAITGROUP_H_
