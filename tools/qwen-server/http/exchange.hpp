// One request and its response on a worker thread: the response written whole or as a chunked
// stream, every write bounded by the send timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <string_view>

#include "qwen-server/http/message.hpp"

namespace qwenedge::server::http {

class Exchange {
 public:
  Exchange(int fd, Request request, std::chrono::milliseconds send_timeout, const std::atomic<bool>& draining);

  const Request& request() const { return request_; }

  // The client closed or reset its connection. Unread pipelined bytes mean it is still there,
  // and so does a client that shut down only its sending side (it waits for the answer): the
  // end of its stream is told from a close by an interim "100 Continue", which a closed socket
  // answers with a reset.
  bool peer_gone();

  // Each returns false once a write failed or timed out: the client is gone.
  bool send(const Response& r);
  bool begin_stream(const Response& head);
  bool write(std::string_view data);  // one chunk of the stream
  bool end_stream();

  // The client left before its answer: nothing is written, and the connection closes.
  void abandon() { responded_ = failed_ = true; }

  bool responded() const { return responded_; }
  // The connection can carry the next request.
  bool reusable() const { return responded_ && !failed_ && keep_alive_ && !streaming_; }

 private:
  bool send_all(std::string_view data);

  int fd_;
  Request request_;
  bool half_closed_ = false;
  std::chrono::steady_clock::time_point probed_{};  // when the interim response was sent
  std::chrono::milliseconds send_timeout_;
  const std::atomic<bool>& draining_;
  bool keep_alive_ = true;
  bool responded_ = false, streaming_ = false, failed_ = false;
};

}  // namespace qwenedge::server::http
