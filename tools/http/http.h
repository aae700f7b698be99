// Copyright 2026 The Picos for C++ Authors.
//
// tools/http/http.h — the HTTP/1.1 protocol of the example server (//tools/http:http_server),
// with no IO in it: parsing one request head in place, and writing responses, including the
// server's routes. The server's connection fiber reads into a buffer, calls parse_request on
// what it holds, and appends the answers to every complete request in the buffer to one
// output string (pipelined requests get their responses in one write).
//
// What is understood: a request line `METHOD SP target SP HTTP/1.0|1.1 CRLF`, header fields
// `name: value CRLF` (no obs-fold, no whitespace before the colon), the blank line; a body
// only by Content-Length (Transfer-Encoding is answered 501 and the connection closed); the
// Connection header's `close` and `keep-alive`; `Expect: 100-continue`; Host is required in
// HTTP/1.1. Lines end in CRLF. Anything else is a malformed request (400). Header sections longer
// than the limit are 431. Every parse is linear in the bytes given and allocates nothing; a
// Request's views point into the caller's buffer.
//
// The routes (respond): `GET|HEAD /` -> 200 "Hello, world!" (13 bytes, text/plain, as the
// nginx peer of tools/bench/http_vs_nginx.sh); `POST /echo` -> 200 with the request's body;
// `GET|HEAD /count` -> 200 with the number of requests the server has answered, this one
// included; another method on those paths -> 405; any other path -> 404.

#ifndef PICOS_TOOLS_HTTP_HTTP_H_
#define PICOS_TOOLS_HTTP_HTTP_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace picos::tools::http {

// A parsed request head. The views point into the buffer given to parse_request.
struct Request {
  std::string_view method;
  std::string_view target;  // as sent (origin form, query included)
  int minor_version = 1;    // HTTP/1.<minor_version>
  std::uint64_t content_length = 0;
  bool keep_alive = true;        // the connection may carry another request after this one
  bool expect_continue = false;  // `Expect: 100-continue`: the client waits for kContinue
  std::size_t head_bytes = 0;    // request line, header fields and the blank line
};

enum class ParseStatus {
  kComplete,             // the head is complete; its body (content_length bytes) follows
  kIncomplete,           // a prefix of a head within the limit: read more
  kBadRequest,           // 400: malformed
  kHeaderTooLarge,       // 431: no end of head within max_head_bytes
  kNotImplemented,       // 501: Transfer-Encoding (chunked request bodies are not supported)
  kVersionNotSupported,  // 505: a well-formed request line of an HTTP other than 1.0 / 1.1
};

// Parses the head of the request that starts at `data[0]`. `max_head_bytes` bounds the head,
// blank line included. Fills `*req` only on kComplete.
ParseStatus parse_request(std::string_view data, std::size_t max_head_bytes, Request* req);

// The interim response a client that sent `Expect: 100-continue` waits for before its body.
inline constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// The status code an error status is answered with (400, 431, 501, 505); 0 for kComplete
// and kIncomplete.
int error_code(ParseStatus status);

// Appends a whole response to `out`: status line, Server, Date, Content-Type, Content-Length,
// `Connection: close` when `close` (`Connection: keep-alive` for an HTTP/1.0 request that
// keeps it, `minor_version` 0), the blank line and, unless `head_only`, `body`. `extra`: more
// header lines, each ending in CRLF (or empty).
void append_response(std::string& out, int code, std::string_view content_type,
                     std::string_view body, bool close, int minor_version = 1,
                     bool head_only = false, std::string_view extra = {});

// Appends the error response for `code` (400, 408, 413, 431, 501, 505...): a short text/plain
// body naming the status, and `Connection: close`.
void append_error(std::string& out, int code);

// Appends the response to the complete request `req`, whose body is `body`, to `out`
// (the routes above). `count`: requests answered so far, this one included (/count's body).
// The response says `Connection: close` iff !req.keep_alive.
void respond(const Request& req, std::string_view body, std::uint64_t count, std::string& out);

// The reason phrase of `code` ("OK", "Not Found"...; "Unknown" for codes not used here).
std::string_view reason_phrase(int code);

}  // namespace picos::tools::http

#endif  // PICOS_TOOLS_HTTP_HTTP_H_
