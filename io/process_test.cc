// Copyright 2026 The Picos for C++ Authors.
//
// io::spawn_process, Process, run_process and system on every scheduler of the matrix, with
// real children (cat, sh, sleep). Every test checks that it leaves no descriptor open; the
// tests that drop or cancel a running child check that it is reaped (no zombie). Nothing
// asserts a duration: waits that must end give up after a generous real-time bound and fail.

#include "io/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "io/io.h"
#include "io/testing.h"
#include "mux/testing/testing.h"
#include "picos/picos.h"
#include "std/sync/sync_testing.h"

namespace picos::io {
namespace {

namespace st = picos::sync::testing;
using namespace std::chrono_literals;

using testing::kPatience;

using testing::eventually;

// True once `pid` is gone entirely: not running and not a zombie (kill(pid, 0) succeeds on a
// zombie). Our children's pids are not recycled before they are reaped.
bool reaped(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

// The errno of the std::system_error `fn` throws (0 if none), and its what().
int error_of(const std::function<void()>& fn, std::string* what = nullptr) {
  try {
    fn();
  } catch (const std::system_error& e) {
    if (what) *what = e.what();
    return e.code().value();
  }
  return 0;
}

// Reads `fd` to end of file.
std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = io::read(fd, buf, sizeof buf);
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

ProcessOptions pipes(Stdio in, Stdio out, Stdio err = Stdio::kInherit) {
  ProcessOptions o;
  o.in = in;
  o.out = out;
  o.err = err;
  return o;
}

using ProcessTest = picos::io::testing::NoFdLeakTest;

TEST_F(ProcessTest, CatEchoesMegabytesBothWaysConcurrently) {
  picos::testing::run([] {
    Process p = spawn_process({"cat"}, pipes(Stdio::kPipe, Stdio::kPipe));
    ASSERT_GT(p.pid(), 0);
    ASSERT_GE(p.stdin_fd(), 0);
    ASSERT_GE(p.stdout_fd(), 0);
    EXPECT_EQ(p.stderr_fd(), -1);
    EXPECT_TRUE(::fcntl(p.stdin_fd(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(p.stdout_fd(), F_GETFD) & FD_CLOEXEC);
    // Far more than two pipe buffers: a writer that finished before reading would deadlock.
    const std::size_t kBytes = (picos::testing::kSanitizer ? 2 : 8) << 20;
    auto writer = st::fork([&] {
      std::vector<unsigned char> data(kBytes);
      for (std::size_t i = 0; i < kBytes; ++i) {
        data[i] = static_cast<unsigned char>(i * 131 + (i >> 10));
      }
      io::write_all(p.stdin_fd(), data.data(), data.size());
      p.close_stdin();  // cat sees end of file
    });
    std::vector<unsigned char> buf(1 << 16);
    std::size_t got = 0;
    bool same = true;
    for (;;) {
      ssize_t n = io::read(p.stdout_fd(), buf.data(), buf.size());
      if (n == 0) break;
      for (ssize_t i = 0; i < n; ++i, ++got) {
        same = same && buf[i] == static_cast<unsigned char>(got * 131 + (got >> 10));
      }
    }
    writer.await();
    EXPECT_EQ(got, kBytes);
    EXPECT_TRUE(same);
    int status = p.wait();
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_TRUE(p.reaped());
  });
}

TEST_F(ProcessTest, ExitStatus) {
  picos::testing::run([] {
    Process p = spawn_process({"sh", "-c", "exit 3"});
    int status = p.wait();
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 3);
    EXPECT_EQ(p.wait(), status);  // reaped: the same status again
    EXPECT_EQ(p.try_wait(), status);
    p.kill(SIGKILL);  // reaped: does nothing

    status = io::system("exit 5");
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 5);
    EXPECT_EQ(io::run_process({"true"}), 0);
    status = io::system("no-such-command-for-picos 2>/dev/null");
    EXPECT_EQ(WEXITSTATUS(status), 127);  // the shell's "not found"
  });
}

TEST_F(ProcessTest, KilledBySignal) {
  picos::testing::run([] {
    Process p = spawn_process({"sleep", "1000"});
    EXPECT_EQ(p.try_wait(), std::nullopt);
    p.kill(SIGTERM);
    int status = p.wait();
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
    EXPECT_TRUE(reaped(p.pid()));
    EXPECT_EQ(error_of([&] { p.kill(-1); }), 0);  // reaped: not even checked
    Process q = spawn_process({"sleep", "1000"});
    EXPECT_EQ(error_of([&] { q.kill(-1); }), EINVAL);
  });
}

TEST_F(ProcessTest, NonexistentProgramIsASystemError) {
  picos::testing::run([] {
    std::string what;
    EXPECT_EQ(error_of([] { (void)spawn_process({"/nonexistent/picos-test-program"}); }, &what),
              ENOENT);
    EXPECT_NE(what.find("picos::io::spawn_process"), std::string::npos) << what;
    EXPECT_NE(what.find("/nonexistent/picos-test-program"), std::string::npos) << what;
    // Looked up in PATH, with pipes made and then dropped.
    EXPECT_EQ(error_of([] {
                (void)spawn_process({"no-such-program-for-picos"},
                                    pipes(Stdio::kPipe, Stdio::kPipe, Stdio::kPipe));
              }),
              ENOENT);
    EXPECT_EQ(error_of([] { (void)io::run_process({"/nonexistent/picos-test-program"}); }), ENOENT);
    EXPECT_EQ(error_of([] { (void)spawn_process({}); }), EINVAL);
    ProcessOptions bad_cwd;
    bad_cwd.cwd = "/nonexistent/picos-test-dir";
    EXPECT_EQ(error_of([&] { (void)spawn_process({"true"}, bad_cwd); }), ENOENT);
  });
}

TEST_F(ProcessTest, StderrNullAndOptions) {
  picos::testing::run([] {
    Process p = spawn_process({"sh", "-c", "echo out; echo err >&2; cat"},
                              pipes(Stdio::kNull, Stdio::kPipe, Stdio::kPipe));
    EXPECT_EQ(p.stdin_fd(), -1);
    std::string err;
    auto err_reader = st::fork([&] { err = read_all(p.stderr_fd()); });
    EXPECT_EQ(read_all(p.stdout_fd()), "out\n");  // cat reads /dev/null: end of file
    err_reader.await();
    EXPECT_EQ(err, "err\n");
    EXPECT_EQ(p.wait(), 0);

    ProcessOptions o = pipes(Stdio::kInherit, Stdio::kPipe);
    o.cwd = "/";
    o.env = std::vector<std::string>{"PICOS_TEST_VAR=fiber"};
    Process q = spawn_process({"/bin/sh", "-c", "pwd; echo \"$PICOS_TEST_VAR\""}, o);
    EXPECT_EQ(read_all(q.stdout_fd()), "/\nfiber\n");
    EXPECT_EQ(q.wait(), 0);
  });
}

TEST_F(ProcessTest, ChildGetsOnlyTheStandardDescriptors) {
  picos::testing::run([] {
    int inheritable = ::open("/dev/null", O_RDONLY);  // not close-on-exec
    ASSERT_GE(inheritable, 3);
    const std::string probe = "[ -e /proc/self/fd/" + std::to_string(inheritable) + " ]";
    int status = io::system(probe);  // the shell's own descriptor table
    EXPECT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 1) << "descriptor " << inheritable << " leaked into the child";
    ProcessOptions keep;
    keep.close_other_fds = false;
    EXPECT_EQ(spawn_process({"/bin/sh", "-c", probe}, keep).wait(), 0);
    ::close(inheritable);
  });
}

TEST_F(ProcessTest, CanceledWaitLeavesTheChildToKillAndWaitAgain) {
  picos::testing::run([] {
    Process p = spawn_process({"sleep", "1000"});
    std::atomic<int> outcome{0};  // 1 canceled, 2 returned
    auto v = st::spawn_victim([&] {
      try {
        (void)p.wait();
        outcome = 2;
      } catch (const st::Stop&) {
        outcome = 1;
        throw;
      }
    });
    io::sleep(0.02);
    v.c.cancel(st::stop());
    v.done.wait();
    EXPECT_EQ(outcome.load(), 1);
    EXPECT_FALSE(p.reaped());
    EXPECT_EQ(p.try_wait(), std::nullopt);  // still running
    p.kill(SIGTERM);
    int status = p.wait();
    EXPECT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
  });
}

TEST_F(ProcessTest, CanceledRunProcessKillsAndReapsTheChild) {
  picos::testing::run([] {
    std::atomic<pid_t> pid{-1};
    std::atomic<int> outcome{0};  // 1 canceled, 2 returned
    auto v = st::spawn_victim([&] {
      try {
        Process p = spawn_process({"sleep", "1000"});
        pid = p.pid();
        (void)p.wait();
        outcome = 2;
      } catch (const st::Stop&) {
        outcome = 1;
        throw;
      }
    });
    ASSERT_TRUE(eventually([&] { return pid.load() > 0; }));
    io::sleep(0.02);
    v.c.cancel(st::stop());
    v.done.wait();
    EXPECT_EQ(outcome.load(), 1);
    EXPECT_TRUE(eventually([&] { return reaped(pid.load()); })) << "zombie or still running";
  });
}

TEST_F(ProcessTest, DroppedHandleKillsAndReapsTheChild) {
  picos::testing::run([] {
    pid_t pid;
    {
      Process p = spawn_process({"cat"}, pipes(Stdio::kPipe, Stdio::kPipe));
      pid = p.pid();
      Process q = std::move(p);  // the moved-from handle owns nothing
      EXPECT_EQ(p.pid(), -1);    // NOLINT(bugprone-use-after-move): documented as empty
      EXPECT_EQ(q.pid(), pid);
    }
    EXPECT_TRUE(eventually([&] { return reaped(pid); })) << "zombie or still running";
    // Move-assigning over a live child disposes of it the same way.
    Process a = spawn_process({"sleep", "1000"});
    pid_t first = a.pid();
    a = spawn_process({"true"});
    EXPECT_TRUE(eventually([&] { return reaped(first); })) << "zombie or still running";
    EXPECT_EQ(a.wait(), 0);
  });
}

TEST_F(ProcessTest, CloseWakesAReaderOfAChildsPipe) {
  picos::testing::run([] {
    Process p = spawn_process({"sleep", "1000"}, pipes(Stdio::kInherit, Stdio::kPipe));
    int err = 0;
    std::atomic<bool> reading{false};
    auto reader = st::fork([&] {
      char b;
      reading = true;
      err = error_of([&] { (void)io::read(p.stdout_fd(), &b, 1); });
    });
    ASSERT_TRUE(eventually([&] { return reading.load(); }));
    io::sleep(0.01);
    p.close_stdout();  // io::close: the reader wakes with EBADF
    reader.await();
    EXPECT_EQ(err, EBADF);
    p.kill(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(p.wait()));
  });
}

TEST_F(ProcessTest, ManyChildrenAtOnce) {
  picos::testing::run([] {
    const int n = st::fibers(40);
    std::vector<Computation<void>> cs;
    std::atomic<int> ok{0};
    for (int i = 0; i < n; ++i) {
      cs.push_back(st::fork([&ok, i] {
        Process p = spawn_process(
            {"sh", "-c", "echo " + std::to_string(i) + "; exit " + std::to_string(i % 7)},
            pipes(Stdio::kNull, Stdio::kPipe));
        std::string out = read_all(p.stdout_fd());
        int status = p.wait();
        if (out == std::to_string(i) + "\n" && WIFEXITED(status) && WEXITSTATUS(status) == i % 7) {
          ++ok;
        }
      }));
    }
    for (auto& c : cs) c.await();
    EXPECT_EQ(ok.load(), n);
  });
}

}  // namespace
}  // namespace picos::io
