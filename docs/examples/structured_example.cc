// The examples of docs/structured.md, compiled and run as a test so the doc stays true:
// the seed's echo server shape written with Flock (connections simulated by channels, since
// there is no IO library yet), then Run::any and Control::terminate_after.
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"
#include "std/structured/structured.h"
#include "std/sync/channel.h"

using namespace std::chrono_literals;
using picos::structured::Control;
using picos::structured::Flock;
using picos::structured::Run;
using picos::structured::Terminate;

// A simulated connection: the client sends requests on `in`, the server answers on `out`.
struct Connection {
  picos::sync::Channel<int> in{1}, out{1};
};

// The server: accept connections until the listener closes, forking one handler per
// connection. Flock::join_after returns only when every handler has finished; if a handler
// fails, the others are terminated and the error comes out here.
void run_server(picos::sync::Channel<std::shared_ptr<Connection>>& listener) {
  Flock::join_after([&] {
    while (std::optional<std::shared_ptr<Connection>> client = listener.receive()) {
      Flock::fork([conn = *client] {  // the handler owns its connection
        while (std::optional<int> request = conn->in.receive()) conn->out.send(*request);  // echo
        conn->out.close();
      });
    }
  });
}

// An exception escaping main ends the example through std::terminate, with its message.
int main() {  // NOLINT(bugprone-exception-escape)
  int ok = picos::mux::fifo::run([] {
    int echoed = 0;
    picos::sync::Channel<std::shared_ptr<Connection>> listener(0);
    Flock::join_after([&] {
      Flock::fork([&] { run_server(listener); });
      for (int c = 0; c < 3; ++c) {  // three clients, one after the other
        auto conn = std::make_shared<Connection>();
        listener.send(conn);
        for (int i = 0; i < 5; ++i) {
          conn->in.send(i);
          if (conn->out.receive() == i) ++echoed;
        }
        conn->in.close();
      }
      listener.close();  // the server loop ends; its flock joins the handlers
    });

    // Run::any: the first action to return wins and the others are terminated.
    int winner = 0;
    Run::any(
        [&] {
          Control::sleep(50ms);
          winner = 1;
        },
        [&] {
          Control::sleep(1ms);
          winner = 2;
        });

    // Control::terminate_after: a deadline on a blocking operation.
    bool timed_out = false;
    picos::sync::Channel<int> never(0);
    try {
      Control::terminate_after(5ms, [&] { return never.receive(); });
    } catch (const Terminate&) {
      timed_out = true;
    }
    return echoed == 15 && winner == 2 && timed_out;
  });
  return ok ? 0 : 1;
}
