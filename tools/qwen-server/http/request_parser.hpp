// An incremental HTTP/1.1 request parser (RFC 9112) with hard limits: bytes come in as they
// arrive, in any split, and at most one request is held at a time. Nothing in a request can make
// it keep more than max_head + max_body bytes (plus one read) or recurse.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "qwen-server/http/message.hpp"

namespace qwenedge::server::http {

struct ParserLimits {
  size_t max_line = 8 << 10;     // the request line; 414 beyond
  size_t max_head = 32 << 10;    // request line and header fields (and trailers), bytes; 431 beyond
  size_t max_headers = 100;      // header fields (and trailer fields); 431 beyond
  size_t max_body = 4 << 20;     // the body as decoded, Content-Length or chunked; 413 beyond
};

struct ParseError {
  int status = 0;  // 400, 413, 414, 417, 431, 501 or 505
  std::string message;
};

class RequestParser {
 public:
  explicit RequestParser(const ParserLimits& limits) : limits_(limits) {}

  // Appends bytes and parses as far as they go. An empty `bytes` parses what is buffered
  // (the next pipelined request after take()).
  void feed(std::string_view bytes);

  bool started() const { return state_ != State::kHead || pos_ < buf_.size(); }  // a request began
  bool head_done() const { return state_ != State::kHead && state_ != State::kError; }
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  const ParseError& error() const { return error_; }
  // The request so far: its head once head_done(), its body too once done().
  const Request& request() const { return req_; }
  // The client waits for "100 Continue" before it sends the body.
  bool expects_continue() const { return continue_ && state_ != State::kDone; }

  // The finished request; the parser moves on to the next one, keeping the bytes after it.
  Request take();

 private:
  enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailer, kDone, kError };

  void parse();
  void parse_head_bytes();
  bool parse_head(std::string_view head);
  bool parse_request_line(std::string_view line);
  bool parse_header(std::string_view line);
  bool body_framing();
  bool next_line(std::string_view& line);  // a whole line at pos_ (without CR LF), if buffered
  void parse_chunks();
  void fail(int status, std::string message);

  ParserLimits limits_;
  std::string buf_;
  size_t pos_ = 0;    // the first byte not yet parsed
  size_t scan_ = 0;   // where the search for the end of the head goes on
  size_t line_ = 0;   // where the head's current line starts
  size_t lines_ = 0;  // lines of the head seen
  State state_ = State::kHead;
  Request req_;
  size_t remaining_ = 0;    // bytes left of the body or of the current chunk
  size_t trailer_bytes_ = 0, trailers_ = 0;
  bool continue_ = false;
  ParseError error_;
};

}  // namespace qwenedge::server::http
