// Copyright 2026 The Picos for C++ Authors.
//
// mux/common/kernel.h — the fiber lifecycle, written once for every stackful scheduler.
//
// A scheduler is a policy (its ready queues, its threads, how it idles, its reactor) over the
// same lifecycle: a fiber is spawned into a record, runs on its own stack until its main
// returns or throws, and is then finished; if a fatal error stops the run first, it is
// abandoned. This header is that lifecycle; docs/schedulers.md ("Writing a scheduler") shows
// a whole scheduler built on it (mux/testing/lifo/lifo.cc, ~210 lines, a column of the matrix).
//
//   RecordBase       what every scheduler keeps of a fiber: the fiber, its main, what escaped
//                    main, live-list links. Enough for fibers that are OS threads (thread).
//   FiberRecord      RecordBase plus the fiber's context and why a suspension failed. A
//                    stackful scheduler's Record derives from it and adds its queue links.
//   Records<R>       creates and frees records (their memory comes from slabs of 32, recycled),
//                    keeps the live list and the count, and ends each one: finish() applies
//                    the fatal-error policy (CommonOptions::fatal_exn_handler), abandon_all()
//                    frees the never-started and buries the started ones after a fatal stop.
//                    Not thread-safe: a scheduler with several threads keeps one per thread,
//                    or guards it (ABSL_GUARDED_BY).
//   FatalError       the first exception that stops a run; any thread.
//   warn_stall       the one stall-warning line (CommonOptions::stall_warning); warn_alive,
//                    thread's line for fibers alive after main finished.
//   start<S>         run_fiber's body: validate the options and arguments, create the
//                    scheduler, run it.
//
// Handler operations (await, yield, spawn, cancel_after) stay with each policy: they are where
// the policies differ (which queue, which end, whether to switch directly).

#ifndef PICOS_MUX_COMMON_KERNEL_H_
#define PICOS_MUX_COMMON_KERNEL_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/strings/string_view.h"
#include "mux/common/fiber_body.h"
#include "mux/common/options.h"
#include "mux/context/abandon.h"
#include "mux/context/context.h"
#include "picos/fiber.h"
#include "picos/internal/debug_registry.h"
#include "picos/internal/mutex.h"
#include "picos/internal/ref_count.h"
#include "picos/internal/spin_lock.h"
#include "picos/internal/thread_cache.h"

namespace picos::mux::common {

// A fiber from spawn until it finishes, whatever runs it. Records<R> with R deriving from it
// (and not from FiberRecord) constructs R from (FiberRef, main, args...).
//
// The fiber's closure lives in the record when it fits kClosureSpace (moved there once by
// Fiber::spawn: no allocation for it), in a block of kOverflowSpace from the thread's cache
// when it fits that (a closure that captures a string and a few handles; `main` gives the
// block back), on the heap otherwise. `main` owns it in every case.
struct RecordBase {
  static constexpr std::size_t kClosureSpace = 64;
  static constexpr std::size_t kOverflowSpace = 256;
  // Whether the thread that runs the fiber lists it for dumps (Records::list) when it starts,
  // instead of Records::create on the spawner's thread. For a scheduler whose fibers start
  // on threads of their own (mux/thread): the thread that lists a fiber then unlists it too,
  // as the registry wants (an unlisting on another thread costs a membarrier under the list's
  // lock, and a thread scheduler's finishes all queued on their spawner's list: spawn_join
  // 34 -> 64 us per fiber). A dump taken before the fiber's thread starts does not show it.
  static constexpr bool kListedByItsThread = false;

  // May throw what moving the closure throws (then nothing was taken from `m`'s owner).
  RecordBase(FiberRef f, FiberMain m)
      : fiber(std::move(f)),
        main(m.fits(kClosureSpace, alignof(std::max_align_t)) ? std::move(m).place(closure_space)
                                                              : own_large_main(m)) {}
  RecordBase(const RecordBase&) = delete;
  RecordBase& operator=(const RecordBase&) = delete;

  FiberRef fiber;
  alignas(std::max_align_t) unsigned char closure_space[kClosureSpace];  // before `main`
  absl::AnyInvocable<void()> main;  // destroyed (by run_main) before closure_space is reused
  std::exception_ptr error;         // what escaped main
  internal::FiberListing listing;   // in dumps (picos/debug.h) from create to the fiber's end
  RecordBase* prev_live = nullptr;  // Records' live list
  RecordBase* next_live = nullptr;

 private:
  // A closure too large for closure_space, placed in a block from the thread's cache, with
  // its owner beside it; `main` then owns the block through a unique_ptr (one pointer, within
  // AnyInvocable's inline room), whose deleter destroys the closure and gives the block back.
  struct OverflowBlock {
    absl::AnyInvocable<void()> placed;  // the owner FiberMain::place returned
    alignas(std::max_align_t) unsigned char bytes[kOverflowSpace];
  };
  using OverflowCache = internal::ThreadCache<OverflowBlock>;
  struct GiveBack {
    void operator()(OverflowBlock* b) const noexcept {
      b->~OverflowBlock();  // destroys the closure, if placed
      OverflowCache::deallocate(b, sizeof(OverflowBlock));
    }
  };
  // Out of line: the usual spawn's constructor stays small enough to inline, and none of
  // this is instantiated per closure type.
  [[gnu::noinline]] static absl::AnyInvocable<void()> own_large_main(FiberMain& m) {
    if (!m.fits(kOverflowSpace, alignof(std::max_align_t))) return std::move(m).take();
    std::unique_ptr<OverflowBlock, GiveBack> b(
        ::new (OverflowCache::allocate(sizeof(OverflowBlock))) OverflowBlock);
    b->placed = std::move(m).place(b->bytes);  // if the closure's move throws, b goes back
    return [b = std::move(b)] { b->placed(); };
  }
};

// A fiber with a stack of its own. Its context runs record_entry(this): main, then the closure
// destroyed on the fiber, whatever escaped stored in `error`. Records<R> constructs R from
// (FiberRef, main, stack_size, args...).
struct FiberRecord : RecordBase {
  FiberRecord(FiberRef f, FiberMain m, std::size_t stack_size)
      : RecordBase(std::move(f), std::move(m)), ctx(&record_entry, this, stack_size) {}
  FiberRecord(FiberRef f, FiberMain m, std::size_t stack_size, context::Context::Entry entry)
      : RecordBase(std::move(f), std::move(m)), ctx(entry, this, stack_size) {}

  // The body of a record's context (the default entry): runs main (fiber_body.h's run_main).
  static void record_entry(void* record) noexcept {
    auto* r = static_cast<FiberRecord*>(record);
    run_main(r->main, r->error);
    r->listing.finishing.store(true, std::memory_order_relaxed);  // for dumps
  }

  // ctx.resume() with the listing marked running (for dumps) until the context comes back,
  // suspended or finished: for loops that resume one fiber at a time and publish it only
  // afterwards. Returns whether it finished.
  bool resume_marked() noexcept {
    listing.running.store(true, std::memory_order_relaxed);
    const bool finished = ctx.resume();
    listing.running.store(false, std::memory_order_relaxed);
    return finished;
  }

  // What Handler::await returns once the fiber runs again: why try_suspend failed, if it did,
  // else the fiber's cancelation reason (null if not canceled).
  std::exception_ptr await_result() noexcept {
    if (suspend_error) return std::exchange(suspend_error, nullptr);
    return fiber->canceled();
  }

  context::Context ctx;
  std::exception_ptr suspend_error;  // why try_suspend failed: await returns it
};

// The whole record of a scheduler with one ready queue and nothing else per fiber (fifo,
// libevent, the test-only lifo): a FiberRecord with the link of common::Queue<QueuedRecord>.
struct QueuedRecord : FiberRecord {
  using FiberRecord::FiberRecord;
  QueuedRecord* next = nullptr;
};

// The record behind a context (Context::Outcome::context->arg()).
template <typename R>
R* record_of(const context::Context* ctx) noexcept {
  return static_cast<R*>(static_cast<FiberRecord*>(ctx->arg()));
}

// The first exception that stops a run; later ones are dropped. Any thread.
class FatalError {
 public:
  // Records `e` unless one is recorded already. Returns whether `e` was the first.
  bool set(std::exception_ptr e) noexcept {
    internal::MutexLock lock(mu_);
    if (error_) return false;
    error_ = std::move(e);
    set_.store(true, std::memory_order_release);
    return true;
  }
  bool is_set() const noexcept { return set_.load(std::memory_order_acquire); }
  std::exception_ptr get() const {
    internal::MutexLock lock(mu_);
    return error_;
  }

 private:
  mutable internal::Mutex mu_;
  std::exception_ptr error_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> set_{false};
};

// Prints, to stderr, the line every scheduler prints when `blocked` fibers have been blocked
// for `after` with no timer pending and nothing to run, followed by a dump of every live
// fiber (picos/debug.h: what each waits for, and any deadlock the wait labels show).
// `main_finished` says whether the run's main fiber is among them; std::nullopt where there is no
// main fiber (fibers spawned into a libevent Attachment).
void warn_stall(absl::string_view scheduler, std::size_t blocked, std::chrono::nanoseconds after,
                std::optional<bool> main_finished) noexcept;
// The line a scheduler that cannot tell a blocked fiber from a busy one prints (thread): main
// has finished, and `alive` fibers are still alive `after` it, `blocked` of them in await.
void warn_alive(absl::string_view scheduler, std::size_t alive, std::size_t blocked,
                std::chrono::nanoseconds after) noexcept;

// finish()'s first half, for a scheduler that must call the handler outside the lock guarding
// its Records: the exception the run must stop with (what fatal_exn_handler threw, the escaped
// exception itself when there is none), or null if nothing escaped or the handler returned.
inline std::exception_ptr outcome(const CommonOptions& options, const RecordBase& r) noexcept {
  return r.error ? fatal_outcome(options.fatal_exn_handler, r.error) : nullptr;
}

// The records of one scheduler (or of one worker of it): creation, the live list, the end.
// `R` derives from FiberRecord and is constructible from (FiberRef, main, stack_size, args...),
// or (fibers without a stack of their own) from RecordBase only, constructible from
// (FiberRef, main, args...).
template <typename R>
class Records {
 public:
  explicit Records(const StackfulOptions& options) noexcept : options_(&options) {}
  // Records without a stack (R not derived from FiberRecord).
  explicit Records(const CommonOptions& options) noexcept : options_(&options) {
    static_assert(!kStackful<R>, "stackful records take StackfulOptions (stack_size)");
  }
  // Unusable until bind() (for arrays of per-worker records).
  Records() noexcept = default;
  void bind(const StackfulOptions& options) noexcept { options_ = &options; }
  // How dumps (picos/debug.h) name the scheduler (static storage) and worker (-1: none) of
  // the fibers created here.
  // Also enrolls this object's counters in debug::stats() under that name, until destruction.
  void set_debug_name(const char* scheduler, int worker = -1) noexcept {
    debug_scheduler_ = scheduler;
    debug_worker_ = worker;
    counters_.enroll(scheduler, worker);
  }
  // What debug::stats() reports of these records' scheduler (or worker). Records counts spawns
  // and finishes; the policy counts the rest (switches, steals, timers, and its reactor the
  // io waits), from the thread that owns this object (or under its lock).
  internal::SchedulerCounters& counters() noexcept { return counters_; }
  // Lists `r` for dumps on the calling thread (its fiber, this scheduler's name and worker,
  // these counters); it is unlisted when it is discarded or abandoned. create() and adopt()
  // call it, unless R::kListedByItsThread (see RecordBase): then the record's thread does,
  // once, any time after create() has returned.
  void list(R* r) noexcept {
    r->listing.fiber = r->fiber.get();
    r->listing.scheduler = debug_scheduler_;
    r->listing.worker = debug_worker_;
    r->listing.counters = &counters_;
    internal::FiberShard::add(&r->listing);
  }
  Records(const Records&) = delete;
  Records& operator=(const Records&) = delete;
  // Gives the spare slabs to the depot (see allocate). Every other slab still holds a buried
  // record (abandon_all: a slab that empties becomes a spare at once) and stays allocated, as
  // the buried record must.
  ~Records() {
    while (Slab* s = spares_.pop()) give_to_depot(s);
  }

  // Storage for one R outside any Records (on a thread that may not touch this object):
  // construct the record in it, then hand it to adopt(), or destroy it and free_detached().
  static void* allocate_detached() {
    auto* b = static_cast<Block*>(::operator new(sizeof(Block)));
    b->owner = nullptr;
    return b->bytes;
  }
  static void free_detached(void* p) noexcept { ::operator delete(block_of(p)); }

  // A new record for `fiber`, linked live; the fiber's scheduler data points at it.
  template <typename... A>
  R* create(FiberRef fiber, FiberMain main, A&&... args) {
    void* storage = allocate();
    R* r;
    try {
      if constexpr (kStackful<R>) {
        r = ::new (storage)
            R(std::move(fiber), std::move(main), options().stack_size, std::forward<A>(args)...);
      } else {
        r = ::new (storage) R(std::move(fiber), std::move(main), std::forward<A>(args)...);
      }
    } catch (...) {
      recycle(storage);
      throw;
    }
    r->fiber->set_scheduler_data(r);
    if constexpr (!R::kListedByItsThread) list(r);
    link(r);
    counters_.spawns.bump();
    return r;
  }

  // [Added for mux/libevent: Attachment::spawn from any thread.] Takes over a record that
  // was built with `::new (allocate_detached()) R(fiber, main, options().stack_size, ...)`
  // elsewhere and not linked yet: from here on it is like one from create(), and freed the
  // same way.
  void adopt(R* r) noexcept {
    r->fiber->set_scheduler_data(r);
    if constexpr (!R::kListedByItsThread) list(r);
    link(r);
    counters_.spawns.bump();
  }

  // Marks `r` as run_fiber's main fiber (main_finished() turns true when it ends).
  void set_main(R* r) noexcept { main_ = r; }
  bool main_finished() const noexcept { return main_ == nullptr; }

  // Ends a record whose main has returned or thrown: unlinks and frees it. Returns the
  // exception the run must stop with: what fatal_exn_handler threw (the escaped exception
  // itself when there is none), or null if nothing escaped or the handler returned.
  std::exception_ptr finish(R* r) noexcept {
    std::exception_ptr stop = outcome(*r);
    discard(r);
    return stop;
  }

  // finish()'s first half, for a scheduler that must call the handler outside the lock
  // guarding this object: the exception to stop with, or null. Then discard(r).
  std::exception_ptr outcome(const R& r) const noexcept { return common::outcome(*options_, r); }

  // After a fatal stop: frees every live record that never started (no stack, no trigger
  // refers to it) and buries the started ones (context::keep_abandoned: never unwound,
  // never freed, so a late resume from another thread stays harmless). `on_bury(r)` runs
  // for each buried record before it is buried (schedulers take a reference on themselves
  // there, for that late resume to find them stopped).
  template <typename OnBury>
  void abandon_all(OnBury on_bury) noexcept {
    abandon_all(on_bury, [](R*) noexcept {});
  }
  // The same, calling `on_free(r)` before each never-started record is freed.
  template <typename OnBury, typename OnFree>
  void abandon_all(OnBury on_bury, OnFree on_free) noexcept {
    while (R* r = static_cast<R*>(live_)) {
      unlink(r);
      if (!r->ctx.started()) {
        on_free(r);
        destroy(r);
      } else {
        on_bury(r);
        internal::FiberShard::remove(&r->listing);  // not live: gone from dumps
        context::keep_abandoned(r, r->ctx);
      }
    }
    main_ = nullptr;
  }

  // Frees a record that has finished, or was created but will never run.
  void discard(R* r) noexcept {
    if (r == main_) main_ = nullptr;
    unlink(r);
    destroy(r);
    counters_.finishes.bump();
  }

  std::size_t alive() const noexcept { return alive_; }

  // Records per slab, and how many slabs with no record are kept for the next burst (see
  // allocate below).
  static constexpr std::uint32_t kSlabRecords = 32;
  static constexpr std::uint32_t kMaxSpareSlabs = 1024 / kSlabRecords;
  // Slabs allocated and not freed (with records, or spare), and the spare ones: for tests.
  std::size_t slabs_for_testing() const noexcept { return slabs_; }
  std::size_t spare_slabs_for_testing() const noexcept { return spares_.count; }
  static std::size_t depot_slabs_for_testing() noexcept {
    internal::SpinLockGuard guard(depot_.lock);
    return depot_.slabs.count;
  }
  // The options given: StackfulOptions for stackful records, else CommonOptions.
  const auto& options() const noexcept {
    if constexpr (kStackful<R>) {
      return static_cast<const StackfulOptions&>(*options_);
    } else {
      return *options_;
    }
  }

 private:
  // Whether records of type T run on stacks of their own (a template: R may be incomplete
  // where Records<R> is declared).
  template <typename T>
  static constexpr bool kStackful = std::is_base_of_v<FiberRecord, T>;

  // Record memory comes from slabs of kSlabRecords blocks: a burst of spawns calls malloc
  // once per slab, not once per fiber, and a finished record's block is reused by the next
  // spawn. Each block starts with its slab's address. Slabs with a free block are on the
  // `partial_` list (the most recently freed-into first). A slab whose records have all
  // finished is kept on the `spares_` list, up to kMaxSpareSlabs (the records of 1,024 fibers,
  // as many as picos/internal/thread_cache.h keeps Fibers for); past that, and when this
  // object is destroyed (a scheduler's run ends), empty slabs go to a depot shared by every
  // Records<R> of the process, also up to kMaxSpareSlabs, and beyond it back to malloc: memory
  // follows the number of live fibers past such bursts. allocate() takes a spare, then a slab
  // from the depot, then a new one. So bursts of up to 1,024 spawns, in one run or in one run
  // after another, call malloc for records only the first time: giving their slabs back after
  // each burst made glibc trim the top of its heap and grow it again (brk calls and page
  // faults: a burst of 1,000 spawns cost 4 x as much; docs/benchmarks.md).
  struct Slab;
  struct Block {
    Slab* owner;  // nullptr: allocate_detached
    alignas(alignof(R) > alignof(std::max_align_t)
                ? alignof(R)
                : alignof(std::max_align_t)) unsigned char bytes[sizeof(R)];
  };
  struct Slab {
    Slab* prev = nullptr;  // partial_ list
    Slab* next = nullptr;
    Block* free = nullptr;     // recycled blocks, linked through their storage
    std::uint32_t used = 0;    // blocks holding a record
    std::uint32_t carved = 0;  // blocks handed out at least once (the rest never touched)
    Block blocks[kSlabRecords];
  };
  static Block* block_of(void* p) noexcept {
    return reinterpret_cast<Block*>(static_cast<unsigned char*>(p) - offsetof(Block, bytes));
  }

  void* allocate() {
    Slab* s = partial_;
    if (s == nullptr) {
      s = spares_.pop();
      if (s == nullptr) {
        s = take_from_depot();
        if (s == nullptr) s = new Slab;
        ++slabs_;
      }
      push_partial(s);
    }
    Block* b = s->free;
    if (b != nullptr) {
      std::memcpy(&s->free, b->bytes, sizeof s->free);
    } else {
      b = &s->blocks[s->carved++];
      b->owner = s;
    }
    if (++s->used == kSlabRecords) remove_partial(s);
    return b->bytes;
  }
  void recycle(void* p) noexcept {
    Block* b = block_of(p);
    Slab* s = b->owner;
    if (s == nullptr) {
      ::operator delete(b);
      return;
    }
    std::memcpy(b->bytes, &s->free, sizeof s->free);
    s->free = b;
    if (s->used-- == kSlabRecords) {
      push_partial(s);
    } else if (s->used == 0) {  // all its records are gone: a spare, or to the depot
      remove_partial(s);
      if (!spares_.push(s)) {
        give_to_depot(s);
        --slabs_;
      }
    }
  }
  void push_partial(Slab* s) noexcept {
    s->prev = nullptr;
    s->next = partial_;
    if (partial_ != nullptr) partial_->prev = s;
    partial_ = s;
  }
  void remove_partial(Slab* s) noexcept {
    (s->prev ? s->prev->next : partial_) = s->next;
    if (s->next) s->next->prev = s->prev;
    s->prev = s->next = nullptr;
  }
  // Empty slabs, linked through Slab::next, at most kMaxSpareSlabs: a Records object's spares
  // and the depot's.
  struct SlabStack {
    Slab* head = nullptr;
    std::uint32_t count = 0;
    // False (taking nothing) when full.
    bool push(Slab* s) noexcept {
      if (count == kMaxSpareSlabs) return false;
      s->prev = nullptr;
      s->next = head;
      head = s;
      ++count;
      return true;
    }
    Slab* pop() noexcept {
      Slab* s = head;
      if (s != nullptr) {
        head = s->next;
        --count;
      }
      return s;
    }
  };
  // The depot (see allocate): a spin lock taken once per slab, 32 records.
  struct Depot {
    internal::SpinLock lock;
    SlabStack slabs ABSL_GUARDED_BY(lock);
  };
  static inline constinit Depot depot_;
  static Slab* take_from_depot() noexcept {
    internal::SpinLockGuard guard(depot_.lock);
    return depot_.slabs.pop();
  }
  // Keeps `s`, which holds no record, in the depot, or frees it if the depot is full.
  static void give_to_depot(Slab* s) noexcept {
    {
      internal::SpinLockGuard guard(depot_.lock);
      if (depot_.slabs.push(s)) return;
    }
    delete s;
  }
  void destroy(R* r) noexcept {
    internal::FiberShard::remove(&r->listing);  // (thread unlists, then lets its fiber go early)
    if (r->fiber) r->fiber->set_scheduler_data(nullptr);
    r->~R();
    recycle(r);
  }
  void link(RecordBase* r) noexcept {
    r->prev_live = nullptr;
    r->next_live = live_;
    if (live_) live_->prev_live = r;
    live_ = r;
    ++alive_;
  }
  void unlink(RecordBase* r) noexcept {
    (r->prev_live ? r->prev_live->next_live : live_) = r->next_live;
    if (r->next_live) r->next_live->prev_live = r->prev_live;
    r->prev_live = r->next_live = nullptr;
    --alive_;
  }

  const CommonOptions* options_ = nullptr;
  internal::SchedulerCounters counters_;  // first: withdrawn from stats() last
  const char* debug_scheduler_ = "a scheduler";
  int debug_worker_ = -1;
  RecordBase* live_ = nullptr;  // every record not finished
  std::size_t alive_ = 0;
  R* main_ = nullptr;
  Slab* partial_ = nullptr;  // slabs with a free block
  SlabStack spares_;         // slabs with no record, kept for the next burst
  std::size_t slabs_ = 0;    // allocated and not freed
};

// The body of a scheduler's run_fiber: checks `options` and the arguments (std::invalid_argument
// naming `scheduler`), creates `S(options, args...)` (reference-counted: late resumes of
// abandoned fibers may keep it alive after run_fiber returns) and calls its
// `run(fiber, main)`.
template <typename S, typename O, typename... A>
void start(absl::string_view scheduler, FiberRef fiber, absl::AnyInvocable<void()> main,
           const O& options, A&&... args) {
  options.validate(scheduler);
  check_run_fiber(scheduler, fiber, main);
  internal::Ref<S> s = internal::Ref<S>::adopt(new S(options, std::forward<A>(args)...));
  s->run(std::move(fiber), std::move(main));
}

}  // namespace picos::mux::common

#endif  // PICOS_MUX_COMMON_KERNEL_H_
