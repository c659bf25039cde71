// HTTP/1.1 messages as the server sees them: a request parsed off the wire, a response to write.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qwenedge::server::http {

struct Header {
  std::string name;  // as sent; compared without regard to case
  std::string value; // leading and trailing whitespace removed
};

struct Request {
  std::string method;   // "GET", "POST", … (case-sensitive, as RFC 9110 says)
  std::string target;   // as sent: "/v1/models?x=1"
  std::string path;     // target up to '?'
  int minor = 1;        // HTTP/1.minor
  std::vector<Header> headers;
  std::string body;     // Content-Length or chunked, decoded
  std::string remote;   // "address:port" of the client
  bool keep_alive = true;  // by version and Connection header

  // The first header of that name, or null.
  const std::string* header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;  // Content-Length, Connection and Transfer-Encoding are added when written
  std::string body;

  Response() = default;
  Response(int status_, std::string body_, std::string_view content_type);
  void set(std::string_view name, std::string value);  // replaces a header of that name
  const std::string* header(std::string_view name) const;
};

bool iequals(std::string_view a, std::string_view b);
const char* reason_phrase(int status);

// The status line and headers. With `content_length` the body follows as is; without it the
// body is sent in chunks (Transfer-Encoding: chunked), or, not `chunked` (an HTTP/1.0 client),
// runs to the end of the connection.
std::string head_bytes(const Response& r, bool keep_alive, std::optional<size_t> content_length, bool chunked = true);
// One chunk of a chunked body ("" ends the body).
std::string chunk_bytes(std::string_view data);

}  // namespace qwenedge::server::http
