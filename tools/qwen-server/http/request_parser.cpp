#include "qwen-server/http/request_parser.hpp"

#include <algorithm>
#include <charconv>

namespace qwenedge::server::http {
namespace {

constexpr size_t kMaxChunkLine = 1024;  // a chunk size with its extensions

// RFC 9110 tchar: the characters of a method or a field name.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool alnum = (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Quotes untrusted text in an error message: printable ASCII only, at most 64 bytes.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    out += u >= 0x20 && u < 0x7f ? s[i] : '?';
  }
  return out + (s.size() > 64 ? "…'" : "'");
}

bool has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void RequestParser::fail(int status, std::string message) {
  state_ = State::kError;
  error_ = {status, std::move(message)};
}

void RequestParser::feed(std::string_view bytes) {
  if (state_ == State::kError) return;
  if (state_ == State::kDone) {
    buf_ += bytes;  // the next request's, for after take() (the caller stops reading meanwhile)
    return;
  }
  buf_ += bytes;
  parse();
  // Drop what is parsed: a long body never sits in the buffer twice.
  if (state_ != State::kDone && pos_ > 0) {
    buf_.erase(0, pos_);
    scan_ -= std::min(scan_, pos_);
    line_ -= std::min(line_, pos_);
    pos_ = 0;
  }
}

void RequestParser::parse() {
  if (state_ == State::kHead) parse_head_bytes();
  if (state_ == State::kBody) {
    const size_t n = std::min(remaining_, buf_.size() - pos_);
    req_.body.append(buf_, pos_, n);
    pos_ += n;
    remaining_ -= n;
    if (remaining_ == 0) state_ = State::kDone;
  }
  if (state_ == State::kChunkSize || state_ == State::kChunkData || state_ == State::kChunkEnd ||
      state_ == State::kTrailer) {
    parse_chunks();
  }
}

// Finds the empty line that ends the head, enforcing the limits on the way (also on a head
// that never ends).
void RequestParser::parse_head_bytes() {
  for (;;) {
    const size_t nl = buf_.find('\n', scan_);
    if (lines_ == 0) {
      // Empty lines before a request are ignored (RFC 9112 section 2.2).
      if (nl == pos_ || (nl == pos_ + 1 && buf_[pos_] == '\r')) {
        pos_ = scan_ = line_ = nl + 1;
        continue;
      }
      const size_t line = (nl == std::string::npos ? buf_.size() : nl) - pos_;
      if (line > limits_.max_line) return fail(414, "the request line is longer than " + std::to_string(limits_.max_line) + " bytes");
    }
    const size_t end = nl == std::string::npos ? buf_.size() : nl + 1;
    if (end - pos_ > limits_.max_head) {
      return fail(431, "the request's header fields are larger than " + std::to_string(limits_.max_head) + " bytes");
    }
    if (nl == std::string::npos) {
      scan_ = buf_.size();
      return;
    }
    const size_t line_start = line_;
    scan_ = line_ = nl + 1;
    const bool empty = nl == line_start || (nl == line_start + 1 && buf_[line_start] == '\r');
    if (empty) {
      if (!parse_head(std::string_view(buf_).substr(pos_, line_start - pos_))) return;
      pos_ = scan_;
      return;
    }
    if (++lines_ > limits_.max_headers + 1) {  // the request line and max_headers fields
      return fail(431, "the request has more than " + std::to_string(limits_.max_headers) + " header fields");
    }
  }
}

bool RequestParser::parse_head(std::string_view head) {
  req_ = Request{};
  bool first = true;
  while (!head.empty()) {
    const size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first ? !parse_request_line(line) : !parse_header(line)) return false;
    first = false;
  }
  return body_framing();
}

bool RequestParser::parse_request_line(std::string_view line) {
  const size_t a = line.find(' ');
  const size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
  if (b == std::string_view::npos || line.find(' ', b + 1) != std::string_view::npos) {
    fail(400, "the request line is not 'METHOD TARGET HTTP/1.1': " + quoted(line));
    return false;
  }
  const std::string_view method = line.substr(0, a), target = line.substr(a + 1, b - a - 1), version = line.substr(b + 1);
  if (!is_token(method)) {
    fail(400, "bad method " + quoted(method));
    return false;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.starts_with("HTTP/")) fail(505, "HTTP version " + quoted(version) + " is not supported (only 1.0 and 1.1)");
    else fail(400, "bad HTTP version " + quoted(version));
    return false;
  }
  const bool printable = std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (target.empty() || !printable || (target[0] != '/' && target != "*")) {
    fail(400, "bad request target " + quoted(target) + " (expected a path such as /v1/models)");
    return false;
  }
  req_.method = method;
  req_.target = target;
  req_.path = target.substr(0, target.find('?'));
  req_.minor = version.back() - '0';
  return true;
}

bool RequestParser::parse_header(std::string_view line) {
  if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
    fail(400, "a header field is folded over lines (obsolete, refused)");
    return false;
  }
  const size_t colon = line.find(':');
  const std::string_view name = line.substr(0, colon);
  if (colon == std::string_view::npos || !is_token(name)) {
    fail(400, "bad header field " + quoted(line));
    return false;
  }
  const std::string_view value = trim(line.substr(colon + 1));
  if (std::any_of(value.begin(), value.end(), [](char c) { return c == '\0' || c == '\r' || c == '\n'; })) {
    fail(400, "header field " + quoted(name) + " holds a control character");
    return false;
  }
  req_.headers.push_back({std::string(name), std::string(value)});
  return true;
}

// How long the body is (RFC 9112 section 6), and the rest of what the head decides.
bool RequestParser::body_framing() {
  size_t lengths = 0, encodings = 0, hosts = 0;
  const std::string *length = nullptr, *encoding = nullptr;
  for (const Header& h : req_.headers) {
    if (iequals(h.name, "Content-Length")) ++lengths, length = &h.value;
    if (iequals(h.name, "Transfer-Encoding")) ++encodings, encoding = &h.value;
    if (iequals(h.name, "Host")) ++hosts;
  }
  if (req_.minor == 1 && hosts != 1) {
    fail(400, hosts == 0 ? "the request has no Host header (HTTP/1.1 needs one)" : "the request has more than one Host header");
    return false;
  }
  const std::string* connection = req_.header("Connection");
  req_.keep_alive = req_.minor == 1 ? !(connection && has_token(*connection, "close"))
                                    : connection && has_token(*connection, "keep-alive");
  if (const std::string* expect = req_.header("Expect")) {
    if (!iequals(*expect, "100-continue")) {
      fail(417, "unsupported expectation " + quoted(*expect));
      return false;
    }
    continue_ = true;
  }
  if (lengths > 1) {
    fail(400, "the request has more than one Content-Length header");
    return false;
  }
  if (encodings > 0) {
    if (lengths > 0) {
      fail(400, "the request has both Content-Length and Transfer-Encoding");
      return false;
    }
    if (encodings > 1 || !iequals(*encoding, "chunked")) {
      fail(501, "Transfer-Encoding " + quoted(*encoding) + " is not supported (only chunked)");
      return false;
    }
    state_ = State::kChunkSize;
    return true;
  }
  remaining_ = 0;
  if (length) {
    const char* end = length->data() + length->size();
    const auto [p, ec] = std::from_chars(length->data(), end, remaining_);
    if (length->empty() || (*length)[0] == '+' || (*length)[0] == '-' || (ec != std::errc{} && ec != std::errc::result_out_of_range) || p != end) {
      fail(400, "bad Content-Length " + quoted(*length));
      return false;
    }
    if (ec == std::errc::result_out_of_range || remaining_ > limits_.max_body) {
      fail(413, "the request body is larger than this server's limit of " + std::to_string(limits_.max_body) + " bytes");
      return false;
    }
  }
  state_ = remaining_ > 0 ? State::kBody : State::kDone;
  return true;
}

bool RequestParser::next_line(std::string_view& line) {
  const size_t nl = buf_.find('\n', pos_);
  if (nl == std::string::npos) return false;
  line = std::string_view(buf_).substr(pos_, nl - pos_);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  pos_ = nl + 1;
  return true;
}

void RequestParser::parse_chunks() {
  for (;;) {
    std::string_view line;
    switch (state_) {
      case State::kChunkSize: {
        if (!next_line(line)) {
          if (buf_.size() - pos_ > kMaxChunkLine) return fail(400, "a chunk size line is longer than 1024 bytes");
          return;
        }
        line = trim(line.substr(0, line.find(';')));  // chunk extensions are ignored
        size_t size = 0;
        const auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (line.empty() || p != line.data() + line.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
          return fail(400, "bad chunk size " + quoted(line));
        }
        if (ec == std::errc::result_out_of_range || size > limits_.max_body - req_.body.size()) {
          return fail(413, "the request body is larger than this server's limit of " + std::to_string(limits_.max_body) + " bytes");
        }
        remaining_ = size;
        state_ = size == 0 ? State::kTrailer : State::kChunkData;
        break;
      }
      case State::kChunkData: {
        const size_t n = std::min(remaining_, buf_.size() - pos_);
        req_.body.append(buf_, pos_, n);
        pos_ += n;
        remaining_ -= n;
        if (remaining_ > 0) return;
        state_ = State::kChunkEnd;
        break;
      }
      case State::kChunkEnd:
        if (buf_.size() - pos_ < 2 && !(buf_.size() > pos_ && buf_[pos_] == '\n')) return;
        if (buf_[pos_] == '\n') pos_ += 1;
        else if (buf_.compare(pos_, 2, "\r\n") == 0) pos_ += 2;
        else return fail(400, "a chunk does not end with CR LF");
        state_ = State::kChunkSize;
        break;
      case State::kTrailer:
        if (!next_line(line)) {
          if (trailer_bytes_ + buf_.size() - pos_ > limits_.max_head) return fail(431, "the request's trailer fields are too large");
          return;
        }
        if (line.empty()) {
          state_ = State::kDone;
          return;
        }
        trailer_bytes_ += line.size() + 2;
        if (++trailers_ > limits_.max_headers || trailer_bytes_ > limits_.max_head) {
          return fail(431, "the request's trailer fields are too large");
        }
        break;  // trailer fields are read and dropped
      default: return;
    }
  }
}

Request RequestParser::take() {
  Request r = std::move(req_);
  req_ = Request{};
  buf_.erase(0, pos_);
  pos_ = scan_ = line_ = lines_ = 0;
  remaining_ = trailer_bytes_ = trailers_ = 0;
  continue_ = false;
  state_ = State::kHead;
  return r;
}

}  // namespace qwenedge::server::http
