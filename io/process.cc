// Copyright 2026 The Picos for C++ Authors.
//
// posix_spawn with pipes, a pidfd to wait on through the reactor, and the kill-and-reap
// policy for handles dropped before their child was reaped.

#include "io/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

#include "io/io.h"
#include "picos/fiber.h"

extern char** environ;  // NOLINT: POSIX declares it nowhere

namespace picos::io {

namespace {

[[noreturn]] void fail(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), "picos::io::" + what);
}

// Closes a descriptor that no fiber waits on (no reactor ever saw it).
void close_quietly(int fd) noexcept {
  if (fd >= 0) (void)::close(fd);
}

// io::close without exceptions (the destructor's path: the descriptor is gone either way).
void io_close_quietly(int& fd) noexcept {
  if (fd < 0) return;
  io::forget(fd);
  (void)::close(fd);
  fd = -1;
}

// Blocks the calling thread until `pid` is reaped (or cannot be: ECHILD).
void reap_blocking(pid_t pid) noexcept {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// The pipes, posix_spawn's file actions and attributes of one spawn; whatever the spawn did
// not hand over is closed or destroyed when it goes out of scope.
class SpawnSetup {
 public:
  SpawnSetup() {
    if (int err = ::posix_spawn_file_actions_init(&actions_)) fail(err, "spawn_process");
    if (int err = ::posix_spawnattr_init(&attr_)) {
      ::posix_spawn_file_actions_destroy(&actions_);
      fail(err, "spawn_process");
    }
  }
  ~SpawnSetup() {
    ::posix_spawnattr_destroy(&attr_);
    ::posix_spawn_file_actions_destroy(&actions_);
    for (int fd : child_ends_) close_quietly(fd);
    for (int fd : parent_ends_) close_quietly(fd);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  // Connects the child's descriptor `target` (0, 1, 2) as `how` says.
  void stream(int target, Stdio how) {
    if (how == Stdio::kInherit) return;
    if (how == Stdio::kNull) {
      check(::posix_spawn_file_actions_addopen(&actions_, target, "/dev/null",
                                               target == 0 ? O_RDONLY : O_WRONLY, 0));
      return;
    }
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail(errno, "spawn_process");
    const bool child_reads = target == 0;
    int child = child_reads ? fds[0] : fds[1];
    int parent = child_reads ? fds[1] : fds[0];
    parent_ends_[target] = parent;
    child_ends_[target] = child;
    // The parent's end only: O_NONBLOCK belongs to the open file description, and the two
    // ends of a pipe have one each, so the child's stays blocking.
    if (::fcntl(parent, F_SETFL, O_NONBLOCK) != 0) fail(errno, "spawn_process");
    if (child < 3) {
      // The dup2 onto 0..2 must not find another stream's source there: move it above 2.
      int moved = ::fcntl(child, F_DUPFD_CLOEXEC, 3);
      if (moved < 0) fail(errno, "spawn_process");
      ::close(child);
      child_ends_[target] = child = moved;
    }
    check(::posix_spawn_file_actions_adddup2(&actions_, child, target));
  }

  void finish(const ProcessOptions& options) {
    if (!options.cwd.empty()) {
      check(::posix_spawn_file_actions_addchdir_np(&actions_, options.cwd.c_str()));
    }
    if (options.close_other_fds) check(::posix_spawn_file_actions_addclosefrom_np(&actions_, 3));
    sigset_t none, pipe;
    sigemptyset(&none);
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    check(::posix_spawnattr_setsigmask(&attr_, &none));
    check(::posix_spawnattr_setsigdefault(&attr_, &pipe));
    check(::posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  }

  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }
  // The parent's end of stream `target` (ownership passes to the caller), or -1.
  int take_parent_end(int target) { return std::exchange(parent_ends_[target], -1); }

 private:
  static void check(int err) {
    if (err != 0) fail(err, "spawn_process");
  }

  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
  int parent_ends_[3] = {-1, -1, -1};
  int child_ends_[3] = {-1, -1, -1};
};

}  // namespace

// ---- Process -------------------------------------------------------------------------------

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      in_(std::exchange(other.in_, -1)),
      out_(std::exchange(other.out_, -1)),
      err_(std::exchange(other.err_, -1)),
      reaped_(other.reaped_.exchange(false, std::memory_order_relaxed)),
      status_(std::exchange(other.status_, 0)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    reset();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::exchange(other.pidfd_, -1);
    in_ = std::exchange(other.in_, -1);
    out_ = std::exchange(other.out_, -1);
    err_ = std::exchange(other.err_, -1);
    reaped_.store(other.reaped_.exchange(false, std::memory_order_relaxed),
                  std::memory_order_relaxed);
    status_ = std::exchange(other.status_, 0);
  }
  return *this;
}

Process::~Process() { reset(); }

void Process::reset() noexcept {
  io_close_quietly(in_);
  io_close_quietly(out_);
  io_close_quietly(err_);
  if (pid_ >= 0 && !reaped_.load(std::memory_order_relaxed)) {
    if (pidfd_ >= 0) {
      (void)::syscall(SYS_pidfd_send_signal, pidfd_, SIGKILL, nullptr, 0);
    } else {
      (void)::kill(pid_, SIGKILL);
    }
    int status = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
      // Not gone yet (SIGKILL is delivered, but a process may take a while to exit, e.g. to
      // free a large address space): a thread of its own waits for it, so that this
      // destructor never blocks on the child. Without a thread, block (rare and short).
      const pid_t pid = pid_;
      try {
        std::thread([pid] { reap_blocking(pid); }).detach();
      } catch (...) {
        reap_blocking(pid);
      }
    }
  }
  io_close_quietly(pidfd_);
  pid_ = -1;
  reaped_.store(false, std::memory_order_relaxed);
  status_ = 0;
}

void Process::close_stdin() noexcept { io_close_quietly(in_); }
void Process::close_stdout() noexcept { io_close_quietly(out_); }
void Process::close_stderr() noexcept { io_close_quietly(err_); }

bool Process::poll_exit() {
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      status_ = status;
      reaped_.store(true, std::memory_order_release);
      return true;
    }
    if (r == 0) return false;
    if (errno != EINTR) fail(errno, "Process::wait");
  }
}

int Process::wait() {
  if (pid_ < 0) throw std::logic_error("picos::io::Process::wait: no child");
  if (reaped_.load(std::memory_order_relaxed)) return status_;
  if (pidfd_ < 0) {
    // No pidfd_open: poll, as io::wait_child does.
    auto delay = std::chrono::milliseconds(1);
    while (!poll_exit()) {
      Fiber::sleep(delay);
      if (delay < std::chrono::milliseconds(50)) delay *= 2;
    }
    return status_;
  }
  // The pidfd becomes readable when the child exits; it stays so until it is closed.
  while (!poll_exit()) await_fd(pidfd_, kFdRead, "Process::wait");
  return status_;
}

std::optional<int> Process::try_wait() {
  if (pid_ < 0) throw std::logic_error("picos::io::Process::try_wait: no child");
  if (reaped_.load(std::memory_order_relaxed) || poll_exit()) return status_;
  return std::nullopt;
}

void Process::kill(int sig) {
  if (pid_ < 0) throw std::logic_error("picos::io::Process::kill: no child");
  if (pidfd_ >= 0) {
    // After the child was reaped the pidfd refers to no process: ESRCH, never another one.
    if (::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) != 0 && errno != ESRCH) {
      fail(errno, "Process::kill");
    }
    return;
  }
  if (reaped_.load(std::memory_order_acquire)) return;
  if (::kill(pid_, sig) != 0 && errno != ESRCH) fail(errno, "Process::kill");
}

// ---- spawning ------------------------------------------------------------------------------

Process spawn_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty()) fail(EINVAL, "spawn_process: empty argv");
  const std::string op = "spawn_process: " + argv[0];
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> envs;
  char** envp = environ;
  if (options.env) {
    envs.reserve(options.env->size() + 1);
    for (const auto& e : *options.env) envs.push_back(const_cast<char*>(e.c_str()));
    envs.push_back(nullptr);
    envp = envs.data();
  }

  SpawnSetup setup;
  setup.stream(0, options.in);
  setup.stream(1, options.out);
  setup.stream(2, options.err);
  setup.finish(options);

  pid_t pid = -1;
  // posix_spawnp reports a failed exec (and any failed file action) as its result; the
  // child has then exited and been reaped.
  if (int err = ::posix_spawnp(&pid, args[0], setup.actions(), setup.attr(), args.data(), envp)) {
    fail(err, op);
  }
  Process p;
  p.pid_ = pid;
  // The child is not reaped before we wait for it, so its pid cannot be recycled meanwhile.
  // pidfd_open's descriptor is always close-on-exec.
  p.pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (p.pidfd_ < 0 && errno != ENOSYS) {
    int err = errno;
    p.reset();  // kills and reaps the child
    fail(err, op);
  }
  p.in_ = setup.take_parent_end(0);
  p.out_ = setup.take_parent_end(1);
  p.err_ = setup.take_parent_end(2);
  return p;
}

int run_process(const std::vector<std::string>& argv) { return spawn_process(argv).wait(); }

int system(const std::string& command) { return run_process({"/bin/sh", "-c", command}); }

}  // namespace picos::io
