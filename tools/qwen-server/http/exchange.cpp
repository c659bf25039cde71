#include "qwen-server/http/exchange.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace qwenedge::server::http {

Exchange::Exchange(int fd, Request request, std::chrono::milliseconds send_timeout, const std::atomic<bool>& draining)
    : fd_(fd), request_(std::move(request)), send_timeout_(send_timeout), draining_(draining) {}

bool Exchange::peer_gone() {
  constexpr std::chrono::milliseconds kResetWait{100};  // for the reset a closed socket sends back
  if (failed_) return true;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;  // reset, or closed both ways
  if (half_closed_) return false;
  char c = 0;
  const ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) return false;
  if (n < 0) return true;
  // The end of the client's stream: it closed, or it only stopped sending. HTTP/1.1 lets any
  // number of 1xx responses come before the answer, and a closed socket answers one with a
  // reset; an HTTP/1.0 client may get none, so its end of stream is taken as gone.
  if (request_.minor == 0) return true;
  const auto now = std::chrono::steady_clock::now();
  if (probed_ == std::chrono::steady_clock::time_point{}) {
    probed_ = now;
    return !send_all("HTTP/1.1 100 Continue\r\n\r\n");
  }
  if (now - probed_ >= kResetWait) half_closed_ = true;  // no reset came: it waits for the answer
  return false;
}

bool Exchange::send_all(std::string_view data) {
  const int timeout_ms = static_cast<int>(send_timeout_.count());
  while (!failed_ && !data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // Waits for room; a client that reads nothing for the whole timeout is dropped.
      pollfd p{fd_, POLLOUT, 0};
      const int r = poll(&p, 1, timeout_ms);
      if (r <= 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL))) failed_ = true;
    } else {
      failed_ = true;
    }
  }
  return !failed_;
}

bool Exchange::send(const Response& r) {
  responded_ = true;
  keep_alive_ = request_.keep_alive && !half_closed_ && !draining_;
  std::string bytes = head_bytes(r, keep_alive_, r.body.size());
  bytes += r.body;
  return send_all(bytes);
}

bool Exchange::begin_stream(const Response& head) {
  responded_ = streaming_ = true;
  keep_alive_ = request_.keep_alive && !half_closed_ && !draining_;
  // An HTTP/1.0 client knows no chunks: its stream is the bytes up to the end of the connection.
  if (request_.minor == 0) keep_alive_ = false;
  return send_all(head_bytes(head, keep_alive_, std::nullopt, /*chunked=*/request_.minor == 1));
}

bool Exchange::write(std::string_view data) {
  if (data.empty()) return !failed_;
  return request_.minor == 0 ? send_all(data) : send_all(chunk_bytes(data));
}

bool Exchange::end_stream() {
  const bool ok = request_.minor == 0 ? !failed_ : send_all(chunk_bytes({}));
  streaming_ = false;
  return ok;
}

}  // namespace qwenedge::server::http
