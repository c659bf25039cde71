// qwen-server: serve a Qwen2 GGUF model over an OpenAI-compatible HTTP API, with a web chat.
//
// Signals: SIGTERM / SIGINT start a graceful shutdown (new requests get 503, running streams
// finish, then the process exits 0); a second one cuts the running answers off.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <pthread.h>
#include <sys/resource.h>
#include <algorithm>
#include <chrono>
#include <vector>
#include <string>
#include <thread>

#include "qwenedge/error.hpp"
#include "qwenedge/model.hpp"
#include "qwen-server/http_server.hpp"

namespace {

void usage() {
  std::fputs(
      "usage: qwen-server -m MODEL.gguf [options]\n"
      "  --host ADDR              address to bind (default 127.0.0.1)\n"
      "  --port N                 port (default 8080; 0 = any free port, printed at start)\n"
      "  --slots N                conversations decoded together (default 4)\n"
      "  --step-tokens N          a prompt up to N tokens joins in one step; a longer one is\n"
      "                           prefilled in chunks of at most N beside running streams,\n"
      "                           each keeping a step near two decode steps (default 64)\n"
      "  --ctx N                  KV-cache positions per slot (default: the model's, at most 4096)\n"
      "  --threads N              threads of the forward pass (default: physical cores)\n"
      "  --api-key KEY            require 'Authorization: Bearer KEY' on /v1/*\n"
      "  --max-queue N            requests waiting for a slot before 503 (default 64)\n"
      "  --max-body BYTES         largest request body (default 4194304)\n"
      "  --max-prompt-tokens N    longest prompt in tokens (default: the context decides)\n"
      "  --max-tokens-limit N     largest max_tokens a request may ask for, and the default (default 4096)\n"
      "  --shutdown-grace-ms N    how long a shutdown waits for running answers (default 30000)\n"
      "  --max-messages N         most messages in a chat request (default 1024; 0 = no limit)\n"
      "  --max-tools N            most tool definitions in a request (default 128; 0 = no limit)\n"
      "browser and host policy (see docs/SECURITY.md):\n"
      "  --allowed-hosts A,B      Host names served besides the bound address, localhost and IP\n"
      "                           addresses ('*' = any); others get 421 (DNS rebinding)\n"
      "  --cors-origin ORIGIN     let pages of ORIGIN (e.g. https://app.example; '*' = any) call\n"
      "                           /v1/* from a browser; repeatable (default: none)\n"
      "connections (see docs/SECURITY.md):\n"
      "  --max-connections N      open at once; idle ones are closed first, then new ones get 503 (default 512)\n"
      "  --max-header-bytes N     request line and header fields (default 32768; 431 beyond)\n"
      "  --max-headers N          header fields of a request (default 100; 431 beyond)\n"
      "  --header-timeout-ms N    a request's header fields must arrive within N ms (default 10000; 408)\n"
      "  --body-timeout-ms N      its body within N ms after them (default 60000; 408)\n"
      "  --idle-timeout-ms N      a kept-alive connection with no request is closed (default 5000)\n"
      "  --send-timeout-ms N      a client that reads nothing of its answer for N ms is dropped (default 30000)\n",
      stderr);
}

// Appends the comma-separated items of `list`.
void split(const std::string& list, std::vector<std::string>& out) {
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) out.push_back(list.substr(start, comma - start));
    start = comma + 1;
  }
}

// Every connection is a descriptor: take all the process may have, and keep the connection
// limit under it (with room for the model file, the event loop and the workers).
int connection_limit(int wanted) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return wanted;
  if (r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    getrlimit(RLIMIT_NOFILE, &r);
  }
  if (r.rlim_cur == RLIM_INFINITY) return wanted;
  const long long room = static_cast<long long>(r.rlim_cur) - 64;
  if (room < wanted) {
    std::fprintf(stderr, "qwen-server: --max-connections %d is more than the %lld file descriptors allow; using %lld\n", wanted,
                 static_cast<long long>(r.rlim_cur), std::max(1LL, room));
  }
  return static_cast<int>(std::max(1LL, std::min<long long>(wanted, room)));
}

bool parse_int(const char* s, long long lo, long long hi, long long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtoll(s, &end, 10);
  return errno == 0 && end != s && *end == '\0' && out >= lo && out <= hi;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qwenedge;
  server::ServerOptions options;
  server::http::ListenerOptions& conn = options.connections;
  using ms = std::chrono::milliseconds;
  std::string model_path;
  long long threads = 0, context = 0, grace_ms = 30000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      usage();
      return 0;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "qwen-server: %s needs a value (or is unknown)\n", a.c_str());
      usage();
      return 2;
    }
    const char* v = argv[++i];
    long long n = 0;
    auto number = [&](long long lo, long long hi) {
      if (!parse_int(v, lo, hi, n)) {
        std::fprintf(stderr, "qwen-server: %s %s: expected an integer in [%lld, %lld]\n", a.c_str(), v, lo, hi);
        std::exit(2);
      }
      return n;
    };
    if (a == "-m" || a == "--model") model_path = v;
    else if (a == "--host") options.host = v;
    else if (a == "--port") options.port = static_cast<int>(number(0, 65535));
    else if (a == "--slots") options.scheduler.slots = static_cast<int>(number(1, 256));
    else if (a == "--step-tokens") options.scheduler.step_tokens = static_cast<int>(number(1, 4096));
    else if (a == "--ctx") context = number(16, 1 << 24);
    else if (a == "--threads") threads = number(1, 1024);
    else if (a == "--api-key") options.api_key = v;
    else if (a == "--max-queue") options.scheduler.max_queue = static_cast<int>(number(0, 100000));
    else if (a == "--max-body") conn.parser.max_body = static_cast<size_t>(number(1024, 1LL << 32));
    else if (a == "--max-messages") options.limits.max_messages = static_cast<size_t>(number(0, 1 << 24));
    else if (a == "--max-tools") options.limits.max_tools = static_cast<size_t>(number(0, 1 << 24));
    else if (a == "--allowed-hosts") split(v, options.allowed_hosts);
    else if (a == "--cors-origin") split(v, options.cors_origins);
    else if (a == "--max-connections") conn.max_connections = static_cast<int>(number(1, 1 << 20));
    else if (a == "--max-header-bytes") conn.parser.max_head = static_cast<size_t>(number(1024, 1 << 24));
    else if (a == "--max-headers") conn.parser.max_headers = static_cast<size_t>(number(1, 100000));
    else if (a == "--header-timeout-ms") conn.header_timeout = ms(number(1, 3600000));
    else if (a == "--body-timeout-ms") conn.body_timeout = ms(number(1, 3600000));
    else if (a == "--idle-timeout-ms") conn.idle_timeout = ms(number(1, 3600000));
    else if (a == "--send-timeout-ms") conn.send_timeout = ms(number(1, 3600000));
    else if (a == "--max-prompt-tokens") options.limits.max_prompt_tokens = number(1, 1 << 24);
    else if (a == "--max-tokens-limit") options.limits.max_tokens_limit = static_cast<int>(number(1, 1 << 24));
    else if (a == "--shutdown-grace-ms") grace_ms = number(0, 3600000);
    else {
      std::fprintf(stderr, "qwen-server: unknown option %s\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (model_path.empty()) {
    usage();
    return 2;
  }

  // Every thread started from here on inherits this mask: the signals are taken by sigwait on
  // the thread below, never delivered to a worker in the middle of a step.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up is a failed write, not a dead server

  try {
    conn.max_connections = connection_limit(conn.max_connections);
    const Model model = Model::load(model_path, {.threads = static_cast<int>(threads), .context = context});
    for (const std::string& w : model.info().warnings) std::fprintf(stderr, "qwen-server: warning: %s\n", w.c_str());
    options.scheduler.threads = static_cast<int>(threads);
    options.scheduler.context = model.options().context;
    options.model_id = std::filesystem::path(model_path).stem().string();
    server::HttpServer http(model, options);
    if (!http.bind()) {
      std::fprintf(stderr, "qwen-server: cannot listen on %s:%d\n", options.host.c_str(), options.port);
      return 1;
    }
    std::fprintf(stderr, "qwen-server: %s (%s, %s) on http://%s:%d/ — %d slots of %lld tokens\n", options.model_id.c_str(),
                 model.info().weight_type.c_str(), model.info().isa.c_str(), options.host.c_str(), http.port(),
                 options.scheduler.slots, static_cast<long long>(options.scheduler.context));
    std::printf("listening on port %d\n", http.port());
    std::fflush(stdout);

    std::atomic<bool> stopping{false};
    std::thread signal_thread([&] {
      int sig = 0;
      sigwait(&signals, &sig);
      if (stopping.exchange(true)) return;  // woken by main: the server stopped by itself
      std::fprintf(stderr, "qwen-server: %s, finishing running requests\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      std::thread([signals] {
        int again = 0;
        sigwait(&signals, &again);
        std::fputs("qwen-server: second signal, exiting now\n", stderr);
        std::_Exit(1);
      }).detach();
      http.shutdown(static_cast<int>(grace_ms));
    });
    http.serve();
    // serve() also returns when the listener fails; wake the signal thread so it can be joined.
    if (!stopping.exchange(true)) pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
    std::fprintf(stderr, "qwen-server: stopped\n");
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "qwen-server: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwen-server: %s\n", e.what());
    return 1;
  }
}
