// Copyright 2026 The Picos for C++ Authors.
//
// picos::io::SignalSet: a signalfd waited on through io::await_fd (see signal.h).

#include "io/signal.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include "io/io.h"

namespace picos::io {

namespace {

[[noreturn]] void fail(int err, const char* op) {
  throw std::system_error(err, std::generic_category(), std::string("picos::io::") + op);
}

sigset_t make_set(std::initializer_list<int> signals, const char* op) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : signals) {
    // sigaddset rejects numbers out of range and the ones glibc reserves for itself.
    if (sig == SIGKILL || sig == SIGSTOP || sigaddset(&set, sig) != 0) {
      throw std::invalid_argument(std::string("picos::io::") + op + ": " + std::to_string(sig) +
                                  " is not a signal that can be blocked");
    }
  }
  return set;
}

// Reads the "SigBlk:" mask of thread `tid` (bit n-1 is signal n). False if the thread is
// gone (or its status cannot be read).
bool blocked_mask(const char* tid, std::uint64_t* mask) {
  std::string path = std::string("/proc/self/task/") + tid + "/status";
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return false;
  char line[256];
  bool found = false;
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "SigBlk:", 7) == 0) {
      *mask = std::strtoull(line + 7, nullptr, 16);
      found = true;
      break;
    }
  }
  std::fclose(f);
  return found;
}

std::string thread_name(const char* tid) {
  std::string path = std::string("/proc/self/task/") + tid + "/comm";
  FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return "?";
  char name[64] = {0};
  if (!std::fgets(name, sizeof name, f)) name[0] = '\0';
  std::fclose(f);
  std::string s = name;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The signal's description ("Interrupt"): sigdescr_np reads a constant table, where
// strsignal may write a buffer of its own (not thread-safe before glibc 2.32).
std::string signal_name(int sig) {
  const char* d = sigdescr_np(sig);
  return d != nullptr ? d : "real-time or unknown signal";
}

// Empty if every thread of the process blocks every signal of `set` (or /proc cannot be
// read), else a description of the first thread found that does not.
std::string find_unblocking_thread(const sigset_t& set) {
  DIR* d = opendir("/proc/self/task");
  if (!d) return "";
  std::string problem;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::uint64_t mask = 0;
    if (!blocked_mask(e->d_name, &mask)) continue;  // exited meanwhile
    for (int sig = 1; sig <= 64; ++sig) {
      if (sigismember(&set, sig) == 1 && !(mask >> (sig - 1) & 1)) {
        problem = "thread " + std::string(e->d_name) + " (" + thread_name(e->d_name) +
                  ") does not block signal " + std::to_string(sig) + " (" + signal_name(sig) + ")";
        break;
      }
    }
    if (!problem.empty()) break;
  }
  closedir(d);
  return problem;
}

void change_mask(int how, std::initializer_list<int> signals, const char* op) {
  sigset_t set = make_set(signals, op);
  int err = pthread_sigmask(how, &set, nullptr);
  if (err != 0) fail(err, op);
}

}  // namespace

void block_signals(std::initializer_list<int> signals) {
  change_mask(SIG_BLOCK, signals, "block_signals");
}

void unblock_signals(std::initializer_list<int> signals) {
  change_mask(SIG_UNBLOCK, signals, "unblock_signals");
}

SignalSet::SignalSet(std::initializer_list<int> signals) : set_(make_set(signals, "SignalSet")) {
  if (signals.size() == 0) {
    throw std::invalid_argument("picos::io::SignalSet: the set of signals is empty");
  }
  sigset_t old;
  int err = pthread_sigmask(SIG_BLOCK, &set_, &old);
  if (err != 0) fail(err, "SignalSet: pthread_sigmask");
  std::string problem = find_unblocking_thread(set_);
  if (!problem.empty()) {
    (void)pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw std::logic_error(
        "picos::io::SignalSet: " + problem +
        ": a signal sent to the process could be delivered there instead of the signalfd. "
        "Block the signals before any thread starts (construct the SignalSet, or call "
        "picos::io::block_signals, at the top of main(), before the scheduler and the first "
        "io call); see io/signal.h");
  }
  fd_ = ::signalfd(-1, &set_, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd_ < 0) {
    err = errno;
    (void)pthread_sigmask(SIG_SETMASK, &old, nullptr);
    fail(err, "SignalSet: signalfd");
  }
}

SignalSet::~SignalSet() { io::close(fd_); }

std::optional<int> SignalSet::try_wait() {
  for (;;) {
    signalfd_siginfo info;
    ssize_t n = ::read(fd_, &info, sizeof info);
    if (n == static_cast<ssize_t>(sizeof info)) return static_cast<int>(info.ssi_signo);
    if (n >= 0) fail(EIO, "SignalSet::wait");  // a signalfd reads whole records only
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
    fail(errno, "SignalSet::wait");
  }
}

int SignalSet::wait() {
  for (;;) {
    if (std::optional<int> sig = try_wait()) return *sig;
    await_fd(fd_, kFdRead, "SignalSet::wait");
  }
}

}  // namespace picos::io
