#include "qwen-server/http/listener.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace qwenedge::server::http {
namespace {

constexpr milliseconds kTick{100};          // deadlines are looked at this often
constexpr milliseconds kLinger{2000};       // reading what a refused client still sends
constexpr milliseconds kAcceptPause{100};   // after running out of file descriptors
constexpr int kReadsPerWake = 16;           // of 64 KiB: one fast client cannot hold the loop

// "address:port" of a socket address.
std::string endpoint(const sockaddr_storage& a, socklen_t len) {
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof host, port, sizeof port,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return {};
  }
  return std::string(host) + ":" + port;
}

}  // namespace

struct Listener::Connection {
  Connection(int fd_, std::string remote_, const ParserLimits& limits) : fd(fd_), remote(std::move(remote_)), parser(limits) {}
  enum class State { kReading, kWriting, kLingering, kBusy };
  enum class Phase { kIdle, kHead, kBody };  // of reading: which deadline runs

  int fd;
  std::string remote;
  RequestParser parser;
  State state = State::kReading;
  Phase phase = Phase::kIdle;
  bool screened = false;   // the head of the request being read passed Handler::screen
  uint32_t events = 0;     // watched
  bool registered = false;
  Clock::time_point deadline, idle_since;
  std::string out;         // a response the loop writes
  size_t out_pos = 0;
  bool keep_alive = false, linger = false;  // what follows the write
  std::optional<Exchange> exchange;         // while a worker has it
};

Listener::Listener(Handler& handler, const ListenerOptions& options) : handler_(handler), options_(options) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

Listener::~Listener() {
  for (auto& [fd, c] : connections_) ::close(fd);
  for (const int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

bool Listener::bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list) != 0) return false;
  for (addrinfo* a = list; a && listen_fd_ < 0; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
      listen_fd_ = fd;
    } else {
      ::close(fd);
    }
  }
  freeaddrinfo(list);
  if (listen_fd_ < 0) return false;
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port)
                                  : ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  return true;
}

void Listener::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void Listener::drain() {
  draining_ = true;
  wake();
}

void Listener::stop() {
  stopping_ = true;
  wake();
}

void Listener::run() {
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { work(); });
  loop();
  // Writes in flight fail at once; a worker waiting on the model sees its client gone.
  for (auto& [fd, c] : connections_) {
    if (c->state == Connection::State::kBusy) ::shutdown(fd, SHUT_RDWR);
  }
  {
    const std::lock_guard lock(mu_);
    workers_stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  for (auto& [fd, c] : connections_) ::close(fd);
  connections_.clear();
}

void Listener::loop() {
  std::vector<epoll_event> events(256);
  while (!stopping_) {
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), static_cast<int>(kTick.count()));
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<size_t>(i)].data.fd;
      if (fd == listen_fd_) {
        accept_all();
      } else if (fd == wake_fd_) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &count, sizeof count);
      } else if (const auto it = connections_.find(fd); it != connections_.end()) {
        on_event(*it->second, events[static_cast<size_t>(i)].events);
      }
    }
    returned();
    if (draining_ && !drained_) close_idle();
    const Clock::time_point now = Clock::now();
    if (accept_paused_until_ != Clock::time_point{} && now >= accept_paused_until_) {
      accept_paused_until_ = {};
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = listen_fd_;
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
    }
    if (now - last_sweep_ >= kTick) {
      last_sweep_ = now;
      sweep();
    }
  }
}

void Listener::accept_all() {
  for (;;) {
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        // Out of descriptors or memory: stop asking for a moment instead of spinning.
        epoll_event ev{};
        ev.data.fd = listen_fd_;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
        accept_paused_until_ = Clock::now() + kAcceptPause;
      }
      return;
    }
    if (static_cast<int>(connections_.size()) >= options_.max_connections && !make_room()) {
      // Every connection is mid-request: this one is refused before it can hold anything.
      const Response r = handler_.refuse(503, "the server has too many open connections; retry later");
      const std::string bytes = head_bytes(r, false, r.body.size()) + r.body;
      [[maybe_unused]] const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // stream events go out as written
    auto c = std::make_unique<Connection>(fd, endpoint(a, len), options_.parser);
    const Clock::time_point now = Clock::now();
    c->deadline = now + options_.header_timeout;
    c->idle_since = now;
    watch(*c, EPOLLIN | EPOLLRDHUP);
    connections_.emplace(fd, std::move(c));
  }
}

bool Listener::make_room() {
  Connection* oldest = nullptr;
  for (auto& [fd, c] : connections_) {
    if (c->state == Connection::State::kReading && !c->parser.started() && (!oldest || c->idle_since < oldest->idle_since)) {
      oldest = c.get();
    }
  }
  if (oldest) close(*oldest);
  return oldest != nullptr;
}

void Listener::on_event(Connection& c, uint32_t events) {
  switch (c.state) {
    case Connection::State::kReading: on_readable(c); break;
    case Connection::State::kWriting:
      if (events & (EPOLLERR | EPOLLHUP)) close(c);
      else flush(c);
      break;
    case Connection::State::kLingering: {
      char buf[16384];
      for (;;) {
        const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        close(c);  // the client has read the answer and gone
        return;
      }
    }
    case Connection::State::kBusy: break;
  }
}

void Listener::on_readable(Connection& c) {
  char buf[65536];
  for (int i = 0; i < kReadsPerWake; ++i) {
    const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
    if (n > 0) {
      c.parser.feed(std::string_view(buf, static_cast<size_t>(n)));
      if (c.parser.done() || c.parser.failed() || (c.parser.head_done() && !c.screened)) break;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    close(c);  // end of stream or a reset: a request not yet whole is abandoned
    return;
  }
  advance(c);
}

void Listener::advance(Connection& c) {
  RequestParser& p = c.parser;
  if (p.failed()) {
    respond(c, handler_.refuse(p.error().status, p.error().message), false, true);
    return;
  }
  if (p.head_done() && !c.screened) {
    c.screened = true;
    if (std::optional<Response> r = handler_.screen(p.request())) {
      respond(c, *r, false, !p.done());
      return;
    }
    if (p.expects_continue()) {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      [[maybe_unused]] const ssize_t n = ::send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
  }
  if (p.done()) {
    c.screened = false;
    dispatch(c, p.take());
    return;
  }
  const Connection::Phase phase = !p.started() ? Connection::Phase::kIdle : !p.head_done() ? Connection::Phase::kHead
                                                                                           : Connection::Phase::kBody;
  if (phase != c.phase) {
    c.phase = phase;
    c.deadline = Clock::now() + (phase == Connection::Phase::kHead ? options_.header_timeout : options_.body_timeout);
  }
}

void Listener::dispatch(Connection& c, Request request) {
  request.remote = c.remote;
  if (std::optional<Response> r = handler_.answer_inline(request)) {
    respond(c, *r, request.keep_alive && !draining_, false);
    return;
  }
  c.state = Connection::State::kBusy;
  watch(c, 0);
  c.exchange.emplace(c.fd, std::move(request), options_.send_timeout, draining_);
  {
    const std::lock_guard lock(mu_);
    ready_.push_back(&c);
  }
  work_cv_.notify_one();
}

void Listener::respond(Connection& c, const Response& r, bool keep_alive, bool linger) {
  c.out = head_bytes(r, keep_alive, r.body.size()) + r.body;
  c.out_pos = 0;
  c.keep_alive = keep_alive;
  c.linger = linger;
  c.state = Connection::State::kWriting;
  c.deadline = Clock::now() + options_.send_timeout;
  flush(c);
}

void Listener::flush(Connection& c) {
  while (c.out_pos < c.out.size()) {
    const ssize_t n = ::send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_pos += static_cast<size_t>(n);
      c.deadline = Clock::now() + options_.send_timeout;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      watch(c, EPOLLOUT);
      return;
    } else {
      close(c);
      return;
    }
  }
  after_write(c);
}

void Listener::after_write(Connection& c) {
  c.out.clear();
  c.out.shrink_to_fit();
  if (!c.keep_alive || draining_) {
    if (!c.linger) {
      close(c);
      return;
    }
    // Unread request bytes would make the close a reset that can destroy the answer before the
    // client reads it: stop sending, and read and drop what still comes for a moment.
    ::shutdown(c.fd, SHUT_WR);
    c.state = Connection::State::kLingering;
    c.deadline = Clock::now() + kLinger;
    watch(c, EPOLLIN | EPOLLRDHUP);
    return;
  }
  const Clock::time_point now = Clock::now();
  c.state = Connection::State::kReading;
  c.phase = Connection::Phase::kIdle;
  c.deadline = now + options_.idle_timeout;
  c.idle_since = now;
  watch(c, EPOLLIN | EPOLLRDHUP);
  // A pipelined request may be buffered whole already: the next event-loop turn parses it
  // (never here, so a buffer of many small requests is not a deep recursion).
  if (c.parser.started()) pending_.push_back(c.fd);
}

void Listener::returned() {
  std::vector<Connection*> done;
  {
    const std::lock_guard lock(mu_);
    done.swap(done_);
  }
  for (Connection* c : done) {
    const bool reusable = c->exchange->reusable();
    c->exchange.reset();
    c->state = Connection::State::kWriting;  // its write is over
    c->keep_alive = reusable;
    c->linger = false;
    after_write(*c);
  }
  // Requests buffered behind answered ones, in turn.
  while (!pending_.empty()) {
    const int fd = pending_.front();
    pending_.pop_front();
    const auto it = connections_.find(fd);
    if (it == connections_.end() || it->second->state != Connection::State::kReading) continue;
    it->second->parser.feed({});
    advance(*it->second);
  }
}

void Listener::sweep() {
  const Clock::time_point now = Clock::now();
  std::vector<int> expired;
  for (const auto& [fd, c] : connections_) {
    if (c->state != Connection::State::kBusy && now >= c->deadline) expired.push_back(fd);
  }
  for (const int fd : expired) {
    Connection& c = *connections_.at(fd);
    if (c.state == Connection::State::kReading && c.phase != Connection::Phase::kIdle) {
      const char* what = c.phase == Connection::Phase::kHead ? "its header fields" : "its body";
      respond(c, handler_.refuse(408, std::string("the request did not arrive in time (") + what + ")"), false, false);
    } else {
      close(c);  // an idle connection, a stalled write or the end of a linger
    }
  }
}

void Listener::close_idle() {
  drained_ = true;
  std::vector<int> idle;
  for (const auto& [fd, c] : connections_) {
    if (c->state == Connection::State::kReading || c->state == Connection::State::kLingering) idle.push_back(fd);
  }
  for (const int fd : idle) close(*connections_.at(fd));
}

void Listener::close(Connection& c) {
  const int fd = c.fd;
  ::close(fd);  // also leaves the epoll set
  connections_.erase(fd);
}

void Listener::watch(Connection& c, uint32_t events) {
  if (c.registered && events == c.events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c.fd;
  if (events == 0) {
    if (c.registered) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, &ev);
    c.registered = false;
  } else {
    epoll_ctl(epoll_fd_, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &ev);
    c.registered = true;
  }
  c.events = events;
}

void Listener::work() {
  for (;;) {
    Connection* c = nullptr;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return workers_stop_ || !ready_.empty(); });
      if (workers_stop_) return;  // requests not yet taken are dropped with their connections
      c = ready_.front();
      ready_.pop_front();
    }
    Exchange& ex = *c->exchange;
    try {
      handler_.answer(ex);
    } catch (const std::exception& e) {
      if (!ex.responded()) ex.send(handler_.refuse(500, std::string("internal error: ") + e.what()));
    }
    if (!ex.responded()) ex.send(handler_.refuse(500, "internal error: the request was not answered"));
    {
      const std::lock_guard lock(mu_);
      done_.push_back(c);
    }
    wake();
  }
}

}  // namespace qwenedge::server::http
