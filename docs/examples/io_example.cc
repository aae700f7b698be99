// docs/io.md's example: a tiny echo over a socketpair on //mux/fifo. One fiber echoes what
// it reads until end of file; the main fiber sends three lines and reads them back.
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "io/io.h"
#include "mux/fifo/fifo.h"
#include "picos/picos.h"

int main() {
  std::string echoed = picos::mux::fifo::run([] {
    int sv[2];
    picos::io::socketpair(AF_UNIX, SOCK_STREAM, 0, sv);  // non-blocking, close-on-exec

    picos::Computation<void> server;
    picos::Fiber::spawn(picos::Fiber::create(server), [server, fd = sv[1]] {
      server.capture([fd] {
        char buf[512];
        while (ssize_t n = picos::io::read(fd, buf, sizeof buf)) {  // 0: end of file
          picos::io::write_all(fd, buf, static_cast<std::size_t>(n));
        }
        picos::io::close(fd);
      });
    });

    std::string got;
    for (const char* line : {"one\n", "two\n", "three\n"}) {
      picos::io::write_all(sv[0], line, std::strlen(line));
      char buf[16];
      std::size_t n = picos::io::read_full(sv[0], buf, std::strlen(line));  // waits, not blocks
      got.append(buf, n);
    }
    picos::io::shutdown(sv[0], SHUT_WR);  // the server sees end of file and finishes
    server.await();
    picos::io::close(sv[0]);
    return got;
  });
  return echoed == "one\ntwo\nthree\n" ? 0 : 1;
}
