// qwen-cli: chat with a Qwen2 model in the terminal, or answer one prompt.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "qwenedge/qwenedge.hpp"

namespace {

constexpr const char* kUsage = R"(usage: qwen-cli -m MODEL.gguf [options]

Chat with a Qwen2 model. With -p, answers one prompt and exits; without it, starts an
interactive chat that reads your messages from standard input (one per line).

  -m, --model FILE        GGUF model file (required)
  -p, --prompt TEXT       answer TEXT and exit (the chat template is applied)
      --raw               with -p: plain completion of TEXT, no chat template
      --system TEXT       system prompt (default: the model's own, "You are Qwen, ...")
  -n, --max-tokens N      longest answer in tokens (default 512)
  -c, --context N         context length in tokens (default 4096, or the model's limit if smaller)
  -t, --threads N         threads (default: the machine's physical cores)
      --temp X            temperature; 0 = greedy (default: the model's, 0.7 for Qwen2.5-Instruct)
      --top-k N           keep the N most likely tokens; 0 = off (model default: 20)
      --top-p X           nucleus sampling mass in (0, 1] (model default: 0.8)
      --min-p X           drop tokens below X times the best one's probability (default 0)
      --repeat-penalty X  repetition penalty, 1 = off (model default: 1.1)
      --repeat-last-n N   tokens the repetition penalty looks back over; -1 = all (default 64)
      --presence-penalty X, --frequency-penalty X   OpenAI-style penalties in [-2, 2] (default 0)
      --seed N            random seed, for reproducible sampling (default: random)
      --stop TEXT         stop when TEXT is generated (may be repeated)
      --stats             after each answer: time to first token, prefill and decode speed, peak memory
  -h, --help              this text

In the chat: /reset starts a new conversation, /exit (or Ctrl-D) quits, and Ctrl-C stops the
answer being generated without quitting.

Exit status: 0 on success, 1 when the model cannot be loaded or generation fails, 2 for bad options.
)";

std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted = true; }

struct Options {
  std::string model, prompt, system;
  bool has_prompt = false, raw = false, stats = false;
  int threads = 0;
  int64_t context = 0;
  qwenedge::GenerateOptions gen;
};

[[noreturn]] void usage_error(const std::string& msg) {
  std::fprintf(stderr, "qwen-cli: %s\n(see qwen-cli --help)\n", msg.c_str());
  std::exit(2);
}

template <typename T>
T number(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    T v;
    if constexpr (std::is_floating_point_v<T>) v = static_cast<T>(std::stod(text, &used));
    else if constexpr (std::is_unsigned_v<T>) v = static_cast<T>(std::stoull(text, &used));
    else v = static_cast<T>(std::stoll(text, &used));
    if (used != text.size()) throw std::invalid_argument(text);
    return v;
  } catch (const std::exception&) {
    usage_error(flag + " needs a number, got \"" + text + "\"");
  }
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "-m" || a == "--model") o.model = value();
    else if (a == "-p" || a == "--prompt") o.prompt = value(), o.has_prompt = true;
    else if (a == "--raw") o.raw = true;
    else if (a == "--system") o.system = value();
    else if (a == "-n" || a == "--max-tokens") o.gen.max_tokens = number<int>(a, value());
    else if (a == "-c" || a == "--context") o.context = number<int64_t>(a, value());
    else if (a == "-t" || a == "--threads") o.threads = number<int>(a, value());
    else if (a == "--temp") o.gen.temperature = number<float>(a, value());
    else if (a == "--top-k") o.gen.top_k = number<int>(a, value());
    else if (a == "--top-p") o.gen.top_p = number<float>(a, value());
    else if (a == "--min-p") o.gen.min_p = number<float>(a, value());
    else if (a == "--repeat-penalty") o.gen.repetition_penalty = number<float>(a, value());
    else if (a == "--repeat-last-n") o.gen.repeat_last_n = number<int>(a, value());
    else if (a == "--presence-penalty") o.gen.presence_penalty = number<float>(a, value());
    else if (a == "--frequency-penalty") o.gen.frequency_penalty = number<float>(a, value());
    else if (a == "--seed") o.gen.seed = number<uint64_t>(a, value());
    else if (a == "--stop") o.gen.stop.push_back(value());
    else if (a == "--stats") o.stats = true;
    else usage_error("unknown option " + a);
  }
  if (o.model.empty()) usage_error("no model given (-m MODEL.gguf)");
  if (o.raw && !o.has_prompt) usage_error("--raw needs -p");
  if (o.threads < 0) usage_error("-t must be at least 1");
  if (o.context < 0) usage_error("-c must be at least 1");
  return o;
}

void print_stats(const qwenedge::Result& r) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const qwenedge::Timings& t = r.timings;
  std::fprintf(stderr,
               "[stats] prompt %lld tokens (%lld reused from cache, %lld computed) | TTFT %.1f ms | prefill %.1f tok/s | "
               "decode %.1f tok/s (%lld tokens) | finish %s | peak RSS %.1f MiB\n",
               static_cast<long long>(t.prompt_tokens), static_cast<long long>(t.cached_tokens),
               static_cast<long long>(t.prefilled_tokens), t.ttft_ms, t.prefill_tokens_per_s(), t.decode_tokens_per_s(),
               static_cast<long long>(t.generated_tokens), qwenedge::finish_reason_name(r.finish),
               static_cast<double>(ru.ru_maxrss) / 1024.0);
}

qwenedge::StreamCallback printer() {
  return [](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    return !g_interrupted.load();
  };
}

int interactive(qwenedge::Session& session, const Options& o) {
  const bool tty = isatty(STDIN_FILENO) != 0;
  std::vector<qwenedge::Message> messages;
  if (!o.system.empty()) messages.push_back({"system", o.system, {}});
  if (tty) std::fprintf(stderr, "Chat with %s. /reset starts over, /exit quits, Ctrl-C stops an answer.\n",
                        session.model().info().name.c_str());
  std::string line;
  while (true) {
    if (tty) std::fputs("> ", stdout), std::fflush(stdout);
    g_interrupted = false;
    if (!std::getline(std::cin, line)) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      messages.resize(o.system.empty() ? 0 : 1);
      session.reset();
      std::fputs("(new conversation)\n", stdout);
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line, {}});
    try {
      const qwenedge::Result r = session.chat(messages, o.gen, printer());
      std::fputc('\n', stdout);
      if (r.finish == qwenedge::FinishReason::kCancelled) std::fputs("(stopped)\n", stdout);
      messages.push_back({"assistant", r.text, {}});
      if (o.stats) print_stats(r);
    } catch (const qwenedge::Error& e) {
      std::fprintf(stderr, "\nqwen-cli: %s\n", e.what());
      messages.pop_back();
      if (e.code() != qwenedge::ErrorCode::kInvalidArgument) return 1;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESTART;  // a Ctrl-C at the prompt does not end the read
  sigaction(SIGINT, &sa, nullptr);

  try {
    const qwenedge::Model model = qwenedge::Model::load(o.model, {.threads = o.threads, .context = o.context});
    for (const std::string& w : model.info().warnings) std::fprintf(stderr, "qwen-cli: warning: %s\n", w.c_str());
    qwenedge::Session session(model);
    if (!o.has_prompt) return interactive(session, o);

    qwenedge::Result r;
    if (o.raw) {
      r = session.complete(o.prompt, o.gen, printer());
    } else {
      std::vector<qwenedge::Message> messages;
      if (!o.system.empty()) messages.push_back({"system", o.system, {}});
      messages.push_back({"user", o.prompt, {}});
      r = session.chat(messages, o.gen, printer());
    }
    std::fputc('\n', stdout);
    if (o.stats) print_stats(r);
    return 0;
  } catch (const qwenedge::Error& e) {
    std::fprintf(stderr, "qwen-cli: %s\n", e.what());
    return e.code() == qwenedge::ErrorCode::kInvalidArgument ? 2 : 1;
  }
}
