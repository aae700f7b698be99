// The first program of README.md, compiled and run as a test so the README stays true.
#include "mux/fifo/fifo.h"
#include "picos/picos.h"

int main() {
  int answer = picos::mux::fifo::run([] {
    picos::Computation<int> result;
    picos::Fiber::spawn(picos::Fiber::create(result),
                        [result] { result.capture([] { return 42; }); });
    return result.await();  // suspends this fiber, not the thread
  });
  return answer == 42 ? 0 : 1;
}
