// Copyright 2026 The Picos for C++ Authors.
//
// io/process.h — child processes whose pipes and exit are waited for by fibers, not threads.
//
//   io::ProcessOptions o;
//   o.in = o.out = io::Stdio::kPipe;
//   io::Process p = io::spawn_process({"sort"}, o);
//   std::string sorted;
//   Bundle::join_after([&](Bundle& b) {
//     b.fork([&] { io::write_all(p.stdin_fd(), text.data(), text.size()); p.close_stdin(); });
//     sorted = read_to_eof(p.stdout_fd());             // io::read in a loop
//   });
//   int status = p.wait();                             // WIFEXITED(status) ...
//
//   int status = io::system("make -s all");            // /bin/sh -c, inherits stdio
//
// Contract:
//  - spawn_process(argv, options) starts argv[0] (looked up in PATH unless it contains a
//    '/', with the parent's PATH) through posix_spawn (glibc: clone(CLONE_VM | CLONE_VFORK),
//    safe with threads, and exec errors are reported to the parent). It does not suspend.
//  - Standard streams: each of in/out/err is kInherit (the parent's 0/1/2), kNull
//    (/dev/null) or kPipe (a pipe whose parent end is returned by stdin_fd/stdout_fd/
//    stderr_fd: non-blocking and close-on-exec, for io::read/io::write; the child's end is an
//    ordinary blocking descriptor). Use a fiber per pipe when more than one is a pipe: a
//    child blocked writing a full stdout pipe stops reading its stdin, so one fiber that
//    writes everything before it reads can deadlock with it, as with any pipes.
//  - The child gets only descriptors 0, 1 and 2 (every other descriptor is closed in it,
//    close-on-exec or not) unless `close_other_fds` is false; an empty signal mask; SIGPIPE
//    at its default disposition (io ignores it in the parent); `cwd` and `env` if given
//    (else the parent's). It is not put in a new process group or session.
//  - Errors: std::system_error naming "picos::io::spawn_process" and the program, with the
//    errno — also for a failed exec (ENOENT for a missing program, EACCES...): no child is
//    left and no descriptor. An empty argv is EINVAL. If SIGCHLD is set to SIG_IGN, the
//    kernel reaps children itself and wait throws ECHILD.
//  - Process::wait() suspends the calling fiber until the child exits and reaps it (a pidfd
//    waited for through the reactor, as io::wait_child does), returning the wait status
//    (WIFEXITED/WEXITSTATUS, WIFSIGNALED/WTERMSIG); once reaped, wait returns the same status
//    again at once. A cancelation point.
//  - Canceled wait: the reason is thrown and the child is left as it was — running, not
//    reaped, the handle still owning it. So a timeout can escalate: cancel the wait, kill
//    (SIGTERM), wait again. Whatever is not waited for is the destructor's (next point).
//  - Destroying (or move-assigning over) a Process whose child has not been reaped: its
//    pipes are closed (io::close: fibers waiting on them wake with EBADF), the child is sent
//    SIGKILL and it is reaped — at once if it is already gone, else by a short-lived
//    background thread that waits for it and exits (the destructor never blocks on the
//    child). No zombie is left either way. To let a child outlive its handle, don't: wait
//    for it.
//  - kill(sig) signals the child through its pidfd, so it never reaches a recycled pid: after
//    the child was reaped it does nothing. Errors (EPERM, EINVAL) as std::system_error.
//  - Thread safety: one Process is used by one fiber at a time, except that kill() and the
//    pipes may be used by other fibers while one waits (the pipes are plain descriptors, as
//    io.h allows).
//  - Cost: spawn is a posix_spawn (no page-table copy), a pidfd_open and, per pipe, a pipe2
//    and a fcntl. Without pidfd_open (kernels before 5.3), wait polls waitpid(WNOHANG) with
//    sleeps growing from 1 ms to 50 ms, and kill uses the pid.
//
// run_process(argv) and system(command) spawn with every stream inherited and wait; they
// return the wait status. Canceled, they throw the reason and the child is killed and
// reaped by the destructor policy above.

#ifndef PICOS_IO_PROCESS_H_
#define PICOS_IO_PROCESS_H_

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace picos::io {

// What a child's standard stream is connected to.
enum class Stdio {
  kInherit,  // the parent's descriptor of the same number
  kNull,     // /dev/null
  kPipe,     // a pipe to the parent (Process::stdin_fd/stdout_fd/stderr_fd)
};

struct ProcessOptions {
  Stdio in = Stdio::kInherit;
  Stdio out = Stdio::kInherit;
  Stdio err = Stdio::kInherit;
  // The child's working directory; empty: the parent's.
  std::string cwd;
  // The child's whole environment ("NAME=value" strings); nullopt: the parent's.
  std::optional<std::vector<std::string>> env;
  // Close every descriptor but 0, 1 and 2 in the child.
  bool close_other_fds = true;
};

// A child process and the parent's ends of its pipes (see the contract above). Move-only;
// a default-constructed or moved-from Process has no child (pid() == -1).
class Process {
 public:
  Process() noexcept = default;
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  // Closes the pipes; kills and reaps a child that was not reaped (see the contract).
  ~Process();

  pid_t pid() const noexcept { return pid_; }
  // The parent's end of a kPipe stream (non-blocking, close-on-exec), or -1 (not a pipe, or
  // closed).
  int stdin_fd() const noexcept { return in_; }
  int stdout_fd() const noexcept { return out_; }
  int stderr_fd() const noexcept { return err_; }
  // io::close the parent's end (closing stdin is how the child sees end of file); no-op if
  // it is -1.
  void close_stdin() noexcept;
  void close_stdout() noexcept;
  void close_stderr() noexcept;

  // Suspends until the child exits, reaps it and returns its wait status; the same status at
  // once if it was reaped already. A cancelation point (see the contract). Throws
  // std::system_error ("picos::io::Process::wait"), std::logic_error without a child.
  int wait();
  // The wait status if the child has exited (it is then reaped), else nullopt. Never
  // suspends.
  std::optional<int> try_wait();
  // True once wait/try_wait reaped the child.
  bool reaped() const noexcept { return reaped_.load(std::memory_order_acquire); }

  // Sends `sig` to the child unless it was reaped (see the contract).
  void kill(int sig = SIGTERM);

 private:
  friend Process spawn_process(const std::vector<std::string>& argv, const ProcessOptions& options);
  // Closes the pipes and disposes of an unreaped child; leaves *this empty.
  void reset() noexcept;
  bool poll_exit();  // waitpid(WNOHANG): true (and reaped_, status_) once the child is reaped

  pid_t pid_ = -1;
  int pidfd_ = -1;  // -1 without pidfd_open
  int in_ = -1;
  int out_ = -1;
  int err_ = -1;
  std::atomic<bool> reaped_{false};  // kill() reads it from another fiber while one waits
  int status_ = 0;
};

// Starts a child (see the contract above).
Process spawn_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// spawn_process(argv) with every stream inherited, then wait(): the wait status.
int run_process(const std::vector<std::string>& argv);

// run_process({"/bin/sh", "-c", command}): the wait status (127 from the shell if the
// command is not found).
int system(const std::string& command);

}  // namespace picos::io

#endif  // PICOS_IO_PROCESS_H_
