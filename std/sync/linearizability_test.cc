// Copyright 2026 The Picos for C++ Authors.
//
// Linearizability of a stack guarded by each lock kind, on every scheduler of the matrix.
//
// The shape of QCheck-STM's parallel tests (picos-spec section 6): each trial draws a random
// sequential prefix and two or three random suffixes of stack commands (push x, pop, top,
// size), runs the prefix, then runs the suffixes concurrently, one fiber each (on multififo
// and randos_t2 these fibers run on several threads), and records every command's result.
// The trial passes if some interleaving of the suffixes, run against a sequential model of
// the stack, produces exactly the recorded results. The stack under test is deliberately
// fragile: every command reads, yields and then writes, so a lock that lets two commands
// overlap produces lost pushes or duplicated pops that no interleaving explains (the
// BrokenLockIsCaught test shows the checker catching exactly that).
//
// A failing trial prints its seed; PICOS_LIN_SEED=<seed> replays that trial first.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/lock.h"
#include "std/sync/mutex.h"
#include "std/sync/rwlock.h"
#include "std/sync/sem.h"
#include "std/sync/semaphore.h"
#include "std/sync/sync_testing.h"

namespace picos::sync {
namespace {

// ---- commands and the sequential model -------------------------------------------------

enum class Op { kPush, kPop, kTop, kSize };

struct Cmd {
  Op op;
  int arg = 0;
};

// What a command returned: the popped/top value (or -1 for empty), the size, or 0 for push.
using Result = int;

std::string describe(const Cmd& c) {
  switch (c.op) {
    case Op::kPush:
      return "push " + std::to_string(c.arg);
    case Op::kPop:
      return "pop";
    case Op::kTop:
      return "top";
    case Op::kSize:
      return "size";
  }
  return "?";
}

Result model_apply(std::vector<int>& model, const Cmd& c) {
  switch (c.op) {
    case Op::kPush:
      model.push_back(c.arg);
      return 0;
    case Op::kPop: {
      if (model.empty()) return -1;
      int v = model.back();
      model.pop_back();
      return v;
    }
    case Op::kTop:
      return model.empty() ? -1 : model.back();
    case Op::kSize:
      return static_cast<int>(model.size());
  }
  return 0;
}

bool is_read_only(const Cmd& c) { return c.op == Op::kTop || c.op == Op::kSize; }

// Depth-first search for an interleaving of `suffixes` that reproduces `results` from `model`.
bool explains(std::vector<int>& model, const std::vector<std::vector<Cmd>>& suffixes,
              const std::vector<std::vector<Result>>& results, std::vector<std::size_t>& next) {
  bool all_done = true;
  for (std::size_t t = 0; t < suffixes.size(); ++t) {
    if (next[t] == suffixes[t].size()) continue;
    all_done = false;
    std::vector<int> saved = model;
    if (model_apply(model, suffixes[t][next[t]]) == results[t][next[t]]) {
      ++next[t];
      if (explains(model, suffixes, results, next)) return true;
      --next[t];
    }
    model = std::move(saved);
  }
  return all_done;
}

// ---- the fragile stack and the guards --------------------------------------------------

// Reads, yields, then writes: overlapping commands corrupt it unless the guard excludes them.
class FragileStack {
 public:
  Result run(const Cmd& c) {
    std::size_t n = size_;
    Fiber::yield();
    switch (c.op) {
      case Op::kPush:
        if (n < kCapacity) items_[n] = c.arg;
        size_ = n + 1;
        return 0;
      case Op::kPop:
        if (n == 0) return -1;
        size_ = n - 1;
        return items_[n - 1];
      case Op::kTop:
        return n == 0 ? -1 : items_[n - 1];
      case Op::kSize:
        return static_cast<int>(n);
    }
    return 0;
  }

 private:
  static constexpr std::size_t kCapacity = 64;  // prefix + suffixes never exceed it
  int items_[kCapacity] = {};
  std::size_t size_ = 0;
};

// A guard runs a command with whatever exclusion it provides; read-only commands may share.
class Guard {
 public:
  virtual ~Guard() = default;
  virtual Result run(FragileStack& s, const Cmd& c) = 0;
};

template <typename L>
class ExclusiveGuard final : public Guard {
 public:
  template <typename... A>
  explicit ExclusiveGuard(A... args) : lock_(args...) {}
  Result run(FragileStack& s, const Cmd& c) override {
    std::lock_guard<L> hold(lock_);
    return s.run(c);
  }

 private:
  L lock_;
};

// A semaphore of one permit as a lock (Semaphore or Sem).
template <typename S>
class SemaphoreGuard final : public Guard {
 public:
  Result run(FragileStack& s, const Cmd& c) override {
    sem_.acquire();
    Result r = s.run(c);
    sem_.release();
    return r;
  }

 private:
  S sem_{1};
};

// Writers exclusive, readers shared (several top/size may overlap: they do not write).
class RwlockGuard final : public Guard {
 public:
  Result run(FragileStack& s, const Cmd& c) override {
    if (is_read_only(c)) {
      std::shared_lock<Rwlock> hold(lock_);
      return s.run(c);
    }
    std::lock_guard<Rwlock> hold(lock_);
    return s.run(c);
  }

 private:
  Rwlock lock_;
};

// No exclusion at all: the checker must catch it.
class NoGuard final : public Guard {
 public:
  Result run(FragileStack& s, const Cmd& c) override { return s.run(c); }
};

// ---- trials ----------------------------------------------------------------------------

std::vector<Cmd> random_cmds(std::mt19937_64& rng, int max_len) {
  std::uniform_int_distribution<int> len(1, max_len), op(0, 5), arg(1, 99);
  std::vector<Cmd> cmds(static_cast<std::size_t>(len(rng)));
  for (auto& c : cmds) {
    int o = op(rng);  // pushes and pops twice as likely as reads
    c.op = o < 2 ? Op::kPush : o < 4 ? Op::kPop : o == 4 ? Op::kTop : Op::kSize;
    c.arg = arg(rng);
  }
  return cmds;
}

struct Trial {
  std::vector<Cmd> prefix;
  std::vector<std::vector<Cmd>> suffixes;
  std::vector<std::vector<Result>> results;
};

std::string describe(const Trial& t) {
  std::ostringstream out;
  out << "prefix:";
  for (auto& c : t.prefix) out << " [" << describe(c) << "]";
  for (std::size_t i = 0; i < t.suffixes.size(); ++i) {
    out << "\n  fiber " << i << ":";
    for (std::size_t j = 0; j < t.suffixes[i].size(); ++j) {
      out << " [" << describe(t.suffixes[i][j]) << " -> " << t.results[i][j] << "]";
    }
  }
  return out.str();
}

// Runs one trial drawn from `seed` against a fresh guard; true if linearizable.
bool run_trial(std::uint64_t seed, const std::function<std::unique_ptr<Guard>()>& make_guard,
               std::string* why) {
  std::mt19937_64 rng(seed);
  Trial t;
  t.prefix = random_cmds(rng, 5);
  const int fibers = 2 + static_cast<int>(rng() % 2);
  const int max_len = fibers == 2 ? 6 : 4;
  for (int i = 0; i < fibers; ++i) t.suffixes.push_back(random_cmds(rng, max_len));
  t.results.resize(t.suffixes.size());

  std::unique_ptr<Guard> guard = make_guard();
  FragileStack stack;
  std::vector<int> model;
  for (auto& c : t.prefix) {
    EXPECT_EQ(guard->run(stack, c), model_apply(model, c)) << "sequential prefix diverged";
  }
  std::atomic<int> arrived{0};
  std::vector<Computation<void>> done;
  for (std::size_t i = 0; i < t.suffixes.size(); ++i) {
    done.push_back(testing::fork([&, i] {
      // Start together, so the suffixes really overlap.
      arrived.fetch_add(1);
      while (arrived.load() < fibers) Fiber::yield();
      for (auto& c : t.suffixes[i]) t.results[i].push_back(guard->run(stack, c));
    }));
  }
  for (auto& d : done) d.await();
  std::vector<std::size_t> next(t.suffixes.size(), 0);
  if (explains(model, t.suffixes, t.results, next)) return true;
  *why = describe(t);
  return false;
}

std::uint64_t replay_seed() {
  const char* s = std::getenv("PICOS_LIN_SEED");
  return s ? std::strtoull(s, nullptr, 10) : 0;
}

int trials() {
  if (testing::threads_are_fibers()) return 40;
  return picos::testing::kThreadSanitizer ? 60 : picos::testing::kSanitizer ? 150 : 400;
}

void check_linearizable(const char* name, std::function<std::unique_ptr<Guard>()> make_guard) {
  picos::testing::run([&] {
    std::uint64_t base = std::random_device{}();
    std::vector<std::uint64_t> seeds;
    if (std::uint64_t r = replay_seed()) seeds.push_back(r);
    for (int i = 0; i < trials(); ++i) seeds.push_back(base + static_cast<std::uint64_t>(i));
    for (std::uint64_t seed : seeds) {
      std::string why;
      if (!run_trial(seed, make_guard, &why)) {
        ADD_FAILURE() << name << ": no interleaving explains the results (replay with "
                      << "PICOS_LIN_SEED=" << seed << " on " << picos::testing::scheduler_name()
                      << ")\n  " << why;
        return;
      }
    }
  });
}

TEST(LinearizabilityTest, StackUnderMutex) {
  check_linearizable("Mutex", [] { return std::make_unique<ExclusiveGuard<Mutex>>(); });
}

TEST(LinearizabilityTest, StackUnderUncheckedMutex) {
  check_linearizable("Mutex(kUnchecked)",
                     [] { return std::make_unique<ExclusiveGuard<Mutex>>(Mutex::kUnchecked); });
}

TEST(LinearizabilityTest, StackUnderSemaphore) {
  check_linearizable("Semaphore(1)", [] { return std::make_unique<SemaphoreGuard<Semaphore>>(); });
}

TEST(LinearizabilityTest, StackUnderLock) {
  check_linearizable("Lock", [] { return std::make_unique<ExclusiveGuard<Lock>>(); });
}

TEST(LinearizabilityTest, StackUnderSem) {
  check_linearizable("Sem(1)", [] { return std::make_unique<SemaphoreGuard<Sem>>(); });
}

TEST(LinearizabilityTest, StackUnderRwlock) {
  check_linearizable("Rwlock", [] { return std::make_unique<RwlockGuard>(); });
}

// The checker is not vacuous: with no lock, overlapping read-yield-write commands produce
// results no interleaving explains. On every fiber scheduler the yield inside a command
// interleaves the fibers, so some trial out of many must fail; with one OS thread per fiber
// (thread, nosched) overlap depends on the OS, so the count is only reported.
TEST(LinearizabilityTest, BrokenLockIsCaught) {
  if (picos::testing::kThreadSanitizer && picos::testing::parallelism() > 1) {
    GTEST_SKIP() << "an unguarded stack shared by several threads is a data race TSan reports";
  }
  picos::testing::run([] {
    int caught = 0;
    const int n = 200;
    for (int i = 0; i < n; ++i) {
      std::string why;
      if (!run_trial(
              1000 + static_cast<std::uint64_t>(i), [] { return std::make_unique<NoGuard>(); },
              &why)) {
        ++caught;
      }
    }
    std::string sched = picos::testing::scheduler_name();
    if (!picos::testing::capabilities().fibers_are_threads) {
      EXPECT_GT(caught, 0) << "the checker accepted every unguarded run on " << sched;
    }
    std::printf("unguarded stack: %d of %d trials not linearizable on %s\n", caught, n,
                sched.c_str());
  });
}

}  // namespace
}  // namespace picos::sync
