# Copyright 2026 The Picos for C++ Authors.
"""What the real-client tests of the tools' servers share (tools/demo/demo_server_test.py,
tools/http/http_server_test.py): the server as a child process whose output is collected and
whose port is read from it, its descriptor and CPU accounting from /proc, and the scenario
loop with its verdict.

Each test's .py puts this file's directory on sys.path (it is in the sh_test's data, so it
lies at tools/common/ in the runfiles as in the source tree).
"""

import os
import re
import signal
import socket
import subprocess
import threading
import time
import traceback


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


class ServerProcess:
    """A server binary started with `args`; stdout and stderr are collected by two threads,
    and the port is the first match of `port_pattern` (one group) on either."""

    def __init__(self, args, port_pattern, preexec_fn=None):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=preexec_fn, text=True)
        self.pid = self.proc.pid
        self.out, self.err = [], []
        self.port = None
        self._pattern = re.compile(port_pattern)
        self._port_seen = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(s, l), daemon=True)
                         for s, l in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._threads:
            t.start()
        if not self._port_seen.wait(30) or self.port is None:
            self.kill()
            raise Failure("the server printed no port within 30 s; stderr:\n" + self.stderr())

    def _read(self, stream, lines):
        for line in stream:
            lines.append(line)
            m = self._pattern.search(line)
            if m and self.port is None:
                self.port = int(m.group(1))
                self._port_seen.set()
        self._port_seen.set()  # end of output: stop waiting

    def stdout(self):
        return "".join(self.out)

    def stderr(self):
        return "".join(self.err)

    def alive(self):
        return self.proc.poll() is None

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def socket_count(self):
        n = 0
        for fd in os.listdir("/proc/%d/fd" % self.pid):
            try:
                n += os.readlink("/proc/%d/fd/%s" % (self.pid, fd)).startswith("socket:")
            except FileNotFoundError:
                pass  # closed meanwhile
        return n

    def idle_fd_count(self, timeout):
        """The descriptor count once the listener is the only socket left (the last
        connection's handler may still be closing when its client is done)."""
        deadline = time.monotonic() + timeout
        while self.socket_count() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        check(self.socket_count() == 1, "connections stay open on an idle server")
        return self.fd_count()

    def settle_fds(self, baseline, what, timeout):
        """Waits up to `timeout` for the descriptor count to come back to `baseline`."""
        deadline = time.monotonic() + timeout
        n = self.fd_count()
        while n != baseline and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.fd_count()
        check(n == baseline, "%s: the server holds %d descriptors, %d before" % (what, n, baseline))

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3): utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout):
        """SIGTERM; returns (exit status, seconds it took)."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise Failure("the server did not exit within %.0f s of SIGTERM" % timeout)
        self.join_output()
        return rc, time.monotonic() - t0

    def join_output(self):
        """After the process has exited: waits for the rest of its output to be collected."""
        for t in self._threads:
            t.join(10)

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


def connect(port, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def log(msg):
    print(msg, flush=True)


def run_scenarios(scenarios, run_one, failures, stop=lambda: False):
    """Runs each scenario through `run_one(scenario)`, logging "ok" or "FAIL" with the time it
    took and the traceback; a failed scenario's name goes to `failures`, and after a failure
    the loop ends if `stop()` says so (e.g. the server died)."""
    for scenario in scenarios:
        t0 = time.monotonic()
        try:
            run_one(scenario)
            log("ok   %-20s %.2f s" % (scenario.__name__, time.monotonic() - t0))
        except Exception as e:  # noqa: BLE001 - collected, reported by verdict()
            failures.append(scenario.__name__)
            log("FAIL %-20s %s" % (scenario.__name__, e))
            traceback.print_exc()
            if stop():
                break


def verdict(failures, stderr, what):
    """Prints the server's stderr if anything failed or a sanitizer reported, then FAILED or
    PASSED; returns the exit status of the test."""
    if failures or "Sanitizer" in stderr:
        print("---- %s's stderr ----\n%s" % (what, stderr), flush=True)
    if "Sanitizer" in stderr:
        failures.append("sanitizer report")
    if failures:
        print("FAILED: " + ", ".join(failures), flush=True)
        return 1
    print("PASSED", flush=True)
    return 0
