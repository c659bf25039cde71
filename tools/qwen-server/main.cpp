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
      "  --shutdown-grace-ms N    how long a shutdown waits for running answers (default 30000)\n",
      stderr);
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
    else if (a == "--max-body") options.max_body = static_cast<size_t>(number(1024, 1LL << 32));
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
    const Model model = Model::load(model_path, {.threads = static_cast<int>(threads), .context = context});
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
