// The Stream and Lazy examples of docs/sync.md, compiled and run as a test so the doc stays
// true: a producer pushes numbers into a stream, two readers each see all of them in order,
// and a lazily computed limit is computed once although both readers force it.
#include <exception>
#include <stdexcept>
#include <utility>

#include "mux/fifo/fifo.h"
#include "picos/picos.h"
#include "std/sync/lazy.h"
#include "std/sync/stream.h"

int main() {
  int result = picos::mux::fifo::run([] {
    int computed = 0;
    picos::sync::Lazy<int> limit([&] {
      ++computed;  // runs once, on the first fiber that forces it
      return 5;
    });

    picos::sync::Stream<int> numbers;
    // Tap before pushing: a cursor sees only the values pushed after it was taken.
    auto sum_of = [limit](picos::sync::Stream<int>::Cursor c) {
      int sum = 0;
      try {
        for (;;) {
          auto [value, next] = c.read();             // suspends this fiber until a value is there
          if (value <= limit.force()) sum += value;  // the first force computes it
          c = std::move(next);
        }
      } catch (const std::out_of_range&) {  // the poison: the end of the stream
      }
      return sum;
    };
    picos::Computation<int> reader1, reader2;
    picos::Fiber::spawn(picos::Fiber::create(reader1),
                        [=, c = numbers.tap()] { reader1.capture([&] { return sum_of(c); }); });
    picos::Fiber::spawn(picos::Fiber::create(reader2),
                        [=, c = numbers.tap()] { reader2.capture([&] { return sum_of(c); }); });

    for (int i = 1; i <= 10; ++i) numbers.push(i);
    numbers.poison(std::make_exception_ptr(std::out_of_range("end of numbers")));

    int total = reader1.await() + reader2.await();  // (1 + ... + 5) twice
    return total == 30 && computed == 1 ? 0 : 1;
  });
  return result;
}
