// Copyright 2026 The Picos for C++ Authors.
//
// tools/http/http_server.cc — an HTTP/1.1 server written with picos::structured and picos::io,
// the worked server of docs/io.md ("An HTTP server"): one acceptor fiber on 127.0.0.1 and one
// fiber per connection, on the scheduler --scheduler names (as //tools/demo:demo does).
//
//   bazel run -c opt //tools/http:http_server -- [--port=8080] [--scheduler=NAME] [--threads=N]
//       [--request-timeout=S] [--idle-timeout=S] [--max-header-bytes=N] [--max-body-bytes=N]
//       [--grace=S]
//
// The first line printed names the port (`http server on 127.0.0.1:PORT ...`; --port=0: the
// kernel picks). Routes and protocol: tools/http/http.h (`GET /` is "Hello, world!", `POST
// /echo` echoes the body, `GET /count` counts requests). A connection's fiber:
//  - keeps the connection alive (HTTP/1.1 by default, HTTP/1.0 with `Connection: keep-alive`)
//    and answers pipelined requests in order, every response to what one read brought in one
//    write;
//  - reads Content-Length bodies (up to --max-body-bytes, else 413 and close);
//  - answers a malformed request 400, a header section over --max-header-bytes 431, a
//    Transfer-Encoding 501, then closes (lingering: it stops writing and drains the client's
//    bytes for up to a second, so the answer is not lost to a reset);
//  - gives each request --request-timeout seconds from its first byte (a new connection: from
//    the accept) to arrive whole (Control::terminate_after around each wait for the rest), and
//    closes a keep-alive connection idle for --idle-timeout, within as long again (see
//    Connection: one terminate_after per idle timeout, not one per request), as one that
//    takes none of a response's bytes for --idle-timeout; a timeout sends a best-effort 408
//    and closes;
//  - ends on its own IO errors (a reset, a vanished client) without touching any other.
// SIGINT/SIGTERM (io::SignalSet, created in main before any thread) stop the acceptor and close
// the listener; open connections get --grace seconds, the rest are cut, a summary line is
// printed and the exit status is 0.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "io/io.h"
#include "io/signal.h"
#include "picos/fiber.h"
#include "std/structured/structured.h"
#include "tools/common/flags.h"
#include "tools/demo/loopback.h"
#include "tools/demo/schedulers.h"
#include "tools/demo/serve.h"
#include "tools/http/http.h"

ABSL_FLAG(int, port, 8080, "TCP port on 127.0.0.1, 0-65535 (0: the kernel picks one)");
ABSL_FLAG(std::string, scheduler, "",
          "fifo, multififo, libevent, thread or randos (default: the build's, "
          "--//mux:scheduler)");
ABSL_FLAG(int, threads, 0, "multififo's workers, 0-1024 (0: one per CPU)");
ABSL_FLAG(double, request_timeout, 10.0,
          "given as --request-timeout=S: seconds a request (head and body) may take to arrive "
          "from its first byte (a new connection: from the accept)");
ABSL_FLAG(double, idle_timeout, 60.0,
          "given as --idle-timeout=S: a keep-alive connection idle this long between requests "
          "is closed (within as long again: the deadline is re-armed lazily)");
ABSL_FLAG(int, max_header_bytes, 8192,
          "given as --max-header-bytes=N: longest request head (request line, fields, blank "
          "line), 256-1048576; longer ones get 431");
ABSL_FLAG(std::int64_t, max_body_bytes, 1 << 20,
          "given as --max-body-bytes=N: longest Content-Length accepted, 0-1073741824; longer "
          "ones get 413");
ABSL_FLAG(double, grace, 5.0, "seconds open connections may go on after SIGINT/SIGTERM, 0-86400");

namespace {

namespace io = picos::io;
namespace http = picos::tools::http;
using picos::structured::Bundle;
using picos::structured::Control;
using picos::structured::Terminate;
using picos::tools::FdGuard;
using Clock = std::chrono::steady_clock;

struct Config {
  int port = 8080;
  std::string scheduler;
  int threads = 0;
  std::chrono::nanoseconds request_timeout{};
  std::chrono::nanoseconds idle_timeout{};
  std::size_t max_header_bytes = 8192;
  std::uint64_t max_body_bytes = 1 << 20;
  double grace = 5.0;
};

// How connections and requests ended, shared by every connection fiber (several threads on
// multififo).
struct Stats : picos::tools::AcceptCounters {  // accepted, open, aborted, fd_pauses
  std::atomic<std::uint64_t> requests{0};      // answered by a route (/count's number)
  std::atomic<long> bad_requests{0};           // 400, 501, 505
  std::atomic<long> too_large{0};              // 431 and 413
  std::atomic<long> timeouts{0};               // request or idle timeout: 408 and close
  std::atomic<long> resets{0};                 // ECONNRESET / EPIPE
  std::atomic<long> errors{0};                 // other errors of a connection
  std::atomic<long> cut{0};                    // terminated at the grace deadline
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "http_server: %s (--help lists the flags)\n", msg.c_str());
  std::exit(2);  // NOLINT(concurrency-mt-unsafe): while parsing flags, before any thread
}

template <typename T>
T checked(T v, const char* name, T min, T max) {
  if (!(v >= min && v <= max)) {
    usage_error(absl::StrCat("--", name, " must be in [", min, ", ", max, "], got ", v));
  }
  return v;
}

std::chrono::nanoseconds seconds(double s) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

Config parse_flags(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "an HTTP/1.1 server on picos: GET / (Hello, world!), POST /echo, GET /count.\n"
      "  http_server [--port=N] [--scheduler=NAME] [--threads=N] [--request-timeout=S] "
      "[--idle-timeout=S] [--max-header-bytes=N] [--max-body-bytes=N] [--grace=S]");
  // Flags are C names: --request-timeout is --request_timeout; -h is --help.
  std::vector<std::string> args(argv, argv + argc);
  std::vector<char*> argv2;
  for (std::string& a : args) {
    if (a == "-h") a = "--help";
    if (a.rfind("--", 0) == 0) {
      std::size_t end = std::min(a.find('='), a.size());
      std::replace(a.begin() + 2, a.begin() + static_cast<long>(end), '-', '_');
    }
    argv2.push_back(a.data());
  }
  const std::vector<char*> rest = picos::tools::parse_command_line(argc, argv2.data());
  if (rest.size() > 1) usage_error(absl::StrCat("unexpected argument '", rest[1], "'"));
  Config c;
  c.port = checked(absl::GetFlag(FLAGS_port), "port", 0, 65535);
  c.scheduler = absl::GetFlag(FLAGS_scheduler);
  if (!c.scheduler.empty() && !picos::tools::is_scheduler_name(c.scheduler)) {
    usage_error("--scheduler must be fifo, multififo, libevent, thread or randos, got '" +
                c.scheduler + "'");
  }
  c.threads = checked(absl::GetFlag(FLAGS_threads), "threads", 0, 1024);
  c.request_timeout =
      seconds(checked(absl::GetFlag(FLAGS_request_timeout), "request-timeout", 0.001, 86400.0));
  c.idle_timeout =
      seconds(checked(absl::GetFlag(FLAGS_idle_timeout), "idle-timeout", 0.001, 86400.0));
  c.max_header_bytes = static_cast<std::size_t>(
      checked(absl::GetFlag(FLAGS_max_header_bytes), "max-header-bytes", 256, 1 << 20));
  c.max_body_bytes = static_cast<std::uint64_t>(checked<std::int64_t>(
      absl::GetFlag(FLAGS_max_body_bytes), "max-body-bytes", 0, std::int64_t{1} << 30));
  c.grace = checked(absl::GetFlag(FLAGS_grace), "grace", 0.0, 86400.0);
  return c;
}

// ---- one connection ---------------------------------------------------------------------

// Thrown inside a connection when one of its deadlines passes (never escapes it).
struct TimedOut {};

// Waits until `fd` is readable (or writable) for at most `limit`; throws TimedOut past it.
// The fiber's own cancelation (the server's grace deadline) propagates as it is.
void await_within(int fd, bool write, std::chrono::nanoseconds limit) {
  bool timed_out = false;
  try {
    Control::terminate_after(limit, [&] {
      if (write) {
        io::await_writable(fd);
      } else {
        io::await_readable(fd);
      }
    });
  } catch (const Terminate&) {
    // Our deadline, unless the fiber itself is canceled (the server is cutting connections).
    if (picos::Fiber::current().is_canceled()) throw;
    timed_out = true;
  }
  if (timed_out) throw TimedOut{};
}

// The bytes read and not yet answered: [begin, end) of a buffer that grows only for a body.
class InputBuffer {
 public:
  explicit InputBuffer(std::size_t capacity) : data_(new char[capacity]), capacity_(capacity) {}

  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  // Room for `want` bytes in all (unanswered ones included) after end: moves the unanswered
  // bytes to the front and grows if needed. Returns the free space.
  std::size_t make_room(std::size_t want) {
    if (begin_ > 0 && capacity_ - end_ < want - size()) {
      std::memmove(data_.get(), data_.get() + begin_, size());
      end_ -= begin_;
      begin_ = 0;
    }
    if (capacity_ - begin_ < want) {
      std::unique_ptr<char[]> bigger(new char[want]);
      std::memcpy(bigger.get(), data_.get() + begin_, size());
      data_ = std::move(bigger);
      capacity_ = want;
      end_ -= begin_;
      begin_ = 0;
    }
    return capacity_ - end_;
  }
  char* free_begin() { return data_.get() + end_; }
  void commit(std::size_t n) { end_ += n; }

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_;
  std::size_t begin_ = 0, end_ = 0;
};

// One non-blocking recv; returns the bytes read, 0 at end of file, -1 if none are there yet.
// Throws std::system_error on an error.
ssize_t try_recv(int fd, char* buf, std::size_t n) {
  for (;;) {
    ssize_t r = ::recv(fd, buf, n, MSG_DONTWAIT);
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    throw std::system_error(errno, std::generic_category(), "http_server: recv");
  }
}

// Sends all of `out`, waiting at most `limit` each time the client's window is full.
void send_all(int fd, std::string_view out, std::chrono::nanoseconds limit) {
  while (!out.empty()) {
    ssize_t r = ::send(fd, out.data(), out.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r >= 0) {
      out.remove_prefix(static_cast<std::size_t>(r));
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      await_within(fd, /*write=*/true, limit);
    } else if (errno != EINTR) {
      throw std::system_error(errno, std::generic_category(), "http_server: send");
    }
  }
}

// After an error response: stop writing, then read and drop what the client still sends,
// for at most a second or 1 MiB, so that closing with unread bytes (which makes the kernel
// send a reset) does not destroy the response before the client reads it.
void linger(int fd) {
  ::shutdown(fd, SHUT_WR);
  char sink[4096];
  std::size_t drained = 0;
  const auto until = Clock::now() + std::chrono::seconds(1);
  while (drained < (1u << 20)) {
    ssize_t n = try_recv(fd, sink, sizeof sink);
    if (n == 0) return;
    if (n > 0) {
      drained += static_cast<std::size_t>(n);
      continue;
    }
    const auto left = until - Clock::now();
    if (left <= Clock::duration::zero()) return;
    try {
      await_within(fd, /*write=*/false, left);
    } catch (const TimedOut&) {
      return;  // the second is up: close anyway
    }
  }
}

enum class Ending { kClean, kClose, kError, kTimeout };

// One connection's state and loop. Its idle limit is lazy, as nginx's timers are: the loop
// runs in epochs, each one Control::terminate_after(2 x idle_timeout) around as many requests
// as come before idle_timeout has passed in the epoch; an idle wait that would begin later
// ends the epoch and opens the next. So a connection idle for idle_timeout is closed within
// another idle_timeout, and a busy one arms one timer per idle_timeout, not one per request.
// A request in progress has a deadline of its own (await_within, nested in the epoch).
class Connection {
 public:
  Connection(int fd, const Config& cfg, Stats& stats)
      : fd_(fd),
        cfg_(cfg),
        stats_(stats),
        in_(std::max<std::size_t>(cfg.max_header_bytes, 16384)),
        request_start_(Clock::now()) {
    out_.reserve(4096);
  }

  // Serves until the client closes, an error response closes, a deadline passes or an IO
  // error ends the connection. Returns how it ended (the errno in *err for kError).
  Ending serve(int* err) {
    try {
      for (;;) {
        std::optional<Ending> end;
        bool timed_out = false;
        try {
          const auto renew_at = Clock::now() + cfg_.idle_timeout;
          Control::terminate_after(2 * cfg_.idle_timeout, [&] { end = epoch(renew_at); });
        } catch (const Terminate&) {
          // The epoch's deadline, unless the fiber itself is canceled (the server is
          // cutting connections at its grace deadline).
          if (picos::Fiber::current().is_canceled()) throw;
          timed_out = true;
        }
        if (timed_out) throw TimedOut{};
        if (end) return *end;
      }
    } catch (const std::system_error& e) {
      if (!picos::tools::is_connection_error(e.code().value())) throw;
      *err = e.code().value();
      return Ending::kError;
    } catch (const TimedOut&) {
      // Best effort, never waiting: the client may not be reading.
      std::string timeout;
      http::append_error(timeout, 408);
      (void)::send(fd_, timeout.data(), timeout.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      return Ending::kTimeout;
    }
  }

 private:
  // Serves requests until the connection ends (returns how) or, idle after `renew_at`, the
  // epoch does (returns nullopt).
  std::optional<Ending> epoch(Clock::time_point renew_at) {
    for (;;) {
      // Answer every complete request the buffer holds; their responses go out in one send.
      bool close = false;
      std::size_t need = 0;  // bytes of the request in progress, when its head is complete
      while (!close && in_.size() > 0) {
        http::Request req;
        http::ParseStatus st = http::parse_request(in_.view(), cfg_.max_header_bytes, &req);
        if (st == http::ParseStatus::kIncomplete) break;
        if (st != http::ParseStatus::kComplete) {
          const int code = http::error_code(st);
          (code == 431 ? stats_.too_large : stats_.bad_requests)
              .fetch_add(1, std::memory_order_relaxed);
          http::append_error(out_, code);
          close = true;
          break;
        }
        if (req.content_length > cfg_.max_body_bytes) {
          stats_.too_large.fetch_add(1, std::memory_order_relaxed);
          http::append_error(out_, 413);
          close = true;
          break;
        }
        const std::size_t whole = req.head_bytes + static_cast<std::size_t>(req.content_length);
        if (in_.size() < whole) {
          need = whole;
          if (req.expect_continue && !continued_) out_.append(http::kContinue);
          continued_ = true;
          break;
        }
        std::string_view body = in_.view().substr(req.head_bytes, req.content_length);
        http::respond(req, body, stats_.requests.fetch_add(1, std::memory_order_relaxed) + 1, out_);
        in_.consume(whole);
        continued_ = false;
        request_start_ = Clock::now();  // the next request's bytes, if any, are here already
        between_requests_ = in_.size() == 0;
        close = !req.keep_alive;
      }
      if (!out_.empty()) {
        send_all(fd_, out_, cfg_.idle_timeout);
        out_.clear();
      }
      if (close) {
        linger(fd_);
        return Ending::kClose;
      }
      // Read more: the next request (within the epoch), or the rest of one within its
      // deadline (a new connection's first request: from the accept). Between requests
      // io::recv waits as long as it takes (the epoch's deadline bounds it): a client that
      // waits for its response has sent nothing more yet, and io::recv learns that
      // (io/read_hint.h): it waits before it reads, and on io_uring hands the ring the recv
      // itself, so the request arrives with no system call of ours.
      const std::size_t free = in_.make_room(need > 0 ? need : cfg_.max_header_bytes);
      for (bool wait = between_requests_;; wait = true) {
        ssize_t n;
        if (wait && between_requests_) {
          if (Clock::now() >= renew_at) return std::nullopt;
          n = io::recv(fd_, in_.free_begin(), free, 0);
        } else {
          if (wait) {
            const auto left = request_start_ + cfg_.request_timeout - Clock::now();
            if (left <= Clock::duration::zero()) throw TimedOut{};
            await_within(fd_, /*write=*/false, left);
          }
          n = try_recv(fd_, in_.free_begin(), free);
        }
        if (n == 0) return in_.size() == 0 ? Ending::kClean : Ending::kClose;
        if (n > 0) {
          if (between_requests_) request_start_ = Clock::now();
          between_requests_ = false;
          in_.commit(static_cast<std::size_t>(n));
          break;
        }
      }
    }
  }

  const int fd_;
  const Config& cfg_;
  Stats& stats_;
  InputBuffer in_;   // read and not yet answered
  std::string out_;  // responses not yet sent
  // When the request being read began (its first byte; a new connection's: the accept), and
  // whether the connection is idle between requests instead.
  Clock::time_point request_start_;
  bool between_requests_ = false;
  bool continued_ = false;  // 100 Continue sent (or not needed) for the request being read
};

// The connection fiber: serves `fd`, counts how it ended, closes it however the fiber ends
// (Terminate at the grace deadline included).
void connection(int fd, const Config& cfg, Stats& stats) {
  struct Count {
    Stats& stats;
    std::atomic<long>* counter = nullptr;
    ~Count() {
      if (counter) counter->fetch_add(1, std::memory_order_relaxed);
      stats.open.fetch_sub(1, std::memory_order_relaxed);
    }
  } count{stats};
  count.counter = &stats.cut;  // unless it returns
  FdGuard guard{fd};
  picos::tools::no_delay(fd);
  int err = 0;
  switch (Connection(fd, cfg, stats).serve(&err)) {
    case Ending::kClean:
    case Ending::kClose:
      count.counter = nullptr;
      break;
    case Ending::kTimeout:
      count.counter = &stats.timeouts;
      break;
    case Ending::kError:
      count.counter = picos::tools::is_reset(err) ? &stats.resets : &stats.errors;
      break;
  }
}

// ---- the server ------------------------------------------------------------------------

// Accepts until canceled, forking one connection fiber per client into `connections`.
// Failures of one pending connection skip it; out of descriptors (or memory) it pauses 10 ms,
// doubling up to 200 ms while that lasts; any other failure means the listener is broken and
// throws.
void accept_loop(int lfd, const Bundle& connections, const Config& cfg, Stats& stats) {
  std::chrono::milliseconds pause{0};
  for (;;) {
    const int fd = picos::tools::accept_one(lfd, stats, pause, "http_server");
    if (fd < 0) continue;
    std::exception_ptr failed;
    try {
      connections.fork([fd, &cfg, &stats] { connection(fd, cfg, stats); });
    } catch (...) {  // the scope has been terminated: the fiber never runs
      failed = std::current_exception();
    }
    if (failed) {
      io::close(fd);
      stats.open.fetch_sub(1, std::memory_order_relaxed);
      std::rethrow_exception(failed);
    }
  }
}

// Serves until SIGINT/SIGTERM arrives on `stop`; then closes the listener, gives the open
// connections cfg.grace seconds and prints the summary.
void serve(const Config& cfg, const std::string& scheduler, io::SignalSet& stop) {
  sockaddr_in addr{};
  FdGuard listener{picos::tools::listen_loopback(cfg.port, &addr)};
  std::printf("http server on 127.0.0.1:%d (scheduler %s); stop it with Ctrl-C or SIGTERM\n",
              ntohs(addr.sin_port), scheduler.c_str());
  std::fflush(stdout);
  Stats stats;
  picos::tools::serve_until_signal(
      "http_server", listener.fd, stop, cfg.grace,
      [&](const Bundle& connections) { accept_loop(listener.fd, connections, cfg, stats); },
      [&] { return stats.open.load(); });
  std::printf(
      "summary: %ld connections, %llu requests answered; %ld bad requests (400/501/505), %ld "
      "too large (431/413), %ld timeouts (408), %ld resets, %ld other errors, %ld cut at the "
      "grace deadline, %ld aborted before accept, %ld accept pauses out of descriptors\n",
      stats.accepted.load(), static_cast<unsigned long long>(stats.requests.load()),
      stats.bad_requests.load(), stats.too_large.load(), stats.timeouts.load(), stats.resets.load(),
      stats.errors.load(), stats.cut.load(), stats.aborted.load(), stats.fd_pauses.load());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = parse_flags(argc, argv);
  picos::tools::raise_fd_limit();
  try {
    // Before any thread exists (the schedulers' workers, the default reactor's thread): every
    // thread inherits the blocked mask, so SIGINT/SIGTERM stay pending for the signalfd.
    io::SignalSet stop({SIGINT, SIGTERM});
    const std::string name = picos::tools::scheduler_name(cfg.scheduler);
    picos::tools::run_on(name, cfg.threads,
                         [&] { serve(cfg, picos::tools::display_name(name, cfg.threads), stop); });
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_server: error: %s\n", e.what());
    return 1;
  }
}
