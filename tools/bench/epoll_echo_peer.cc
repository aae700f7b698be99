// Copyright 2026 The Picos for C++ Authors.
//
// tools/bench/epoll_echo_peer.cc — echo's peer: runs the plain single-threaded C epoll loop
// //tools/demo:epoll_echo (same work as picos_bench's echo: a loopback TCP echo server and
// --echo_clients clients doing --echo_rounds round trips of 64 bytes, every byte checked,
// timed from "all connected and accepted" to "all done") and prints its figure as
//   bench=echo impl=epoll_c threads=1 value=<round trips/s> unit=msg/s
// Same flags as the other runners (bench_util.h: --quick, sizes, --warmup, --reps, --only,
// --skip, --threads, --impl), so tools/bench.sh passes them the same arguments; each
// repetition is one run of epoll_echo (a fresh process), the best is printed. A run that
// fails (non-zero exit: epoll_echo exits 1 when an echoed byte differs) or whose summary line
// does not match the requested sizes prints value=FAILED.
// epoll_echo is found next to this binary (bazel-bin/tools/demo/epoll_echo; build it too),
// or given with --epoll_echo=PATH.
//   bazel build -c opt //tools/demo:epoll_echo //tools/bench:epoll_echo_peer
//   bazel-bin/tools/bench/epoll_echo_peer --quick

#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "tools/bench/bench_util.h"

namespace {

using i64 = std::int64_t;

// bazel-bin/tools/demo/epoll_echo, found from this binary's own path
// (bazel-bin/tools/bench/epoll_echo_peer); empty if /proc/self/exe is unreadable.
std::string default_epoll_echo() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string self(buf, static_cast<std::size_t>(n));
  const std::size_t slash = self.rfind('/');
  if (slash == std::string::npos) return "";
  return self.substr(0, slash) + "/../demo/epoll_echo";
}

// `s` in single quotes for /bin/sh.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// One run of epoll_echo: its round trips/s, or -1 with the reason on stderr.
double epoll_once(const std::string& path, i64 clients, i64 rounds) {
  const std::string cmd = shell_quote(path) + " --clients=" + std::to_string(clients) +
                          " --rounds=" + std::to_string(rounds);
  std::FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) {
    std::perror("epoll_echo_peer: popen");
    return -1;
  }
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int status = ::pclose(p);
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "epoll_echo_peer: '%s' failed (status %d): %s\n", cmd.c_str(), status,
                 out.c_str());
    return -1;
  }
  // "plain C epoll loop, 1 thread: N connections x R round trips of 64 bytes: V round
  // trips/s (S s)"
  long got_clients = 0, got_rounds = 0;
  int bytes = 0;
  double per_s = 0, seconds = 0;
  const int fields = std::sscanf(out.c_str(),
                                 "plain C epoll loop, 1 thread: %ld connections x %ld round "
                                 "trips of %d bytes: %lf round trips/s (%lf s)",
                                 &got_clients, &got_rounds, &bytes, &per_s, &seconds);
  if (fields != 5 || got_clients != clients || got_rounds != rounds || bytes != 64 || per_s <= 0) {
    std::fprintf(stderr, "epoll_echo_peer: unexpected output from '%s': %s\n", cmd.c_str(),
                 out.c_str());
    return -1;
  }
  return per_s;
}

}  // namespace

ABSL_FLAG(std::string, epoll_echo, "",
          "the epoll_echo binary to run (default: bazel-bin/tools/demo/epoll_echo, found from "
          "this binary's path)");

int main(int argc, char** argv) {
  const bench::Sizes s = bench::parse(argc, argv);
  std::string path = absl::GetFlag(FLAGS_epoll_echo);
  if (path.empty()) path = default_epoll_echo();
  if (!s.wants("echo") || !s.wants_impl("epoll_c") || !s.wants_threads(1)) return 0;
  const bool found = !path.empty() && ::access(path.c_str(), X_OK) == 0;
  if (!found) {
    std::fprintf(stderr,
                 "epoll_echo_peer: no executable epoll_echo at '%s' (bazel build -c opt "
                 "//tools/demo:epoll_echo, or pass --epoll_echo=PATH)\n",
                 path.c_str());
  }
  bench::report(
      s, "echo", "epoll_c", 1, "msg/s",
      [&] { return found ? epoll_once(path, s.echo_clients, s.echo_rounds) : -1; },
      /*higher_is_better=*/true);
  return bench::failures() == 0 ? 0 : 1;
}
