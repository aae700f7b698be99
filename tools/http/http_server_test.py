# Copyright 2026 The Picos for C++ Authors.
"""The real //tools/http:http_server against real clients, on one scheduler (--scheduler).

Starts the server with --port=0 (the kernel picks the port; the server prints it), a short
--request-timeout and --idle-timeout, and drives it over loopback:

  curl_get            curl: GET / is 200 "Hello, world!" (13 bytes)
  curl_keep_alive     curl: two URLs in one invocation share one connection (curl's verbose
                      "Re-using existing connection"; the server counts one accept)
  curl_post           curl: a 100 KiB POST body to /echo comes back byte for byte; with
                      `Expect: 100-continue` the server answers 100 Continue first
  pipelined           three requests in one send: three responses, in order
  malformed           a malformed request: 400, then the server closes
  oversized_header    a 16 KiB header field: 431, then the server closes
  body_too_large      a Content-Length over --max-body-bytes: 413, then the server closes
  slow_header         half a header, then silence: the server closes it (408) after the
                      request timeout while another connection is served meanwhile
  idle_keep_alive     a keep-alive connection left idle is closed after the idle timeout
                      (lazily: within one more idle timeout)
  reset_mid_request   clients that reset halfway through a head or a body

After each scenario the server must be alive, answer GET /, and its descriptor count
(/proc/PID/fd) must settle back to what it was before (nothing leaks). At the end SIGTERM
must stop it with exit status 0 (a sanitizer report makes it nonzero) and its summary must
count the 400, 431, timeouts and resets. Bounds are generous on purpose (loaded machine,
sanitizers): they only turn a hang into a failure; the checks are on what happened, not on
how fast.
"""

import argparse
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from server_harness import (Failure, ServerProcess, check, log, run_scenarios,  # noqa: E402
                            verdict, connect as harness_connect)

BOUND = 20.0  # seconds any single expected event may take before the test fails
REQUEST_TIMEOUT = 1.0  # --request-timeout of the server under test
IDLE_TIMEOUT = 2.0  # --idle-timeout
MAX_BODY = 1 << 20  # --max-body-bytes


def start_server(binary, scheduler, threads):
    args = [binary, "--port=0", "--scheduler=" + scheduler,
            "--request-timeout=%g" % REQUEST_TIMEOUT, "--idle-timeout=%g" % IDLE_TIMEOUT,
            "--max-body-bytes=%d" % MAX_BODY, "--grace=1"]
    if scheduler == "multififo":
        args.append("--threads=%d" % threads)
    return ServerProcess(args, r"http server on 127\.0\.0\.1:(\d+)")


def connect(port, timeout=BOUND):
    return harness_connect(port, timeout)


class Reader:
    """Reads HTTP/1.1 responses (Content-Length bodies) from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        b = self.sock.recv(65536)
        if not b:
            raise Failure("end of file in the middle of a response: %r" % self.buf[:200])
        self.buf += b

    def response(self):
        """(status, headers dict with lower-case names, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3}) ", lines[0])
        check(m, "not a status line: %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(m.group(1)), headers, body

    def at_eof(self):
        """True if the peer closed (end of file or reset) with nothing more sent."""
        try:
            b = self.buf or self.sock.recv(65536)
        except ConnectionResetError:
            return True
        return b == b""


def get(port, path="/"):
    with connect(port) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path).encode())
        r = Reader(s)
        status, headers, body = r.response()
        check(headers.get("connection") == "close", "no Connection: close: %r" % headers)
        check(r.at_eof(), "the connection stays open after Connection: close")
        return status, body


def count(port):
    status, body = get(port, "/count")
    check(status == 200, "/count: status %d" % status)
    return int(body)


def settle_fds(server, baseline, what):
    server.settle_fds(baseline, what, BOUND)


def curl(*args):
    p = subprocess.run(["curl", "--silent", "--show-error", "--max-time", str(BOUND)] +
                       list(args), capture_output=True, timeout=BOUND + 10)
    check(p.returncode == 0, "curl %s: exit %d: %s" % (args, p.returncode, p.stderr.decode()))
    return p.stdout, p.stderr.decode("latin-1")


# ---- scenarios ---------------------------------------------------------------------------


def curl_get(server):
    out, _ = curl("--include", "http://127.0.0.1:%d/" % server.port)
    head, _, body = out.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200 OK\r\n"), "status: %r" % head[:40])
    check(b"\r\nContent-Length: 13" in head, "no Content-Length 13: %r" % head)
    check(body == b"Hello, world!", "body: %r" % body)


def curl_keep_alive(server):
    before = count(server.port)
    url = "http://127.0.0.1:%d" % server.port
    out, err = curl("--verbose", url + "/", url + "/count")
    check("Re-using existing connection" in err, "curl did not reuse the connection:\n" + err)
    check(err.count("Connected to 127.0.0.1") == 1, "curl connected more than once:\n" + err)
    check(out.startswith(b"Hello, world!"), "first body: %r" % out[:40])
    # /count says this server answered `before` (the count request itself), then "/", then
    # the second URL: before + 2.
    check(out[len(b"Hello, world!"):] == b"%d\n" % (before + 2), "second body: %r" % out)


def curl_post(server):
    body = bytes((i * 7 + 3) & 0xFF for i in range(100 * 1024))
    p = subprocess.run(["curl", "--silent", "--show-error", "--max-time", str(BOUND),
                        "--data-binary", "@-", "-H", "Content-Type: application/octet-stream",
                        "http://127.0.0.1:%d/echo" % server.port],
                       input=body, capture_output=True, timeout=BOUND + 10)
    check(p.returncode == 0, "curl: exit %d: %s" % (p.returncode, p.stderr.decode()))
    check(p.stdout == body, "the echo differs: %d bytes back of %d" % (len(p.stdout), len(body)))
    # With `Expect: 100-continue` the server says 100 Continue before curl sends the body.
    out, err = curl("--verbose", "-H", "Expect: 100-continue", "--data-binary", "expected",
                    "http://127.0.0.1:%d/echo" % server.port)
    check("< HTTP/1.1 100 Continue" in err, "no 100 Continue:\n" + err)
    check(out == b"expected", "the echo differs: %r" % out)


def pipelined(server):
    reqs = (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /count HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n")
    with connect(server.port) as s:
        s.sendall(reqs)  # one send: the server finds all four in its buffer
        r = Reader(s)
        got = [r.response() for _ in range(4)]
        check(got[0][0] == 200 and got[0][2] == b"Hello, world!", "1st: %r" % (got[0],))
        check(got[1][0] == 200 and got[1][2] == b"hello", "2nd: %r" % (got[1],))
        check(got[2][0] == 200 and re.fullmatch(rb"\d+\n", got[2][2]), "3rd: %r" % (got[2],))
        check(got[3][0] == 404, "4th: %r" % (got[3],))
        # Still open (keep-alive): one more request on it.
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        check(r.response()[2] == b"Hello, world!", "no response after the pipelined ones")


def error_then_close(server, data, code):
    with connect(server.port) as s:
        s.sendall(data)
        r = Reader(s)
        status, headers, _ = r.response()
        check(status == code, "status %d, expected %d" % (status, code))
        check(headers.get("connection") == "close", "no Connection: close: %r" % headers)
        check(r.at_eof(), "the connection stays open after %d" % code)


def malformed(server):
    error_then_close(server, b"GET / HTTP/1.1\r\nHost t\r\n\r\n", 400)
    error_then_close(server, b"HELLO\r\n\r\n", 400)
    # The good request after a bad one on the same connection is never answered.
    error_then_close(server, b"GET /\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", 400)


def oversized_header(server):
    error_then_close(server, b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"x" * 16384 +
                     b"\r\n\r\n", 431)


def body_too_large(server):
    error_then_close(server, b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
                     % (MAX_BODY + 1), 413)


def slow_header(server):
    t0 = time.monotonic()
    slow = connect(server.port)  # its request deadline runs from here
    slow.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nX-Half: ")  # and nothing more
    closed = threading.Event()
    result = []

    def wait_close():
        r = Reader(slow)
        try:
            result.append(r.response()[0])
            result.append(r.at_eof())
        except Exception as e:  # noqa: BLE001 - reported below
            result.append(e)
        closed.set()

    t = threading.Thread(target=wait_close)
    t.start()
    # Another connection is served while the slow one is pending: several keep-alive
    # requests, done before the slow one is closed (its timeout is REQUEST_TIMEOUT away).
    with connect(server.port) as s:
        r = Reader(s)
        for _ in range(3):
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            check(r.response()[2] == b"Hello, world!", "the other connection is not served")
    served_while_pending = not closed.is_set()
    served_within = time.monotonic() - t0 < REQUEST_TIMEOUT
    t.join(BOUND)
    check(not t.is_alive(), "the slow client was not closed within %.0f s" % BOUND)
    check(result[:2] == [408, True], "the slow client got %r, expected a 408 and the close"
          % result)
    # Served before the slow one's deadline: it must still have been open then (a machine
    # too loaded to serve three requests within REQUEST_TIMEOUT proves nothing either way).
    check(served_while_pending or not served_within,
          "the slow connection was closed before its deadline")
    if not served_within:
        print("    (the other connection took longer than the request timeout: not checked "
              "that it was served while the slow one was open)", flush=True)
    slow.close()
    # A connection that sends nothing at all is closed after the request timeout as well.
    with connect(server.port) as silent:
        r = Reader(silent)
        check(r.response()[0] == 408 and r.at_eof(), "a silent new connection stays open")


def idle_keep_alive(server):
    with connect(server.port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        r = Reader(s)
        check(r.response()[0] == 200, "no first response")
        # Idle now: closed after IDLE_TIMEOUT (a 408 first, best effort).
        status = r.response()[0]
        check(status == 408 and r.at_eof(), "an idle keep-alive connection stays open")


def reset(s):
    """Closes `s` with SO_LINGER 0: the kernel sends RST instead of FIN."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def reset_mid_request(server):
    for i in range(10):
        s = connect(server.port)
        if i % 2:
            s.sendall(b"GET / HTTP/1.1\r\nHo")
        else:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n" +
                      b"b" * 5000)
        time.sleep(0.05)  # the server has read what was sent and waits for the rest
        reset(s)
    check(get(server.port)[1] == b"Hello, world!", "not served after the resets")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--scheduler", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    server = start_server(args.server, args.scheduler, args.threads)
    failures = []
    try:
        get(server.port)  # warm up: reactors, workers, the default reactor thread
        baseline = server.idle_fd_count(BOUND)
        log("server pid %d on port %d (%s), %d descriptors"
            % (server.pid, server.port, args.scheduler, baseline))

        def run_one(scenario):
            scenario(server)
            check(server.alive(), "the server died")
            status, body = get(server.port)
            check(status == 200 and body == b"Hello, world!", "GET / fails afterwards")
            settle_fds(server, baseline, scenario.__name__)

        run_scenarios([curl_get, curl_keep_alive, curl_post, pipelined, malformed,
                       oversized_header, body_too_large, slow_header, idle_keep_alive,
                       reset_mid_request], run_one, failures, stop=lambda: not server.alive())
        if server.alive():
            rc, _ = server.stop(BOUND + 10)
            log("server stopped: exit %d" % rc)
            if rc != 0:
                failures.append("exit status %d" % rc)
            out = server.stdout()
            m = re.search(r"summary: (\d+) connections, (\d+) requests answered; (\d+) bad "
                          r"requests.*?, (\d+) too large.*?, (\d+) timeouts.*?, (\d+) resets",
                          out)
            if not m:
                failures.append("no summary")
            else:
                log(m.group(0))
                bad, large, timeouts, resets = (int(m.group(i)) for i in (3, 4, 5, 6))
                if bad < 3 or large < 2 or timeouts < 3 or resets < 1:
                    failures.append("the summary misses errors: " + m.group(0))
        else:
            failures.append("the server died (exit %s)" % server.proc.returncode)
    finally:
        server.kill()
    return verdict(failures, server.stderr(), "the server")


if __name__ == "__main__":
    sys.exit(main())
