// The HTTP/1.1 request parser: framing, limits and refusals, in every split of the bytes.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "qwen-server/http/message.hpp"
#include "qwen-server/http/request_parser.hpp"

using namespace qwenedge::server::http;

namespace {

struct Outcome {
  std::vector<Request> requests;
  int status = 0;  // of the error, 0 when none
  std::string message;
  bool pending = false;  // a request begun and not finished
};

// Feeds `bytes` in pieces of `step` (0: all at once) and takes every request that completes.
Outcome parse(const std::string& bytes, size_t step = 0, ParserLimits limits = {}) {
  RequestParser p(limits);
  Outcome out;
  const size_t n = step == 0 ? bytes.size() : step;
  for (size_t i = 0; i < bytes.size() && !p.failed(); i += n) {
    p.feed(std::string_view(bytes).substr(i, n));
    while (p.done()) {
      out.requests.push_back(p.take());
      p.feed({});
    }
  }
  if (p.failed()) {
    out.status = p.error().status;
    out.message = p.error().message;
  }
  out.pending = !p.failed() && p.started();
  return out;
}

const std::string kGet = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

std::string post(const std::string& body) {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

TEST_CASE("http parser: a request in every split of its bytes gives the same request") {
  const std::string chunked =
      "POST /v1/completions?x=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer-A: 1\r\n\r\n";
  for (const std::string& bytes : {kGet, post("{\"a\": 1}"), chunked, "\r\n\r\n" + kGet}) {
    const Outcome whole = parse(bytes);
    REQUIRE(whole.status == 0);
    REQUIRE(whole.requests.size() == 1);
    for (size_t step = 1; step <= 7; ++step) {
      const Outcome split = parse(bytes, step);
      REQUIRE(split.requests.size() == 1);
      CHECK(split.requests[0].target == whole.requests[0].target);
      CHECK(split.requests[0].body == whole.requests[0].body);
      CHECK(split.requests[0].headers.size() == whole.requests[0].headers.size());
    }
  }
  const Request r = parse(chunked).requests.at(0);
  CHECK(r.method == "POST");
  CHECK(r.path == "/v1/completions");
  CHECK(r.target == "/v1/completions?x=1");
  CHECK(r.body == "hello, world");
  CHECK(r.header("transfer-encoding") != nullptr);
}

TEST_CASE("http parser: pipelined requests come out one by one, in order") {
  const Outcome o = parse(kGet + post("{}") + kGet + "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", 3);
  REQUIRE(o.requests.size() == 4);
  CHECK(o.requests[1].body == "{}");
  CHECK(o.requests[3].path == "/metrics");
  CHECK_FALSE(o.pending);
}

TEST_CASE("http parser: lines may end in a bare LF, and header values are trimmed") {
  const Outcome o = parse("GET / HTTP/1.1\nHost:  h \t\nX-Empty:\n\n");
  REQUIRE(o.requests.size() == 1);
  CHECK(*o.requests[0].header("host") == "h");
  CHECK(o.requests[0].header("X-Empty")->empty());
}

TEST_CASE("http parser: keep-alive follows the version and the Connection header") {
  CHECK(parse(kGet).requests.at(0).keep_alive);
  CHECK_FALSE(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").requests.at(0).keep_alive);
  CHECK_FALSE(parse("GET / HTTP/1.0\r\n\r\n").requests.at(0).keep_alive);
  CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").requests.at(0).keep_alive);
}

TEST_CASE("http parser: limits on the head are enforced even when it never ends") {
  ParserLimits limits;
  limits.max_line = 100;
  limits.max_head = 1000;
  limits.max_headers = 10;
  CHECK(parse("GET /" + std::string(200, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", 0, limits).status == 414);
  CHECK(parse("GET /" + std::string(200, 'a'), 7, limits).status == 414);  // no end of line yet
  CHECK(parse("GET / HTTP/1.1\r\nX: " + std::string(2000, 'a'), 13, limits).status == 431);
  std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 9; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(parse(many + "\r\n", 0, limits).requests.size() == 1);  // exactly 10 fields
  const Outcome o = parse(many + "X-last: v\r\n\r\n", 0, limits);
  CHECK(o.status == 431);
  CHECK(o.message.find("10 header fields") != std::string::npos);
  std::string endless = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 20000; ++i) endless += "X: v\r\n";
  CHECK(parse(endless, 4096).status == 431);
}

TEST_CASE("http parser: bodies beyond max_body are refused, chunked ones too") {
  ParserLimits limits;
  limits.max_body = 1000;
  CHECK(parse(post(std::string(1000, 'x')), 0, limits).requests.size() == 1);
  // Refused from the head alone, before any of the body.
  CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n", 0, limits).status == 413);
  CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 0, limits).status == 413);
  std::string chunks = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 30; ++i) chunks += "40\r\n" + std::string(64, 'y') + "\r\n";
  const Outcome o = parse(chunks + "0\r\n\r\n", 100, limits);
  CHECK(o.status == 413);
  CHECK(o.message.find("1000 bytes") != std::string::npos);
  CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n", 0, limits).status == 413);
}

TEST_CASE("http parser: ambiguous or unsupported framing is refused") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\n";
  CHECK(parse(head + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}").status == 400);
  CHECK(parse(head + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}").status == 400);
  CHECK(parse(head + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n").status == 400);
  CHECK(parse(head + "Transfer-Encoding: gzip, chunked\r\n\r\n").status == 501);
  for (const char* bad : {"-1", "+2", "2 2", "0x10", "", "2,2"}) {
    INFO(bad);
    CHECK(parse(head + "Content-Length: " + bad + "\r\n\r\n").status == 400);
  }
  CHECK(parse(head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n").status == 400);
  CHECK(parse(head + "Transfer-Encoding: chunked\r\n\r\n2\r\nabXY").status == 400);  // no CR LF after the data
}

TEST_CASE("http parser: malformed heads are refused with the status that names the problem") {
  CHECK(parse("GET / HTTP/2.0\r\nHost: h\r\n\r\n").status == 505);
  CHECK(parse("GET / FTP/1.0\r\n\r\n").status == 400);
  CHECK(parse("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n").status == 400);
  CHECK(parse("GET nothing HTTP/1.1\r\nHost: h\r\n\r\n").status == 400);
  CHECK(parse("G(T / HTTP/1.1\r\nHost: h\r\n\r\n").status == 400);
  CHECK(parse("GET / HTTP/1.1\r\n\r\n").status == 400);                        // no Host
  CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").status == 400);  // two
  CHECK(parse("GET / HTTP/1.0\r\n\r\n").status == 0);                          // 1.0 needs none
  CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n").status == 400);
  CHECK(parse("GET / HTTP/1.1\r\nHost : h\r\n\r\n").status == 400);
  CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX: a" + std::string(1, '\0') + "b\r\n\r\n").status == 400);
  CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n").status == 417);
  // Untrusted text in a message is shortened and made printable.
  const Outcome o = parse("GET / HTTP/3\x01" + std::string(500, 'z') + "\r\nHost: h\r\n\r\n");
  CHECK(o.status == 505);
  CHECK(o.message.size() < 200);
  CHECK(o.message.find('\x01') == std::string::npos);
}

TEST_CASE("http parser: Expect: 100-continue is reported until the body has come") {
  RequestParser p(ParserLimits{});
  p.feed("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  CHECK(p.head_done());
  CHECK(p.expects_continue());
  p.feed("{}");
  REQUIRE(p.done());
  CHECK_FALSE(p.expects_continue());
  CHECK(p.take().body == "{}");
}

TEST_CASE("http parser: nothing is kept of a refused request") {
  RequestParser p(ParserLimits{});
  p.feed("GET / HTTP/9.9\r\nHost: h\r\n\r\n");
  REQUIRE(p.failed());
  for (int i = 0; i < 100; ++i) p.feed(std::string(1 << 16, 'x'));  // dropped, not buffered
  CHECK(p.failed());
  CHECK(p.error().status == 505);
}

TEST_CASE("http messages: a response's head and chunks") {
  Response r(404, "{}", "application/json");
  r.set("content-type", "text/plain");  // replaces, whatever the case
  const std::string head = head_bytes(r, true, r.body.size());
  CHECK(head == "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
  CHECK(head_bytes(r, false, std::nullopt).find("Transfer-Encoding: chunked\r\nConnection: close") != std::string::npos);
  CHECK(head_bytes(r, false, std::nullopt, false).find("Transfer-Encoding") == std::string::npos);
  CHECK(chunk_bytes("hello") == "5\r\nhello\r\n");
  CHECK(chunk_bytes("") == "0\r\n\r\n");
}
