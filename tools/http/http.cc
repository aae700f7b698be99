// Copyright 2026 The Picos for C++ Authors.
//
// tools/http/http.cc — request parsing and responses of the example HTTP server (http.h).

#include "tools/http/http.h"

#include <time.h>

#include <array>
#include <charconv>

namespace picos::tools::http {
namespace {

constexpr std::string_view kCrlf = "\r\n";
constexpr std::string_view kHeadEnd = "\r\n\r\n";

// tchar of RFC 9110 (token characters), as a table.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool is_tchar(unsigned char c) { return kTchar[c]; }

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// A field value's characters: visible ASCII, obs-text, SP and HTAB (no other controls).
bool is_field_value(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// A request target: no controls, no spaces, not empty.
bool is_target(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Applies the tokens of one Connection header to `close` / `keep_alive`.
void connection_tokens(std::string_view value, bool* close, bool* keep_alive) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view token = trim(value.substr(0, comma));
    if (iequals(token, "close")) *close = true;
    if (iequals(token, "keep-alive")) *keep_alive = true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// The Date header's value for now, formatted once per second per thread (IMF-fixdate).
std::string_view http_date() {
  thread_local time_t cached_second = -1;
  thread_local char cached[40];
  thread_local std::size_t cached_len = 0;
  time_t now = ::time(nullptr);
  if (now != cached_second) {
    tm t{};
    ::gmtime_r(&now, &t);
    cached_len = ::strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &t);
    cached_second = now;
  }
  return {cached, cached_len};
}

// The whole keep-alive response to `GET /` of HTTP/1.1, the hot path, kept per thread and
// rebuilt when the Date changes (once a second).
std::string_view hello_response();

void append_number(std::string& out, std::uint64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  out.append(digits, static_cast<std::size_t>(end - digits));
}

}  // namespace

ParseStatus parse_request(std::string_view data, std::size_t max_head_bytes, Request* req) {
  std::size_t end = data.substr(0, max_head_bytes).find(kHeadEnd);
  if (end == std::string_view::npos) {
    // Leading bytes that cannot start a request line fail now, not at the limit.
    if (!data.empty() && !is_tchar(static_cast<unsigned char>(data[0]))) {
      return ParseStatus::kBadRequest;
    }
    return data.size() >= max_head_bytes ? ParseStatus::kHeaderTooLarge : ParseStatus::kIncomplete;
  }
  const std::size_t head_bytes = end + kHeadEnd.size();
  std::string_view head = data.substr(0, end + kCrlf.size());  // every line with its CRLF

  // The request line.
  std::size_t eol = head.find(kCrlf);
  std::string_view line = head.substr(0, eol);
  head.remove_prefix(eol + kCrlf.size());
  std::size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return ParseStatus::kBadRequest;
  std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return ParseStatus::kBadRequest;
  Request r;
  r.method = line.substr(0, sp1);
  r.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(r.method) || !is_target(r.target)) return ParseStatus::kBadRequest;
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9') {
    return ParseStatus::kBadRequest;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    return ParseStatus::kVersionNotSupported;
  }
  r.minor_version = version[7] - '0';

  // The header fields.
  bool close = false, keep_alive = false, has_length = false, transfer_encoding = false;
  int hosts = 0;
  while (!head.empty()) {
    eol = head.find(kCrlf);
    line = head.substr(0, eol);
    head.remove_prefix(eol + kCrlf.size());
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return ParseStatus::kBadRequest;
    std::string_view name = line.substr(0, colon);  // obs-fold and " :" are not tokens
    std::string_view value = trim(line.substr(colon + 1));
    if (!is_token(name) || !is_field_value(value)) return ParseStatus::kBadRequest;
    if (iequals(name, "content-length")) {
      std::uint64_t n = 0;
      if (value.empty() || value.size() > 18) return ParseStatus::kBadRequest;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || p != value.data() + value.size()) return ParseStatus::kBadRequest;
      if (has_length && n != r.content_length) return ParseStatus::kBadRequest;
      r.content_length = n;
      has_length = true;
    } else if (iequals(name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (iequals(name, "connection")) {
      connection_tokens(value, &close, &keep_alive);
    } else if (iequals(name, "host")) {
      ++hosts;
    } else if (iequals(name, "expect")) {
      if (!iequals(value, "100-continue")) return ParseStatus::kBadRequest;
      r.expect_continue = true;
    }
  }
  if (r.minor_version == 1 && hosts != 1) return ParseStatus::kBadRequest;
  if (hosts > 1) return ParseStatus::kBadRequest;
  if (transfer_encoding) return ParseStatus::kNotImplemented;
  r.keep_alive = r.minor_version == 1 ? !close : keep_alive && !close;
  r.head_bytes = head_bytes;
  *req = r;
  return ParseStatus::kComplete;
}

int error_code(ParseStatus status) {
  switch (status) {
    case ParseStatus::kBadRequest:
      return 400;
    case ParseStatus::kHeaderTooLarge:
      return 431;
    case ParseStatus::kNotImplemented:
      return 501;
    case ParseStatus::kVersionNotSupported:
      return 505;
    case ParseStatus::kComplete:
    case ParseStatus::kIncomplete:
      break;
  }
  return 0;
}

std::string_view reason_phrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void append_response(std::string& out, int code, std::string_view content_type,
                     std::string_view body, bool close, int minor_version, bool head_only,
                     std::string_view extra) {
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<std::uint64_t>(code));
  out.push_back(' ');
  out.append(reason_phrase(code));
  out.append("\r\nServer: picos-http\r\nDate: ");
  out.append(http_date());
  out.append("\r\nContent-Type: ");
  out.append(content_type);
  out.append("\r\nContent-Length: ");
  append_number(out, body.size());
  out.append(kCrlf);
  if (close) {
    out.append("Connection: close\r\n");
  } else if (minor_version == 0) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append(extra);
  out.append(kCrlf);
  if (!head_only) out.append(body);
}

namespace {

std::string_view hello_response() {
  thread_local time_t built_second = -1;
  thread_local std::string response;
  time_t now = ::time(nullptr);
  if (now != built_second) {
    response.clear();
    append_response(response, 200, "text/plain", "Hello, world!", /*close=*/false);
    built_second = now;
  }
  return response;
}

}  // namespace

void append_error(std::string& out, int code) {
  std::string body(reason_phrase(code));
  body.push_back('\n');
  append_response(out, code, "text/plain", body, /*close=*/true);
}

void respond(const Request& req, std::string_view body, std::uint64_t count, std::string& out) {
  std::string_view path = req.target.substr(0, req.target.find('?'));
  const bool close = !req.keep_alive;
  const bool get = req.method == "GET", head = req.method == "HEAD";
  if (path == "/") {
    if (get && !close && req.minor_version == 1) {
      out.append(hello_response());
    } else if (get || head) {
      append_response(out, 200, "text/plain", "Hello, world!", close, req.minor_version, head);
    } else {
      append_response(out, 405, "text/plain", "Method Not Allowed\n", close, req.minor_version,
                      false, "Allow: GET, HEAD\r\n");
    }
  } else if (path == "/echo") {
    if (req.method == "POST") {
      append_response(out, 200, "application/octet-stream", body, close, req.minor_version);
    } else {
      append_response(out, 405, "text/plain", "Method Not Allowed\n", close, req.minor_version,
                      head, "Allow: POST\r\n");
    }
  } else if (path == "/count") {
    if (get || head) {
      char digits[24];
      auto [end, ec] = std::to_chars(digits, digits + sizeof digits, count);
      *end++ = '\n';
      append_response(out, 200, "text/plain",
                      std::string_view(digits, static_cast<std::size_t>(end - digits)), close,
                      req.minor_version, head);
    } else {
      append_response(out, 405, "text/plain", "Method Not Allowed\n", close, req.minor_version,
                      false, "Allow: GET, HEAD\r\n");
    }
  } else {
    append_response(out, 404, "text/plain", "Not Found\n", close, req.minor_version, head);
  }
}

}  // namespace picos::tools::http
