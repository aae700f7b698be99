// Copyright 2026 The Picos for C++ Authors.
//
// docs/debugging.md's example, compiled and run as a test so the page stays true: two fibers
// deadlock on two mutexes, a third waits on a pipe; the dump names what each waits for and
// reports the cycle. Then the deadlock is broken by canceling one fiber.

#include <cstdio>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "io/io.h"
#include "mux/fifo/fifo.h"
#include "picos/debug.h"
#include "picos/picos.h"
#include "std/sync/mutex.h"

int run() {
  return picos::mux::fifo::run([] {
    picos::sync::Mutex a, b;
    int fds[2];
    picos::io::pipe(fds);
    picos::Computation<void> first, second, reader;
    auto spawn = [](const char* name, picos::Computation<void> c, auto fn) {
      picos::FiberRef f = picos::Fiber::create(c);
      f->set_name(name);
      picos::Fiber::spawn(f, [c, fn] { c.capture(fn); });
    };
    spawn("first", first, [&] {
      a.lock();
      picos::Fiber::yield();  // let `second` take b
      try {
        b.lock();
      } catch (...) {
        a.unlock();
        throw;
      }
      b.unlock();
      a.unlock();
    });
    spawn("second", second, [&] {
      b.lock();
      picos::Fiber::yield();
      a.lock();
      a.unlock();
      b.unlock();
    });
    spawn("reader", reader, [&] {
      char c;
      (void)picos::io::read(fds[0], &c, 1);
    });
    for (int i = 0; i < 4; ++i) picos::Fiber::yield();  // everyone reaches its wait

    std::ostringstream out;
    picos::debug::dump(out);
    std::cout << out.str();
    const bool found = out.str().find("deadlock: fiber") != std::string::npos;

    first.cancel(std::make_exception_ptr(std::runtime_error("broken by hand")));
    picos::io::write_all(fds[1], "x", 1);
    second.await();
    reader.await();
    picos::io::close(fds[0]);
    picos::io::close(fds[1]);
    return found ? 0 : 1;
  });
}

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "debug_example: %s\n", e.what());
    return 1;
  }
}
