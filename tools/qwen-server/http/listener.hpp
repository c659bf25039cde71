// The server's connections: one event-loop thread reads every request (under deadlines and
// limits, so slow or silent clients cost a buffer each, never a thread) and writes the cheap
// answers; workers take the requests that wait on the model.
//
//   accept ─► reading ─(head)─► Handler::screen ─(whole)─► Handler::answer_inline ─► writing ─┐
//                 ▲                                   └──► worker: Handler::answer ───────────┤
//                 └──────────────────────── keep-alive (a pipelined request is parsed next) ◄┘
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "qwen-server/http/exchange.hpp"
#include "qwen-server/http/message.hpp"
#include "qwen-server/http/request_parser.hpp"

namespace qwenedge::server::http {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct ListenerOptions {
  ParserLimits parser;
  int max_connections = 512;          // open at once; beyond it idle ones are closed, then new ones refused
  milliseconds header_timeout{10000}; // a request's line and headers, from its first byte (from accept for the first)
  milliseconds body_timeout{60000};   // its body, from the end of its head
  milliseconds idle_timeout{5000};    // a kept-alive connection between requests
  milliseconds send_timeout{30000};   // a response write that makes no progress
  int workers = 16;                   // threads answering requests that wait on the model
};

// What the server does with requests.
class Handler {
 public:
  virtual ~Handler() = default;
  // On the loop thread once a request's head has arrived: a response refuses it there (its
  // body is not read and the connection closes). Must not block.
  virtual std::optional<Response> screen(const Request& head) = 0;
  // On the loop thread once the request is whole: a response for a cheap route, or nullopt to
  // pass it to a worker. Must not block.
  virtual std::optional<Response> answer_inline(const Request& request) = 0;
  // On a worker thread.
  virtual void answer(Exchange& exchange) = 0;
  // The response to a request the listener refuses itself (malformed, too large, too slow, one
  // connection too many) or that a worker failed to answer. Must not block.
  virtual Response refuse(int status, const std::string& message) = 0;
};

class Listener {
 public:
  Listener(Handler& handler, const ListenerOptions& options);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  bool bind(const std::string& host, int port);  // port 0: any free port
  int port() const { return port_; }

  void run();    // serves until stop()
  void drain();  // closes connections between requests; responses from now close theirs
  void stop();   // run() returns: writes still in flight fail, idle connections close
  bool draining() const { return draining_; }

 private:
  struct Connection;

  void loop();
  void accept_all();
  bool make_room();  // closes the longest-idle connection; false when none is idle
  void on_event(Connection& c, uint32_t events);
  void on_readable(Connection& c);
  void advance(Connection& c);  // acts on what the parser has
  void respond(Connection& c, const Response& r, bool keep_alive, bool linger);
  void flush(Connection& c);
  void after_write(Connection& c);
  void dispatch(Connection& c, Request request);
  void returned();        // connections the workers are done with
  void sweep();           // deadlines
  void close_idle();      // on drain
  void close(Connection& c);
  void watch(Connection& c, uint32_t events);
  void wake();
  void work();            // a worker thread

  Handler& handler_;
  ListenerOptions options_;
  int listen_fd_ = -1, epoll_fd_ = -1, wake_fd_ = -1;
  int port_ = 0;
  std::unordered_map<int, std::unique_ptr<Connection>> connections_;  // by socket; the loop's own
  std::deque<int> pending_;  // connections with a buffered request to parse
  Clock::time_point accept_paused_until_{};
  Clock::time_point last_sweep_{};

  std::atomic<bool> draining_{false}, stopping_{false};
  bool drained_ = false;  // the loop has acted on draining_

  std::mutex mu_;  // guards the two queues
  std::condition_variable work_cv_;
  std::deque<Connection*> ready_;     // requests for the workers
  std::vector<Connection*> done_;     // back from the workers
  bool workers_stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace qwenedge::server::http
