// Routes of qwen-server on cpp-httplib.
#include "qwen-server/http_server.hpp"

// cpp-httplib's header is not clean under our warning flags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#include <httplib.h>
#pragma GCC diagnostic pop

#include <poll.h>
#include <sys/socket.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <filesystem>
#include <thread>

#include "qwenedge/error.hpp"
#include "qwenedge/generation.hpp"
#include "qwen-server/web_assets.hpp"

namespace qwenedge::server {
namespace {

constexpr std::chrono::milliseconds kPoll{200};              // how often a waiting stream looks up
constexpr std::chrono::milliseconds kKeepAlive{1000};        // SSE comment while no token comes
constexpr int kClientClosed = 499;  // metrics status of an answer whose client left (nginx's code)

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(dump(error_body(e)), "application/json");
}

// "address:port" of a socket address, written as cpp-httplib writes a request's addresses.
std::string endpoint(const sockaddr_storage& a, socklen_t len) {
  char host[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0) return {};
  const int port = a.ss_family == AF_INET6 ? ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port)
                                           : ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
  return std::string(host) + ":" + std::to_string(port);
}

// The socket of a request's connection, or -1. cpp-httplib 0.11 does not hand it to a handler
// (later versions have Request::is_connection_closed); it is the one socket whose two ends are
// the request's addresses, and it stays open while the handler runs.
int connection_socket(const httplib::Request& req) {
  const std::string local = req.local_addr + ":" + std::to_string(req.local_port);
  const std::string remote = req.remote_addr + ":" + std::to_string(req.remote_port);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const std::string name = entry.path().filename().string();
    int fd = -1;
    if (std::from_chars(name.data(), name.data() + name.size(), fd).ec != std::errc{}) continue;
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || endpoint(a, len) != remote) continue;
    len = sizeof a;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0 || endpoint(a, len) != local) continue;
    return fd;
  }
  return -1;
}

// Whether the client closed its end (or reset it). Unread bytes from it (a pipelined request)
// mean it is still there.
bool peer_closed(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
  char c = 0;
  const ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace

HttpServer::HttpServer(const Model& model, const ServerOptions& options)
    : model_(model), options_(options), scheduler_(model, options.scheduler, metrics_),
      http_(std::make_unique<httplib::Server>()) {
  // Enough HTTP workers for every slot, every queued request and a few cheap requests besides.
  const auto workers = static_cast<size_t>(options.scheduler.slots + options.scheduler.max_queue + 8);
  http_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http_->set_payload_max_length(options.max_body);
  http_->set_keep_alive_timeout(2);
  routes();
}

HttpServer::~HttpServer() = default;

bool HttpServer::bind() {
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    return port_ > 0;
  }
  port_ = options_.port;
  return http_->bind_to_port(options_.host, options_.port);
}

void HttpServer::serve() { http_->listen_after_bind(); }

void HttpServer::shutdown(int grace_ms) {
  scheduler_.drain();
  const auto deadline = Clock::now() + std::chrono::milliseconds(grace_ms);
  constexpr auto kTick = std::chrono::milliseconds(20);
  // Streams write their last chunks after the scheduler is done with them, and stop() would cut
  // a stream off mid-way: wait for both (however slow the machine) until the grace is over.
  while ((!scheduler_.idle() || open_streams_ > 0) && Clock::now() < deadline) std::this_thread::sleep_for(kTick);
  if (!scheduler_.idle()) scheduler_.cancel_all();
  // Cut-off streams still end properly: each looks up within kPoll.
  const auto last = Clock::now() + 10 * kPoll;
  while (open_streams_ > 0 && Clock::now() < last) std::this_thread::sleep_for(kTick);
  http_->stop();
}

bool HttpServer::authorized(const httplib::Request& req, httplib::Response& res) {
  if (options_.api_key.empty() || req.get_header_value("Authorization") == "Bearer " + options_.api_key) return true;
  send_error(res, ApiError(401, "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.", "",
                           "invalid_api_key"));
  return false;
}

void HttpServer::routes() {
  httplib::Server& s = *http_;
  s.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a handler's own error
    std::string message = "HTTP " + std::to_string(res.status);
    std::string code;
    if (res.status == 404) {
      message = "no such endpoint: " + req.method + " " + req.path;
      code = "not_found";
    } else if (res.status == 413) {
      message = "the request body is larger than this server's limit of " + std::to_string(options_.max_body) + " bytes";
      code = "request_too_large";
    } else if (res.status == 405) {
      message = "method " + req.method + " not allowed on " + req.path;
    }
    res.set_content(dump(error_body(message, "invalid_request_error", "", code)), "application/json");
    metrics_.request(res.status == 404 ? "other" : req.path, res.status);  // no label per unknown path
    return httplib::Server::HandlerResponse::Handled;
  }));

  s.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, true); });
  s.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { generate(req, res, false); });

  s.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
    if (authorized(req, res)) {
      const json model = {{"id", options_.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "qwenedge"},
                          {"meta", {{"context", scheduler_.context()}, {"parameters", model_.info().parameters},
                                    {"weight_type", model_.info().weight_type}}}};
      res.set_content(dump({{"object", "list"}, {"data", json::array({model})}}), "application/json");
    }
    metrics_.request("/v1/models", res.status > 0 ? res.status : 200);
  });

  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const bool draining = scheduler_.draining();
    res.status = draining ? 503 : 200;
    res.set_content(dump({{"status", draining ? "draining" : "ok"},
                          {"slots", scheduler_.slots()},
                          {"slots_busy", scheduler_.busy_slots()},
                          {"queue", scheduler_.queue_length()}}),
                    "application/json");
  });

  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(scheduler_.busy_slots(), scheduler_.slots(), scheduler_.queue_length()),
                    "text/plain; version=0.0.4");
  });

  for (const WebAsset& a : web_assets()) {
    const std::string body(reinterpret_cast<const char*>(a.data), a.size);
    const std::string mime = a.mime;
    auto serve_asset = [body, mime](const httplib::Request&, httplib::Response& res) {
      res.set_header("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_content(body, mime.c_str());
    };
    s.Get(std::string("/") + a.path, serve_asset);
    if (std::string(a.path) == "index.html") s.Get("/", serve_asset);
  }
}

HttpServer::Admitted HttpServer::admit(const httplib::Request& req, httplib::Response& res, bool chat) {
  const json body = parse_request_body(req.body);  // 400 for bad JSON or nesting past the limit
  const ParsedRequest p = chat ? parse_chat_request(body, options_.limits) : parse_completion_request(body, options_.limits);
  if (!p.model.empty() && p.model != options_.model_id && p.model != model_.info().name) {
    throw ApiError(404, "The model '" + p.model + "' does not exist; this server has '" + options_.model_id + "'",
                   "model", "model_not_found");
  }
  auto job = std::make_shared<Job>();
  job->options = p.options;
  validate_options(model_, p.options);  // out-of-range values fail here (400), not in the batch
  // Rendered, tokenized and fitted once, here on the request's own thread.
  const Prompt whole = chat ? Prompt::chat(model_, p.messages, p.options.tools) : Prompt::text(model_, p.prompt);
  int64_t dropped = 0;
  try {
    job->prompt = whole.fitted(prompt_budget(scheduler_.context(), p.options.max_tokens), dropped);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), chat ? "messages" : "prompt", "context_length_exceeded");
  }
  const auto prompt_tokens = static_cast<int64_t>(whole.ids().size());
  if (options_.limits.max_prompt_tokens > 0 && prompt_tokens > options_.limits.max_prompt_tokens) {
    throw ApiError(400, "the prompt has " + std::to_string(prompt_tokens) + " tokens, above this server's limit of " +
                            std::to_string(options_.limits.max_prompt_tokens),
                   chat ? "messages" : "prompt", "context_length_exceeded");
  }
  switch (scheduler_.submit(job)) {
    case Scheduler::Admit::kOk: break;
    case Scheduler::Admit::kQueueFull:
      metrics_.rejected();
      res.set_header("Retry-After", "1");
      throw ApiError(503, "the server is busy (all slots and the queue are full); retry later", "", "server_overloaded",
                     "server_error");
    case Scheduler::Admit::kDraining:
      metrics_.rejected();
      res.set_header("Retry-After", "5");
      throw ApiError(503, "the server is shutting down", "", "server_shutting_down", "server_error");
  }

  return {p, std::move(job), {}, chat};
}

void HttpServer::answer_whole(const httplib::Request& req, httplib::Response& res, const Admitted& a,
                              const std::string& endpoint) {
  const std::shared_ptr<Job>& job = a.job;
    // Nothing is written before the answer, so no failed write tells that the client left:
    // look at its socket after every token (and every kPoll while a prompt is computed).
    const int sock = connection_socket(req);
    bool client_left = false;
    std::string ignored;
    while (!job->wait(kPoll, ignored)) {
      if (!client_left && sock >= 0 && peer_closed(sock)) {
        client_left = true;
        job->cancel = true;  // the scheduler frees its slot (or queue place) before its next step
      }
    }
    if (client_left) {
      metrics_.request(endpoint, kClientClosed);
      return;
    }
    const std::lock_guard lock(job->mu);
    if (!job->result) throw ApiError(500, "generation failed: " + job->error, "", "", "server_error");
    res.set_content(dump(a.chat ? chat_completion(a.ids, *job->result, a.request.tool_calls) : text_completion(a.ids, *job->result)),
                    "application/json");
    metrics_.request(endpoint, 200);
    return;
  }

void HttpServer::answer_stream(httplib::Response& res, const Admitted& a) {
  const bool chat = a.chat;
  // Counts itself in open_streams_ from now until its response is gone (the lambdas that
  // hold it are destroyed with the response, after its last byte).
  struct Stream {
    Stream(std::atomic<int>& open_, std::shared_ptr<Job> job_, ResponseIds ids_, bool chat_, bool include_usage_)
        : open(open_), job(std::move(job_)), ids(std::move(ids_)), chat(chat_), include_usage(include_usage_) {
      ++open;
    }
    ~Stream() { --open; }
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    std::atomic<int>& open;
    std::shared_ptr<Job> job;
    ResponseIds ids;
    bool chat, include_usage, started = false;
    Clock::time_point last_write = Clock::now();
    std::optional<ToolCallSplitter> tools;  // when the request offers tools
    int calls = 0;                          // tool calls sent
  };
  auto st = std::make_shared<Stream>(open_streams_, a.job, a.ids, chat, a.request.include_usage);
  if (a.request.tool_calls) st->tools.emplace();
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [st](size_t, httplib::DataSink& sink) {
        bool ok = true;
        auto write = [&](const std::string& s) {
          if (ok) ok = sink.write(s.data(), s.size());
          st->last_write = Clock::now();
        };
        auto event = [&](const json& j) { write("data: " + dump(j) + "\n\n"); };
        if (!st->started) {
          st->started = true;
          if (st->chat) event(chat_chunk(st->ids, {{"role", "assistant"}, {"content", ""}}, nullptr));
        }
        // Text as it comes; with tools, a <tool_call> block is held until it is complete and
        // then sent as one tool_calls delta.
        auto pieces = [&](const std::vector<AnswerPiece>& ps) {
          for (const AnswerPiece& piece : ps) {
            event(chat_chunk(st->ids, piece_delta(piece, st->calls), nullptr));
            if (piece.call) ++st->calls;
          }
        };
        std::string text;
        const bool finished = st->job->wait(kPoll, text);
        if (st->tools) {
          pieces(st->tools->push(text));
          if (finished) pieces(st->tools->finish());
        } else if (!text.empty()) {
          event(st->chat ? chat_chunk(st->ids, {{"content", text}}, nullptr) : completion_chunk(st->ids, text, nullptr));
        }
        if (!finished && Clock::now() - st->last_write > kKeepAlive) {
          // Finds a client that left while the prompt is computed or a tool call is held.
          write(": keep-alive\n\n");
        }
        if (ok && finished) {
          std::optional<Result> result;
          std::string error;
          {
            const std::lock_guard lock(st->job->mu);
            result = st->job->result;
            error = st->job->error;
          }
          if (!result) {
            event(error_body("generation failed: " + error, "server_error", "", ""));
          } else {
            const char* reason = st->calls > 0 ? kToolCallsFinish : finish_reason(result->finish);
            event(st->chat ? chat_chunk(st->ids, json::object(), reason) : completion_chunk(st->ids, "", reason));
            if (st->include_usage) event(usage_chunk(st->ids, st->chat, *result));
          }
          write("data: [DONE]\n\n");
          if (ok) sink.done();
        }
        // A failed write means the client is gone: its slot is freed at the next step.
        if (!ok) st->job->cancel = true;
        return ok;
      },
      [st](bool success) {
        if (!success) st->job->cancel = true;
      });
}

void HttpServer::generate(const httplib::Request& req, httplib::Response& res, bool chat) {
  const std::string endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  if (!authorized(req, res)) {
    metrics_.request(endpoint, res.status);
    return;
  }
  try {
    Admitted a = admit(req, res, chat);
    ResponseIds& ids = a.ids;
    ids.id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(std::time(nullptr)) + "-" + std::to_string(++next_id_);
    ids.created = static_cast<int64_t>(std::time(nullptr));
    ids.model = options_.model_id;

    if (!a.request.stream) {
      answer_whole(req, res, a, endpoint);
      return;
    }
    answer_stream(res, a);
    metrics_.request(endpoint, 200);
  } catch (const ApiError& e) {
    send_error(res, e);
    metrics_.request(endpoint, res.status);
  } catch (const Error& e) {
    send_error(res, ApiError(400, e.what()));
    metrics_.request(endpoint, res.status);
  }
}

}  // namespace qwenedge::server
