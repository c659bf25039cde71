// The HTTP front of qwen-server: routes, authentication, limits, SSE streaming, the web page.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "qwenedge/model.hpp"
#include "qwen-server/metrics.hpp"
#include "qwen-server/openai_api.hpp"
#include "qwen-server/scheduler.hpp"

namespace httplib {
class Server;
class Request;
class Response;
}  // namespace httplib

namespace qwenedge::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;            // empty: no authentication
  size_t max_body = 4 << 20;      // bytes of a request body
  Limits limits;
  SchedulerOptions scheduler;
  std::string model_id;           // the name /v1/models lists and requests may name
};

class HttpServer {
 public:
  HttpServer(const Model& model, const ServerOptions& options);
  ~HttpServer();

  // Binds (port 0: any free port) and serves until stop(). Returns false when it cannot bind.
  bool bind();
  int port() const { return port_; }
  void serve();

  // Graceful shutdown: new requests get 503, running and queued ones finish (cut off after
  // `grace_ms`), then the listener closes and serve() returns.
  void shutdown(int grace_ms);

 private:
  void routes();
  // A completion request: admission (parse, validate, render, tokenize and fit the prompt, queue
  // it), then the answer whole or as a stream of server-sent events.
  struct Admitted {
    ParsedRequest request;
    std::shared_ptr<Job> job;
    ResponseIds ids;
    bool chat;
  };
  void generate(const httplib::Request& req, httplib::Response& res, bool chat);
  Admitted admit(const httplib::Request& req, httplib::Response& res, bool chat);
  void answer_whole(const httplib::Request& req, httplib::Response& res, const Admitted& a, const std::string& endpoint);
  void answer_stream(httplib::Response& res, const Admitted& a);
  bool authorized(const httplib::Request& req, httplib::Response& res);

  Model model_;
  ServerOptions options_;
  Metrics metrics_;
  Scheduler scheduler_;
  std::atomic<uint64_t> next_id_ = 0;
  std::atomic<int> open_streams_ = 0;  // stream responses not yet fully written (outlives http_'s)
  std::unique_ptr<httplib::Server> http_;
  int port_ = 0;
};

}  // namespace qwenedge::server
