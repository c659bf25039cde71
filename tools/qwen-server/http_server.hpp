// The HTTP front of qwen-server: routes, the browser and host policy, authentication, SSE
// streaming, the web page. Connections, limits and deadlines are the listener's (http/).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "qwenedge/model.hpp"
#include "qwen-server/http/listener.hpp"
#include "qwen-server/metrics.hpp"
#include "qwen-server/openai_api.hpp"
#include "qwen-server/scheduler.hpp"

namespace qwenedge::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;  // empty: no authentication
  // Host header names served besides the bound address, localhost and IP addresses ("*": any).
  std::vector<std::string> allowed_hosts;
  // Origins whose pages may call /v1/* from a browser ("*": any); none by default.
  std::vector<std::string> cors_origins;
  http::ListenerOptions connections;  // connection limits and deadlines; parser.max_body is --max-body
  Limits limits;
  SchedulerOptions scheduler;
  std::string model_id;  // the name /v1/models lists and requests may name
};

class HttpServer : private http::Handler {
 public:
  HttpServer(const Model& model, const ServerOptions& options);
  ~HttpServer() override;

  // Binds (port 0: any free port). Returns false when it cannot.
  bool bind();
  int port() const { return listener_.port(); }
  void serve();  // until shutdown()

  // Graceful shutdown: new requests get 503, connections between requests close, running and
  // queued answers finish (cut off after `grace_ms`), then serve() returns.
  void shutdown(int grace_ms);

 private:
  struct Admitted {
    ParsedRequest request;
    std::shared_ptr<Job> job;
    ResponseIds ids;
    bool chat;
  };

  // http::Handler
  std::optional<http::Response> screen(const http::Request& head) override;
  std::optional<http::Response> answer_inline(const http::Request& request) override;
  void answer(http::Exchange& exchange) override;
  http::Response refuse(int status, const std::string& message) override;

  bool host_allowed(const http::Request& r) const;
  bool origin_allowed(const http::Request& r) const;  // no Origin, the same origin, or a --cors-origin
  void allow_origin(const http::Request& r, http::Response& res) const;  // CORS headers for a cross-origin caller
  http::Response preflight(const http::Request& r) const;
  http::Response models() const;
  http::Response health() const;

  // A completion request: admission (parse, validate, render, tokenize and fit the prompt, queue
  // it), then the answer whole or as a stream of server-sent events.
  void generate(http::Exchange& ex, bool chat);
  Admitted admit(const http::Request& req, bool chat);
  void answer_whole(http::Exchange& ex, const Admitted& a, const char* endpoint);
  void answer_stream(http::Exchange& ex, const Admitted& a, const char* endpoint);

  Model model_;
  ServerOptions options_;
  Metrics metrics_;
  Scheduler scheduler_;
  http::Listener listener_;
  std::atomic<uint64_t> next_id_ = 0;
  std::atomic<int> open_answers_ = 0;  // generation requests not yet fully answered
};

}  // namespace qwenedge::server
