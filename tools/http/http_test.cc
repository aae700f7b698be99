// Copyright 2026 The Picos for C++ Authors.
//
// tools/http/http_test.cc — the example server's protocol without IO (http.h): what
// parse_request accepts, rejects and waits for, and the responses the routes write.

#include "tools/http/http.h"

#include <string>
#include <string_view>

#include "gtest/gtest.h"

namespace picos::tools::http {
namespace {

constexpr std::size_t kMax = 8192;

ParseStatus parse(std::string_view data, Request* req = nullptr) {
  Request r;
  return parse_request(data, kMax, req ? req : &r);
}

TEST(ParseRequestTest, ParsesAGetInPlace) {
  const std::string data = "GET /count?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\nGET /";
  Request req;
  ASSERT_EQ(parse(data, &req), ParseStatus::kComplete);
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/count?x=1");
  EXPECT_EQ(req.minor_version, 1);
  EXPECT_EQ(req.content_length, 0u);
  EXPECT_TRUE(req.keep_alive);
  EXPECT_EQ(req.head_bytes, data.find("GET /", 1));
  EXPECT_EQ(req.method.data(), data.data());  // a view into the buffer
}

TEST(ParseRequestTest, WaitsForTheBlankLine) {
  EXPECT_EQ(parse(""), ParseStatus::kIncomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n"), ParseStatus::kIncomplete);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r"), ParseStatus::kIncomplete);
}

TEST(ParseRequestTest, ReadsContentLengthAndConnection) {
  Request req;
  ASSERT_EQ(parse("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length:  12 \r\n"
                  "Connection: foo, Close\r\n\r\n",
                  &req),
            ParseStatus::kComplete);
  EXPECT_EQ(req.content_length, 12u);
  EXPECT_FALSE(req.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\n\r\n", &req), ParseStatus::kComplete);
  EXPECT_FALSE(req.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req),
            ParseStatus::kComplete);
  EXPECT_TRUE(req.keep_alive);
  EXPECT_EQ(req.minor_version, 0);
}

TEST(ParseRequestTest, RejectsMalformedRequests) {
  for (std::string_view bad : {
           "GARBAGE\r\n\r\n",
           "GET /\r\n\r\n",
           "GET / HTTP/1.1\r\n\r\n",                        // no Host
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
           "GET / HTTP/1.1\r\nHost a\r\n\r\n",              // no colon
           "GET / HTTP/1.1\r\nHost : a\r\n\r\n",            // space before the colon
           "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",  // obs-fold
           "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n",
           "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
           "G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET / HTTQ/1.1\r\nHost: a\r\n\r\n",
       }) {
    EXPECT_EQ(parse(bad), ParseStatus::kBadRequest) << bad;
  }
  // Bytes that cannot begin a request fail before the blank line.
  EXPECT_EQ(parse("\x16\x03\x01"), ParseStatus::kBadRequest);
}

TEST(ParseRequestTest, OtherVersionsAndTransferEncoding) {
  EXPECT_EQ(parse("GET / HTTP/2.0\r\n\r\n"), ParseStatus::kVersionNotSupported);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
            ParseStatus::kNotImplemented);
  EXPECT_EQ(error_code(ParseStatus::kNotImplemented), 501);
  EXPECT_EQ(error_code(ParseStatus::kVersionNotSupported), 505);
}

TEST(ParseRequestTest, HeadsOverTheLimitAreTooLarge) {
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(kMax, 'x');
  EXPECT_EQ(parse(big), ParseStatus::kHeaderTooLarge);
  EXPECT_EQ(parse(big + "\r\n\r\n"), ParseStatus::kHeaderTooLarge);
  EXPECT_EQ(error_code(ParseStatus::kHeaderTooLarge), 431);
  // Exactly at the limit is fine.
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  head += std::string(kMax - head.size() - 4, 'x') + "\r\n\r\n";
  ASSERT_EQ(head.size(), kMax);
  EXPECT_EQ(parse(head), ParseStatus::kComplete);
}

Request parsed(std::string_view data) {
  Request req;
  EXPECT_EQ(parse_request(data, kMax, &req), ParseStatus::kComplete) << data;
  return req;
}

TEST(RespondTest, RootSaysHelloInThirteenBytes) {
  std::string out;
  respond(parsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "", 1, out);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nContent-Length: 13\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("Connection:"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 17), "\r\n\r\nHello, world!");
}

TEST(RespondTest, HeadHasTheLengthButNoBody) {
  std::string out;
  respond(parsed("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), "", 1, out);
  EXPECT_NE(out.find("\r\nContent-Length: 13\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(RespondTest, EchoCountAndErrors) {
  std::string out;
  respond(parsed("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n"), "abc", 1, out);
  EXPECT_EQ(out.substr(out.size() - 7), "\r\n\r\nabc");
  out.clear();
  respond(parsed("GET /count HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), "", 42, out);
  EXPECT_NE(out.find("Connection: keep-alive\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 7), "\r\n\r\n42\n");
  out.clear();
  respond(parsed("GET /nothing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), "", 1, out);
  EXPECT_EQ(out.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
  out.clear();
  respond(parsed("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n"), "", 1, out);
  EXPECT_EQ(out.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Allow: GET, HEAD\r\n"), std::string::npos) << out;
  out.clear();
  append_error(out, 431);
  EXPECT_EQ(out.rfind("HTTP/1.1 431 Request Header Fields Too Large\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace picos::tools::http
