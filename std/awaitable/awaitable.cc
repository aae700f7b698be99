// Copyright 2026 The Picos for C++ Authors.

#include "std/awaitable/awaitable.h"

#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "picos/internal/spin_lock.h"
#include "std/awaitable/intrusive_list.h"

namespace picos::awaitable {
namespace {

using internal::Node;

// One shard of the parking lot: a FIFO of the nodes of every awaitable hashing here.
struct alignas(64) Bucket {
  picos::internal::SpinLock lock;
  awaitable_internal::IntrusiveList<Node> nodes ABSL_GUARDED_BY(lock);
};

constexpr int kBucketBits = 8;
constexpr std::size_t kBuckets = std::size_t{1} << kBucketBits;

// Constant-initialised (SpinLock and IntrusiveList have constant initialisers), so it is
// usable from static constructors of other translation units.
Bucket g_buckets[kBuckets];

Bucket& bucket_for(const void* key) noexcept {
  auto x = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(key) >> 3);
  x *= 0x9E3779B97F4A7C15ull;  // Fibonacci hashing: the top bits are well mixed
  return g_buckets[x >> (64 - kBucketBits)];
}

// Whether `n`, a node of `key`'s, is to be woken: `value` is the word's value, read (once per
// signal, under the bucket lock) only when the bucket holds a node of `key`'s. A node parked
// on the word means the word is alive; with none, the word is not read at all: a releaser
// (Lock::release) signals after its compare-and-swap, and another fiber may take the lock
// by its fast path, release it and destroy it meanwhile, which is allowed when nobody waits.
bool signalable(const Node* n, const Awaitable* key, std::optional<std::int64_t>& value) noexcept {
  if (n->key != key) return false;
  if (!value) value = key->load();
  // A node whose trigger is already signaled belongs to a fiber that is being woken anyway
  // (by its cancelation): waking it again would waste the wake-up.
  return (n->always || n->before != *value) && !n->trigger.is_signaled();
}

// How a waker wakes a node it took off the queue under the bucket lock, run after the unlock.
// A node of Awaitable::await is awaited through its own handle by the fiber it belongs to,
// which stays suspended, its node valid, until resumed: its trigger is signaled under the
// lock and the resume deferred (Trigger::signal_deferred, no handle copy). An Awaiter's node
// holds the caller's trigger, which the caller may await through another handle or never:
// a copy of the handle is signaled after the unlock, as the node may be gone by then.
class NodeWake {
 public:
  void take(const Node& n) noexcept {
    if (n.always) {
      copy_.emplace(n.trigger);
    } else {
      resume_ = n.trigger.signal_deferred();
    }
    taken_ = true;
  }
  // Runs what take() left to do. Returns whether a node was taken.
  bool run() noexcept {
    resume_.run();
    if (copy_) copy_->signal();
    return taken_;
  }

 private:
  Trigger::Wake resume_;
  std::optional<Trigger> copy_;  // (not a Trigger: constructing one allocates a new trigger)
  bool taken_ = false;
};

}  // namespace

void Awaitable::await(std::int64_t before) {
  if (load() != before) return;  // fast path: no node, no trigger
  Node node(this, before, false, Trigger());
  Bucket& b = bucket_for(this);
  {
    picos::internal::SpinLockGuard guard(b.lock);
    b.nodes.push_back(&node);
  }
  // Re-check after enqueueing: a signaler that changed the value before we were queued did
  // not see us, but then we see its value here.
  if (load() != before) {
    picos::internal::SpinLockGuard guard(b.lock);
    b.nodes.remove(&node);  // or a signal took it already: then we are its wake-up, and return
    return;
  }
  std::exception_ptr reason = node.trigger.await();
  if (!reason) return;  // signaled: the waker unlinked the node before signaling
  bool consumed;
  {
    picos::internal::SpinLockGuard guard(b.lock);
    consumed = !node.linked;
    b.nodes.remove(&node);
  }
  if (consumed) (void)signal();  // a signal chose us as we were canceled: pass it on
  std::rethrow_exception(reason);
}

bool Awaitable::signal() noexcept {
  Bucket& b = bucket_for(this);
  NodeWake wake;
  {
    picos::internal::SpinLockGuard guard(b.lock);
    std::optional<std::int64_t> value;  // read at the first node of this word's (see above)
    for (Node* n = b.nodes.front(); n != nullptr; n = n->next) {
      if (signalable(n, this, value)) {
        b.nodes.remove(n);
        wake.take(*n);
        break;
      }
    }
  }
  return wake.run();
}

std::size_t Awaitable::broadcast() noexcept {
  Bucket& b = bucket_for(this);
  absl::InlinedVector<NodeWake, 8> wake;  // up to eight waiters without a malloc
  std::size_t woken = 0;
  // One pass, unless memory runs out: then the node that found no room is woken with those
  // taken so far, after the unlock (an Awaiter's trigger may run its owner's action, which
  // must not find the bucket locked), and the scan starts again. Each pass wakes one node at
  // least. A waiter that queued meanwhile may be woken too: a spurious wake-up, which await
  // allows.
  for (bool again = true; again;) {
    again = false;
    NodeWake spilled;
    {
      picos::internal::SpinLockGuard guard(b.lock);
      std::optional<std::int64_t> value;  // read at the first node of this word's (see above)
      Node* n = b.nodes.front();
      while (n != nullptr) {
        Node* next = n->next;
        if (signalable(n, this, value)) {
          b.nodes.remove(n);
          ++woken;
          NodeWake one;
          one.take(*n);
          try {
            wake.push_back(std::move(one));
          } catch (const std::bad_alloc&) {
            spilled = std::move(one);
            again = true;
            break;
          }
        }
        n = next;
      }
    }
    for (NodeWake& w : wake) (void)w.run();
    wake.clear();
    (void)spilled.run();
  }
  return woken;
}

Awaiter::Awaiter(Awaitable& awaitable, Trigger trigger) noexcept
    : node_(&awaitable, 0, true, std::move(trigger)) {
  Bucket& b = bucket_for(&awaitable);
  picos::internal::SpinLockGuard guard(b.lock);
  b.nodes.push_back(&node_);
}

bool Awaiter::remove() noexcept {
  Bucket& b = bucket_for(node_.key);
  picos::internal::SpinLockGuard guard(b.lock);
  if (!node_.linked) return false;
  b.nodes.remove(&node_);
  return true;
}

std::size_t parked_for_testing() noexcept {
  std::size_t n = 0;
  for (Bucket& b : g_buckets) {
    picos::internal::SpinLockGuard guard(b.lock);
    for (Node* p = b.nodes.front(); p != nullptr; p = p->next) ++n;
  }
  return n;
}

}  // namespace picos::awaitable
