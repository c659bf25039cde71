// qwen-bench: measures a model file (qwenedge::run_bench) and prints a table or JSON.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench.hpp"
#include "qwenedge/error.hpp"

namespace {

constexpr const char* kUsage = R"(usage: qwen-bench -m MODEL.gguf [options]

Prefill (ppN: one forward pass over N prompt tokens) and decode (tgN: N one-token steps, each
feeding back the argmax) speed in tokens/s, mean ± standard deviation over the repetitions,
which are interleaved so that a noisy host affects every row alike. The machine's streaming
read bandwidth is measured in the same run, per thread count, and decode is shown as a share of
the limit it sets (weight bytes read per token / bandwidth). Also: load time, time to first
token (load + the shortest prompt), peak resident memory.

  -m, --model PATH      GGUF model file (required)
  -p, --prompt LIST     prompt lengths, comma-separated (default 16,128,512; "" or 0: none)
  -n, --gen LIST        decode lengths (default 128; "" or 0: none)
  -t, --threads LIST    thread counts (default 1,2)
  -d, --depth LIST      context depths: each row runs again on a KV cache already holding that
                        many positions (default 0; e.g. 0,1024,4096 for later turns of a chat)
  -r, --reps N          repetitions (default 3)
  --bandwidth-mib N     bandwidth test buffer in MiB (default 1024; 0: skip)
  --json                print JSON instead of the table
  -v, --verbose         one progress line per measurement on stderr
  -h, --help            this text
)";

[[noreturn]] void usage_error(const std::string& msg) {
  throw qwenedge::Error(qwenedge::ErrorCode::kInvalidArgument, msg);
}

int parse_int(const std::string& opt, const std::string& v, int lo, int hi) {
  char* end = nullptr;
  const long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || n < lo || n > hi) {
    usage_error(opt + " expects an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got \"" + v + "\"");
  }
  return static_cast<int>(n);
}

std::vector<int> parse_list(const std::string& opt, const std::string& v, int lo) {
  std::vector<int> out;
  if (v.empty() || v == "0") return out;
  size_t start = 0;
  while (start <= v.size()) {
    const size_t comma = v.find(',', start);
    const std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    out.push_back(parse_int(opt, item, lo, 65536));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  qwenedge::BenchOptions opt;
  opt.threads = {1, 2};
  bool json = false, verbose = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) usage_error(a + " needs a value");
        return argv[++i];
      };
      if (a == "-h" || a == "--help") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (a == "-m" || a == "--model") {
        opt.model_path = value();
      } else if (a == "-p" || a == "--prompt") {
        opt.prompt_lengths = parse_list(a, value(), 1);
      } else if (a == "-n" || a == "--gen") {
        opt.decode_lengths = parse_list(a, value(), 1);
      } else if (a == "-t" || a == "--threads") {
        opt.threads = parse_list(a, value(), 1);
        if (opt.threads.empty()) usage_error(a + " needs at least one thread count");
      } else if (a == "-d" || a == "--depth") {
        const std::string v = value();
        opt.depths = v == "0" ? std::vector<int>{0} : parse_list(a, v, 0);
        if (opt.depths.empty()) usage_error(a + " needs at least one depth");
      } else if (a == "-r" || a == "--reps") {
        opt.repetitions = parse_int(a, value(), 1, 1000);
      } else if (a == "--bandwidth-mib") {
        opt.bandwidth_bytes = int64_t{parse_int(a, value(), 0, 1 << 20)} << 20;
      } else if (a == "--json") {
        json = true;
      } else if (a == "-v" || a == "--verbose") {
        verbose = true;
      } else {
        usage_error((!a.empty() && a[0] == '-' ? "unknown option " : "unexpected argument ") + a);
      }
    }
    if (opt.model_path.empty()) usage_error("no model: pass -m MODEL.gguf");
  } catch (const qwenedge::Error& e) {
    std::fprintf(stderr, "qwen-bench: %s\n(see qwen-bench --help)\n", e.what());
    return 2;
  }
  if (verbose) opt.on_progress = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  try {
    const qwenedge::BenchReport r = qwenedge::run_bench(opt);
    std::fputs((json ? qwenedge::format_bench_json(r) : qwenedge::format_bench_table(r)).c_str(), stdout);
  } catch (const qwenedge::Error& e) {
    std::fprintf(stderr, "qwen-bench: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwen-bench: unexpected error: %s\n", e.what());
    return 1;
  }
  return 0;
}
