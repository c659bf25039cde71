// Routes of qwen-server.
#include "qwen-server/http_server.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <thread>

#include "qwenedge/error.hpp"
#include "qwenedge/generation.hpp"
#include "qwen-server/web_assets.hpp"

namespace qwenedge::server {
namespace {

using http::Exchange;
using http::Request;
using http::Response;

constexpr std::chrono::milliseconds kPoll{200};        // how often a waiting answer looks up
constexpr std::chrono::milliseconds kKeepAlive{1000};  // SSE comment while no token comes
constexpr int kClientClosed = 499;  // metrics status of an answer whose client left (nginx's code)
constexpr char kJson[] = "application/json";

// The label of a path in the metrics: one of a fixed set, so no request can add a series.
const char* endpoint_label(const std::string& path) {
  for (const char* p : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics"}) {
    if (path == p) return p;
  }
  for (const WebAsset& a : web_assets()) {
    if (path == "/" || path == std::string("/") + a.path) return "web";
  }
  return "other";
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Response json_response(int status, const json& body) { return Response(status, dump(body), kJson); }

Response error_response(const ApiError& e) {
  Response r = json_response(e.status, error_body(e));
  if (e.status == 503) r.set("Retry-After", e.code == "server_overloaded" ? "1" : "5");
  return r;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The host name of a Host header or an origin's authority, without the port ("[::1]" stays
// bracketed).
std::string host_name(std::string_view authority) {
  if (authority.starts_with('[')) return lower(authority.substr(0, authority.find(']') + 1));
  return lower(authority.substr(0, authority.find(':')));
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  if (name.starts_with('[')) return true;  // an IPv6 literal: only an address is ever bracketed
  return inet_pton(AF_INET, name.c_str(), buf) == 1;
}

bool listed(const std::vector<std::string>& list, const std::string& value) {
  return std::any_of(list.begin(), list.end(), [&](const std::string& s) { return s == "*" || lower(s) == value; });
}

bool is_json_type(const std::string* type) {
  if (!type) return false;
  const std::string t = lower(std::string_view(*type).substr(0, type->find(';')));
  const size_t a = t.find_first_not_of(" \t"), b = t.find_last_not_of(" \t");
  return a != std::string::npos && t.substr(a, b - a + 1) == kJson;
}

}  // namespace

HttpServer::HttpServer(const Model& model, const ServerOptions& options)
    : model_(model), options_(options), scheduler_(model, options.scheduler, metrics_), listener_(*this, [&] {
        http::ListenerOptions o = options.connections;
        // Enough workers for every slot and every queued request, and a few more.
        o.workers = options.scheduler.slots + options.scheduler.max_queue + 4;
        return o;
      }()) {}

HttpServer::~HttpServer() = default;

bool HttpServer::bind() { return listener_.bind(options_.host, options_.port); }

void HttpServer::serve() { listener_.run(); }

void HttpServer::shutdown(int grace_ms) {
  scheduler_.drain();
  listener_.drain();
  const auto deadline = Clock::now() + std::chrono::milliseconds(grace_ms);
  constexpr auto kTick = std::chrono::milliseconds(20);
  while ((!scheduler_.idle() || open_answers_ > 0) && Clock::now() < deadline) std::this_thread::sleep_for(kTick);
  if (!scheduler_.idle()) scheduler_.cancel_all();
  // Cut-off answers still end properly: each looks up within kPoll.
  const auto last = Clock::now() + 10 * kPoll;
  while (open_answers_ > 0 && Clock::now() < last) std::this_thread::sleep_for(kTick);
  listener_.stop();
}

Response HttpServer::refuse(int status, const std::string& message) {
  metrics_.request("other", status);
  const char* code = status == 408   ? "request_timeout"
                     : status == 413 ? "request_too_large"
                     : status == 431 ? "headers_too_large"
                     : status == 503 ? "too_many_connections"
                                     : "";
  return json_response(status, error_body(message, status >= 500 ? "server_error" : "invalid_request_error", "", code));
}

bool HttpServer::host_allowed(const Request& r) const {
  const std::string* host = r.header("Host");
  if (!host) return true;  // HTTP/1.0 (HTTP/1.1 without one is refused by the parser)
  // A name other than ours can be a DNS-rebinding page that points its own name at this
  // server; an address or localhost cannot.
  const std::string name = host_name(*host);
  return is_ip_literal(name) || name == "localhost" || name.ends_with(".localhost") || name == lower(options_.host) ||
         listed(options_.allowed_hosts, name);
}

bool HttpServer::origin_allowed(const Request& r) const {
  const std::string* origin = r.header("Origin");
  if (!origin) return true;
  if (listed(options_.cors_origins, lower(*origin))) return true;
  // The web chat's own calls: the origin names the host the page was loaded from.
  const std::string* host = r.header("Host");
  const size_t scheme = origin->find("://");
  return host && scheme != std::string::npos && lower(origin->substr(scheme + 3)) == lower(*host);
}

void HttpServer::allow_origin(const Request& r, Response& res) const {
  const std::string* origin = r.header("Origin");
  if (!origin || !listed(options_.cors_origins, lower(*origin))) return;
  res.set("Access-Control-Allow-Origin", *origin);
  res.set("Vary", "Origin");
}

Response HttpServer::preflight(const Request& r) const {
  Response res(204, "", "text/plain");
  allow_origin(r, res);
  res.set("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  res.set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Conversation-Id");
  res.set("Access-Control-Max-Age", "600");
  return res;
}

std::optional<Response> HttpServer::screen(const Request& head) {
  const char* label = endpoint_label(head.path);
  auto refuse_with = [&](ApiError e) {
    metrics_.request(label, e.status);
    Response r = error_response(e);
    allow_origin(head, r);
    return std::optional<Response>(std::move(r));
  };
  if (!host_allowed(head)) {
    return refuse_with(ApiError(421, "the Host header '" + quote_text(*head.header("Host")) +
                                         "' is not a name of this server (start it with --allowed-hosts NAME to serve it)",
                                "", "host_not_allowed"));
  }
  const bool api = head.path.starts_with("/v1/");
  const bool post = head.path == "/v1/chat/completions" || head.path == "/v1/completions";
  const bool known = std::string_view(label) != "other";
  if (!known) return refuse_with(ApiError(404, "no such endpoint: " + head.method + " " + head.path, "", "not_found"));
  const char* method = post ? "POST" : "GET";
  if (head.method != method && !(api && head.method == "OPTIONS")) {
    Response r = *refuse_with(ApiError(405, "method " + head.method + " not allowed on " + head.path, "", "method_not_allowed"));
    r.set("Allow", api ? std::string(method) + ", OPTIONS" : method);
    return r;
  }
  if (!api) return std::nullopt;
  if (!origin_allowed(head)) {
    return refuse_with(ApiError(403, "requests from the origin '" + quote_text(*head.header("Origin")) +
                                         "' are not allowed (start the server with --cors-origin ORIGIN to allow it)",
                                "", "origin_not_allowed"));
  }
  if (head.method == "OPTIONS") return std::nullopt;  // a preflight carries no credentials
  const std::string* auth = head.header("Authorization");
  if (!options_.api_key.empty() && !(auth && *auth == "Bearer " + options_.api_key)) {
    return refuse_with(ApiError(401, "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.", "", "invalid_api_key"));
  }
  if (post && !is_json_type(head.header("Content-Type"))) {
    const std::string* type = head.header("Content-Type");
    return refuse_with(ApiError(415, "the request body must be sent as Content-Type: application/json (it was " +
                                         (type ? "'" + quote_text(*type) + "'" : std::string("not given")) + ")",
                                "", "unsupported_media_type"));
  }
  return std::nullopt;
}

std::optional<Response> HttpServer::answer_inline(const Request& r) {
  const std::string label = endpoint_label(r.path);
  if (r.method == "OPTIONS") {
    metrics_.request(label, 204);
    return preflight(r);
  }
  if (label == "/v1/chat/completions" || label == "/v1/completions") return std::nullopt;  // a worker's
  Response res;
  if (label == "/v1/models") {
    res = models();
    allow_origin(r, res);
  } else if (label == "/health") {
    res = health();
  } else if (label == "/metrics") {
    res = Response(200, metrics_.render(scheduler_.busy_slots(), scheduler_.slots(), scheduler_.queue_length()),
                   "text/plain; version=0.0.4");
  } else {
    for (const WebAsset& a : web_assets()) {
      if (r.path == std::string("/") + a.path || (r.path == "/" && std::string(a.path) == "index.html")) {
        res = Response(200, std::string(reinterpret_cast<const char*>(a.data), a.size), a.mime);
      }
    }
    res.set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; img-src 'self' data:");
    res.set("X-Content-Type-Options", "nosniff");
  }
  metrics_.request(label, res.status);
  return res;
}

Response HttpServer::models() const {
  const json model = {{"id", options_.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "qwenedge"},
                      {"meta", {{"context", scheduler_.context()}, {"parameters", model_.info().parameters},
                                {"weight_type", model_.info().weight_type}}}};
  return json_response(200, {{"object", "list"}, {"data", json::array({model})}});
}

Response HttpServer::health() const {
  const bool draining = scheduler_.draining();
  return json_response(draining ? 503 : 200, {{"status", draining ? "draining" : "ok"},
                                              {"slots", scheduler_.slots()},
                                              {"slots_busy", scheduler_.busy_slots()},
                                              {"queue", scheduler_.queue_length()}});
}

void HttpServer::answer(Exchange& ex) { generate(ex, ex.request().path == "/v1/chat/completions"); }

HttpServer::Admitted HttpServer::admit(const Request& req, bool chat) {
  const json body = parse_request_body(req.body);  // 400 for bad JSON or nesting past the limit
  const ParsedRequest p = chat ? parse_chat_request(body, options_.limits) : parse_completion_request(body, options_.limits);
  if (!p.model.empty() && p.model != options_.model_id && p.model != model_.info().name) {
    throw ApiError(404, "The model '" + quote_text(p.model) + "' does not exist; this server has '" + options_.model_id + "'",
                   "model", "model_not_found");
  }
  auto job = std::make_shared<Job>();
  job->options = p.options;
  validate_options(model_, p.options);  // out-of-range values fail here (400), not in the batch
  // Rendered, tokenized and fitted once, here on the request's own thread.
  const Prompt whole = chat ? Prompt::chat(model_, p.messages, p.options.tools) : Prompt::text(model_, p.prompt);
  const auto prompt_tokens = static_cast<int64_t>(whole.ids().size());
  const char* field = chat ? "messages" : "prompt";
  if (options_.limits.max_prompt_tokens > 0 && prompt_tokens > options_.limits.max_prompt_tokens) {
    throw ApiError(400, "the prompt has " + std::to_string(prompt_tokens) + " tokens, above this server's limit of " +
                            std::to_string(options_.limits.max_prompt_tokens), field, "context_length_exceeded");
  }
  const int64_t budget = prompt_budget(scheduler_.context(), p.options.max_tokens);
  if (!chat && prompt_tokens > budget) {
    // A text prompt has no turns to drop, and cutting its start would answer another question.
    throw ApiError(400, "the prompt has " + std::to_string(prompt_tokens) + " tokens; with max_tokens " +
                            std::to_string(p.options.max_tokens) + " this server's context of " +
                            std::to_string(scheduler_.context()) + " leaves room for " + std::to_string(budget),
                   field, "context_length_exceeded");
  }
  int64_t dropped = 0;
  try {
    job->prompt = whole.fitted(budget, dropped);
  } catch (const Error& e) {
    throw ApiError(400, e.what(), field, "context_length_exceeded");
  }
  switch (scheduler_.submit(job)) {
    case Scheduler::Admit::kOk: break;
    case Scheduler::Admit::kQueueFull:
      metrics_.rejected();
      throw ApiError(503, "the server is busy (all slots and the queue are full); retry later", "", "server_overloaded",
                     "server_error");
    case Scheduler::Admit::kDraining:
      metrics_.rejected();
      throw ApiError(503, "the server is shutting down", "", "server_shutting_down", "server_error");
  }
  return {p, std::move(job), {}, chat};
}

void HttpServer::generate(Exchange& ex, bool chat) {
  const char* endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  struct Open {  // counts the answer from here until it is written, however it ends
    explicit Open(std::atomic<int>& n_) : n(n_) { ++n; }
    ~Open() { --n; }
    std::atomic<int>& n;
  } open(open_answers_);
  try {
    Admitted a = admit(ex.request(), chat);
    a.ids.id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(std::time(nullptr)) + "-" + std::to_string(++next_id_);
    a.ids.created = static_cast<int64_t>(std::time(nullptr));
    a.ids.model = options_.model_id;
    if (a.request.stream) answer_stream(ex, a, endpoint);
    else answer_whole(ex, a, endpoint);
  } catch (const ApiError& e) {
    Response r = error_response(e);
    allow_origin(ex.request(), r);
    ex.send(r);
    metrics_.request(endpoint, e.status);
  } catch (const Error& e) {
    Response r = error_response(ApiError(400, e.what()));
    allow_origin(ex.request(), r);
    ex.send(r);
    metrics_.request(endpoint, 400);
  }
}

void HttpServer::answer_whole(Exchange& ex, const Admitted& a, const char* endpoint) {
  const std::shared_ptr<Job>& job = a.job;
  // Nothing is written before the answer, so no failed write tells that the client left: look
  // at its connection after every token (and every kPoll while a prompt is computed).
  bool client_left = false;
  std::string ignored;
  while (!job->wait(kPoll, ignored)) {
    if (!client_left && ex.peer_gone()) {
      client_left = true;
      job->cancel = true;  // the scheduler frees its slot (or queue place) before its next step
    }
  }
  if (client_left) {
    ex.abandon();
    metrics_.request(endpoint, kClientClosed);
    return;
  }
  const std::lock_guard lock(job->mu);
  if (job->cut) throw ApiError(503, "the server shut down before the answer was complete", "", "server_shutting_down", "server_error");
  if (!job->result) throw ApiError(500, "generation failed: " + job->error, "", "", "server_error");
  Response r = json_response(200, a.chat ? chat_completion(a.ids, *job->result, a.request.tool_calls)
                                         : text_completion(a.ids, *job->result));
  allow_origin(ex.request(), r);
  ex.send(r);
  metrics_.request(endpoint, 200);
}

void HttpServer::answer_stream(Exchange& ex, const Admitted& a, const char* endpoint) {
  const std::shared_ptr<Job>& job = a.job;
  Response head(200, "", "text/event-stream");
  head.set("Cache-Control", "no-cache");
  head.set("X-Accel-Buffering", "no");  // nginx passes each event on as it comes
  allow_origin(ex.request(), head);
  bool ok = ex.begin_stream(head);
  metrics_.request(endpoint, 200);
  auto write = [&](const std::string& s) {
    if (ok) ok = ex.write(s);
  };
  auto event = [&](const json& j) { write("data: " + dump(j) + "\n\n"); };
  if (a.chat) event(chat_chunk(a.ids, {{"role", "assistant"}, {"content", ""}}, nullptr));
  // Text as it comes; with tools, a <tool_call> block is held until it is complete and then
  // sent as one tool_calls delta.
  std::optional<ToolCallSplitter> tools;
  if (a.request.tool_calls) tools.emplace();
  int calls = 0;
  auto pieces = [&](const std::vector<AnswerPiece>& ps) {
    for (const AnswerPiece& piece : ps) {
      event(chat_chunk(a.ids, piece_delta(piece, calls), nullptr));
      if (piece.call) ++calls;
    }
  };
  Clock::time_point last_write = Clock::now();
  bool finished = false;
  while (ok && !finished) {
    std::string text;
    finished = job->wait(kPoll, text);
    if (tools) {
      pieces(tools->push(text));
      if (finished) pieces(tools->finish());
    } else if (!text.empty()) {
      event(a.chat ? chat_chunk(a.ids, {{"content", text}}, nullptr) : completion_chunk(a.ids, text, nullptr));
    }
    if (!text.empty()) last_write = Clock::now();
    if (!finished && Clock::now() - last_write > kKeepAlive) {
      write(": keep-alive\n\n");  // finds a client that left while a prompt is computed or a tool call is held
      last_write = Clock::now();
    }
  }
  if (!ok) {
    job->cancel = true;  // the client is gone: its slot is freed at the next step
    return;
  }
  std::optional<Result> result;
  std::string error;
  bool cut = false;
  {
    const std::lock_guard lock(job->mu);
    result = job->result;
    error = job->error;
    cut = job->cut;
  }
  if (cut) {
    // Not a finish_reason: a client must not take a cut answer for a whole one.
    event(error_body("the server shut down before the answer was complete", "server_error", "", "server_shutting_down"));
  } else if (!result) {
    event(error_body("generation failed: " + error, "server_error", "", ""));
  } else {
    const char* reason = calls > 0 ? kToolCallsFinish : finish_reason(result->finish);
    event(a.chat ? chat_chunk(a.ids, json::object(), reason) : completion_chunk(a.ids, "", reason));
    if (a.request.include_usage) event(usage_chunk(a.ids, a.chat, *result));
  }
  write("data: [DONE]\n\n");
  if (ok) ex.end_stream();
}

}  // namespace qwenedge::server
