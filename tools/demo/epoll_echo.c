/* Copyright 2026 The Picos for C++ Authors.
 *
 * tools/demo/epoll_echo.c — the machine's practical limit for the echo demo: the same work
 * (a loopback TCP echo server and N clients doing R round trips of 64 bytes each, every byte
 * checked, all in one process) as a plain single-threaded epoll loop in C, with no fibers,
 * no scheduler and no allocation per message. Compare its round trips/s with
 * `tools/demo --clients=N --rounds=R`.
 *
 *   bazel run -c opt //tools/demo:epoll_echo -- [--clients=N] [--rounds=R]
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kMsg = 64 };

/* One endpoint: a client (sends, expects its bytes back) or a server-side connection (echoes). */
struct End {
  int fd;
  int is_client;
  long rounds_left;
  char buf[kMsg];
  int have; /* bytes received of the current message */
  int sent; /* bytes of the current message written (client) / echoed (server) */
  unsigned char seq;
};

static void die(const char* what) {
  fprintf(stderr, "epoll_echo: %s: %s\n", what, strerror(errno));
  exit(1);
}

static long parse(const char* arg, const char* name, long lo, long hi) {
  char* end;
  long v = strtol(arg, &end, 10);
  if (*arg == '\0' || *end != '\0' || v < lo || v > hi) {
    fprintf(stderr, "epoll_echo: %s must be an integer in [%ld, %ld], got '%s'\n", name, lo, hi,
            arg);
    exit(2);
  }
  return v;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void fill(struct End* e) {
  for (int i = 0; i < kMsg; ++i) e->buf[i] = (char)(e->seq + i);
}

/* Writes what is left of the current message; returns 0 when it is all out. */
static int flush(struct End* e) {
  while (e->sent < kMsg) {
    ssize_t n = send(e->fd, e->buf + e->sent, (size_t)(kMsg - e->sent), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) return 1;
      if (errno == EINTR) continue;
      die("send");
    }
    e->sent += (int)n;
  }
  return 0;
}

int main(int argc, char** argv) {
  long clients = 100, rounds = 10000;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "--clients=", 10) == 0) {
      clients = parse(argv[i] + 10, "--clients", 1, 100000);
    } else if (strncmp(argv[i], "--rounds=", 9) == 0) {
      rounds = parse(argv[i] + 9, "--rounds", 1, 100000000);
    } else {
      fprintf(stderr, "usage: epoll_echo [--clients=N] [--rounds=R]\n");
      return 2;
    }
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
  }
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) die("socket");
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, (struct sockaddr*)&addr, sizeof addr) < 0) die("bind");
  if (listen(listener, 4096) < 0) die("listen");
  if (getsockname(listener, (struct sockaddr*)&addr, &len) < 0) die("getsockname");

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct End* ends = calloc((size_t)(2 * clients), sizeof *ends);
  if (ends == NULL) die("calloc");
  /* Connect every client, accept its server side (backlog 4096 covers the loop). */
  for (long i = 0; i < clients; ++i) {
    struct End* c = &ends[2 * i];
    struct End* s = &ends[2 * i + 1];
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket (client)");
    if (connect(c->fd, (struct sockaddr*)&addr, sizeof addr) < 0) die("connect");
    s->fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (s->fd < 0) die("accept4");
    if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0) die("fcntl");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->is_client = 1;
    c->rounds_left = rounds;
    s->sent = kMsg; /* nothing to echo yet */
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
    ev.data.ptr = s;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) < 0) die("epoll_ctl");
  }
  double start = now();
  for (long i = 0; i < clients; ++i) { /* every client sends its first message */
    struct End* c = &ends[2 * i];
    fill(c);
    if (flush(c) != 0) {
      fprintf(stderr, "epoll_echo: a 64-byte send did not fit an empty socket buffer\n");
      return 1;
    }
  }
  long done = 0;
  struct epoll_event events[256];
  while (done < clients) {
    int n = epoll_wait(ep, events, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int k = 0; k < n; ++k) {
      struct End* e = events[k].data.ptr;
      for (;;) {
        char in[kMsg];
        ssize_t r = recv(e->fd, in, (size_t)(kMsg - e->have), 0);
        if (r < 0) {
          if (errno == EAGAIN) break;
          if (errno == EINTR) continue;
          die("recv");
        }
        if (r == 0) break; /* not expected: every end stays open until the end */
        if (e->is_client) {
          if (memcmp(in, e->buf + e->have, (size_t)r) != 0) {
            fprintf(stderr, "epoll_echo: an echoed byte differs\n");
            return 1;
          }
          e->have += (int)r;
          if (e->have == kMsg) { /* a round trip */
            e->have = 0;
            if (--e->rounds_left == 0) {
              ++done;
              break;
            }
            ++e->seq;
            fill(e);
            e->sent = 0;
            if (flush(e) != 0) die("send would block (64 bytes)");
          }
        } else {
          memcpy(e->buf + e->have, in, (size_t)r);
          e->have += (int)r;
          if (e->have == kMsg) {
            e->have = 0;
            e->sent = 0;
            if (flush(e) != 0) die("send would block (64 bytes)");
          }
        }
      }
    }
  }
  double elapsed = now() - start;
  double total = (double)clients * (double)rounds;
  printf(
      "plain C epoll loop, 1 thread: %ld connections x %ld round trips of %d bytes: "
      "%.0f round trips/s (%.3f s)\n",
      clients, rounds, kMsg, total / elapsed, elapsed);
  for (long i = 0; i < 2 * clients; ++i) close(ends[i].fd);
  close(listener);
  close(ep);
  free(ends);
  return 0;
}
