// run_bench: prefill / decode speed of a model file against the machine's read bandwidth.
#include "qwenedge/bench.hpp"

#ifdef _OPENMP
#include <omp.h>
#else
// Built without OpenMP (QWENEDGE_OPENMP=OFF, e.g. under ThreadSanitizer): one thread measures.
static int omp_get_num_threads() { return 1; }
static int omp_get_thread_num() { return 0; }
#endif
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/forward.hpp"
#include "engine/kv_cache.hpp"
#include "engine/weights.hpp"
#include "qwenedge/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace qwenedge {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

BenchStat stat_of(std::vector<double> v) {
  BenchStat s;
  s.samples = std::move(v);
  if (s.samples.empty()) return s;
  double sum = 0.0;
  for (double x : s.samples) sum += x;
  s.mean = sum / static_cast<double>(s.samples.size());
  if (s.samples.size() > 1) {
    double sq = 0.0;
    for (double x : s.samples) sq += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(sq / static_cast<double>(s.samples.size() - 1));
  }
  return s;
}

// Peak resident set (VmHWM) in KiB from /proc/self/status; 0 when unavailable.
int64_t peak_rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return 0;
}

// Resets VmHWM to the current RSS (Linux clear_refs "5"); false when not permitted.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

// Weight bytes one decode step streams: every layer matrix and the output head (one embedding
// row is negligible and not counted).
uint64_t matrix_bytes(const WeightView& w) { return static_cast<uint64_t>(w.rows) * w.row_bytes; }
uint64_t decode_bytes(const ModelWeights& w) {
  uint64_t b = matrix_bytes(w.output);
  for (const LayerWeights& l : w.layers) {
    b += matrix_bytes(l.wq) + matrix_bytes(l.wk) + matrix_bytes(l.wv) + matrix_bytes(l.wo) + matrix_bytes(l.w_gate) +
         matrix_bytes(l.w_up) + matrix_bytes(l.w_down);
  }
  return b;
}

uint64_t parameter_count(const LoadedModel& m) {
  auto n = [](const WeightView& w) { return static_cast<uint64_t>(w.rows * w.cols); };
  const ModelConfig& c = m.config;
  uint64_t p = n(m.weights.token_embd) + static_cast<uint64_t>(c.hidden);
  if (!c.tied_embeddings) p += n(m.weights.output);
  for (const LayerWeights& l : m.weights.layers) {
    p += n(l.wq) + n(l.wk) + n(l.wv) + n(l.wo) + n(l.w_gate) + n(l.w_up) + n(l.w_down);
    p += static_cast<uint64_t>(2 * c.hidden + c.q_dim() + 2 * c.kv_dim());
  }
  return p;
}

int32_t argmax(const float* v, int64_t n) {
  return static_cast<int32_t>(std::max_element(v, v + n) - v);
}

// A model loaded for one repetition, with its step scratch and a cache for the longest row.
struct Instance {
  LoadedModel model;
  std::optional<tokenizer::Tokenizer> tokenizer;  // built as Model::load builds it, for its time
  std::unique_ptr<Forward> forward;
  std::unique_ptr<KvCache> cache;
  std::vector<float> logits;
};

// Loads as Model::load does: mapped, validated, the weights repacked for the kernels (or, read in
// place, mapped in) while the tokenizer is built.
std::unique_ptr<Instance> load_instance(const std::string& path, int64_t max_chunk, int64_t context, int threads) {
  auto inst = std::make_unique<Instance>(Instance{load_model(path), {}, nullptr, nullptr, {}});
  inst->model.file.prefetch();
  prepare_weights(inst->model, kernels::active_kernels(), threads, true, [&] { inst->tokenizer.emplace(inst->model.vocab); });
  inst->forward = std::make_unique<Forward>(inst->model, std::max<int64_t>(1, max_chunk));
  inst->cache = std::make_unique<KvCache>(inst->model.config, context);
  inst->logits.resize(static_cast<size_t>(inst->model.config.vocab_size));
  return inst;
}

// Deterministic prompt ids, spread over the vocabulary's ordinary tokens.
std::vector<int32_t> prompt_tokens(int n, int64_t vocab) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  uint64_t s = 12345;
  const uint64_t range = static_cast<uint64_t>(std::min<int64_t>(vocab, 151643));
  for (auto& id : t) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    id = static_cast<int32_t>((s >> 33) % range);
  }
  return t;
}

// Decode steps run before each thread count's first row, so its workers are up and warm.
constexpr int kWarmupSteps = 4;

// The KV cache of an instance holds positions [0, valid) of the fill prompt (prompt_tokens of the
// deepest depth); rows at depth d start from cache size d and overwrite what follows.
struct Depth {
  std::vector<int32_t> tokens;  // the fill prompt
  int64_t valid = 0;
};

// Makes positions [0, d) of the cache the fill prompt's, prefilling what a shallower row
// overwrote (not timed).
void fill_to(Instance& in, Depth& depth, int64_t d, int threads) {
  if (d <= depth.valid) return;
  in.cache->resize(depth.valid);
  const std::span<const int32_t> rest(depth.tokens.data() + depth.valid, static_cast<size_t>(d - depth.valid));
  const SequenceStep step{in.cache.get(), rest, nullptr, false};
  in.forward->run(std::span<const SequenceStep>(&step, 1), threads);
  depth.valid = d;
}

// One prefill of `tokens` on top of the first `d` positions; returns ms.
double prefill(Instance& in, Depth& depth, int64_t d, const std::vector<int32_t>& tokens, int threads) {
  fill_to(in, depth, d, threads);
  in.cache->resize(d);
  depth.valid = d;
  const SequenceStep step{in.cache.get(), tokens, in.logits.data(), false};
  const auto t0 = Clock::now();
  in.forward->run(std::span<const SequenceStep>(&step, 1), threads);
  return ms_since(t0);
}

// `n` decode steps on top of the first `d` positions, each feeding back the argmax; returns ms.
double decode(Instance& in, Depth& depth, int64_t d, int n, int threads) {
  fill_to(in, depth, d, threads);
  in.cache->resize(d);
  depth.valid = d;
  int32_t tok = 151643 % static_cast<int32_t>(in.model.config.vocab_size);
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    const SequenceStep step{in.cache.get(), std::span<const int32_t>(&tok, 1), in.logits.data(), false};
    in.forward->run(std::span<const SequenceStep>(&step, 1), threads);
    tok = argmax(in.logits.data(), in.model.config.vocab_size);
  }
  return ms_since(t0);
}

// Reads the file once so that every repetition's load finds it in the page cache.
void warm_page_cache(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> buf(size_t{1} << 20);
  while (f.read(buf.data(), static_cast<std::streamsize>(buf.size())) || f.gcount() > 0) {
  }
}

void check_options(const BenchOptions& o) {
  auto bad = [](const std::string& m) { throw Error(ErrorCode::kInvalidArgument, "bench: " + m); };
  if (o.model_path.empty()) bad("no model path");
  if (o.repetitions < 1) bad("repetitions must be >= 1, got " + std::to_string(o.repetitions));
  if (o.threads.empty()) bad("no thread counts");
  for (size_t i = 0; i < o.threads.size(); ++i) {
    const int t = o.threads[i];
    if (t < 1 || t > 1024) bad("thread count " + std::to_string(t) + " is not in [1, 1024]");
    if (std::find(o.threads.begin(), o.threads.begin() + static_cast<std::ptrdiff_t>(i), t) != o.threads.begin() + static_cast<std::ptrdiff_t>(i)) {
      bad("thread count " + std::to_string(t) + " is listed twice");
    }
  }
  for (int p : o.prompt_lengths) if (p < 1 || p > 65536) bad("prompt length " + std::to_string(p) + " is not in [1, 65536]");
  for (int n : o.decode_lengths) if (n < 1 || n > 65536) bad("decode length " + std::to_string(n) + " is not in [1, 65536]");
  if (o.prompt_lengths.empty() && o.decode_lengths.empty()) bad("nothing to measure (no -p and no -n)");
  if (o.depths.empty()) bad("no depths");
  for (int d : o.depths) if (d < 0 || d > 65536) bad("depth " + std::to_string(d) + " is not in [0, 65536]");
  if (o.bandwidth_bytes < 0) bad("negative bandwidth buffer size");
}

}  // namespace

double measure_read_bandwidth(int64_t bytes, int threads, int passes) {
  const int64_t words = std::max<int64_t>(bytes / 8 / 64 * 64, 64);
  const auto size = static_cast<size_t>(words * 8);
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) throw Error(ErrorCode::kIo, "bench: cannot map " + std::to_string(size) + " bytes for the bandwidth test");
  madvise(mem, size, MADV_HUGEPAGE);
  auto* w = static_cast<uint64_t*>(mem);
  double best = 0.0;
  uint64_t sink = 0;
  const int nt = std::max(1, threads);
#pragma omp parallel num_threads(nt)
  {
    // Each thread touches the slice it will read (first touch places it, faults it in).
    const int64_t per = words / omp_get_num_threads() / 64 * 64;
    const int64_t b = omp_get_thread_num() * per;
    const int64_t e = omp_get_thread_num() == omp_get_num_threads() - 1 ? words : b + per;
    for (int64_t i = b; i < e; ++i) w[i] = static_cast<uint64_t>(i);
  }
  for (int pass = 0; pass < std::max(1, passes); ++pass) {
    uint64_t total = 0;
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(nt) reduction(+ : total)
    {
      const int64_t per = words / omp_get_num_threads() / 64 * 64;
      const int64_t b = omp_get_thread_num() * per;
      const int64_t e = omp_get_thread_num() == omp_get_num_threads() - 1 ? words : b + per;
      // Eight independent sums: the compiler keeps them in vector registers, one load each.
      uint64_t s[8] = {};
      for (int64_t i = b; i < e; i += 8) {
        for (int j = 0; j < 8; ++j) s[j] += w[i + j];
      }
      for (uint64_t v : s) total += v;
    }
    const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
    sink += total;
    best = std::max(best, static_cast<double>(size) / sec / 1e9);
  }
  munmap(mem, size);
  // The sum is data-dependent, so the reads cannot be elided; a never-true test keeps it live.
  if (sink == 1) best += 0.0;
  return best;
}

BenchReport run_bench(const BenchOptions& o) {
  check_options(o);
  BenchReport rep;
  rep.model_path = o.model_path;
  const int max_threads = *std::max_element(o.threads.begin(), o.threads.end());
  const int max_p = o.prompt_lengths.empty() ? 0 : *std::max_element(o.prompt_lengths.begin(), o.prompt_lengths.end());
  const int min_p = o.prompt_lengths.empty() ? 1 : *std::min_element(o.prompt_lengths.begin(), o.prompt_lengths.end());
  const int max_n = o.decode_lengths.empty() ? 0 : *std::max_element(o.decode_lengths.begin(), o.decode_lengths.end());
  const int max_d = *std::max_element(o.depths.begin(), o.depths.end());
  rep.context = max_d + std::max({max_p, max_n, kWarmupSteps}) + 1;
  // Prefill chunks: the longest prompt, and at least 512 tokens for filling deep caches.
  const int max_chunk = std::max(max_p, std::min(max_d, 512));
  rep.first_token_prompt = min_p;
  rep.first_token_threads = max_threads;

  warm_page_cache(o.model_path);

  // Row order: every ppN then every tgN, per depth (deepest first: the shallower rows then never
  // need the cache refilled), per thread count.
  std::vector<int> depths = o.depths;
  std::sort(depths.rbegin(), depths.rend());
  depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
  for (int t : o.threads) {
    for (int d : depths) {
      for (int p : o.prompt_lengths) rep.rows.push_back({"pp" + std::to_string(p), t, p, d, {}, {}, 0.0, 0.0});
      for (int n : o.decode_lengths) rep.rows.push_back({"tg" + std::to_string(n), t, n, d, {}, {}, 0.0, 0.0});
    }
  }
  std::vector<std::vector<double>> row_ms(rep.rows.size());
  std::vector<std::vector<double>> bw(o.threads.size());
  std::vector<double> load_ms, first_ms;
  int64_t peak_kib = 0;
  auto progress = [&](const std::string& s) { if (o.on_progress) o.on_progress(s); };

  for (int r = 0; r < o.repetitions; ++r) {
    // Bandwidth first, with no model mapped; its buffer is gone before the peak is reset.
    if (o.bandwidth_bytes > 0) {
      for (size_t i = 0; i < o.threads.size(); ++i) {
        bw[i].push_back(measure_read_bandwidth(o.bandwidth_bytes, o.threads[i]));
        progress("rep " + std::to_string(r + 1) + ": read bandwidth, " + std::to_string(o.threads[i]) + " threads: " +
                 std::to_string(bw[i].back()) + " GB/s");
      }
      if (!reset_peak_rss()) rep.peak_rss_exact = false;
    }
    // Load to first token: a fresh load each repetition (warm page cache).
    const auto t0 = Clock::now();
    std::unique_ptr<Instance> in = load_instance(o.model_path, max_chunk, rep.context, max_threads);
    load_ms.push_back(ms_since(t0));
    Depth depth{prompt_tokens(max_d, in->model.config.vocab_size), 0};
    {
      const std::vector<int32_t> p = prompt_tokens(min_p, in->model.config.vocab_size);
      prefill(*in, depth, 0, p, max_threads);
      volatile int32_t first = argmax(in->logits.data(), in->model.config.vocab_size);
      (void)first;
      first_ms.push_back(ms_since(t0));
    }
    progress("rep " + std::to_string(r + 1) + ": load " + std::to_string(load_ms.back()) + " ms, first token " +
             std::to_string(first_ms.back()) + " ms");
    if (r == 0) {
      rep.model_type = gguf::tensor_type_name(in->model.weights.layers.empty() ? in->model.weights.output.type
                                                                               : in->model.weights.layers[0].wq.type);
      rep.isa = std::string(kernels::isa_name(in->forward->kernels().isa));
      rep.file_bytes = in->model.file.file_size();
      rep.parameters = parameter_count(in->model);
      rep.weight_bytes_per_token = decode_bytes(in->model.weights);
      rep.kv_cache_bytes = in->cache->bytes();
    }
    for (size_t i = 0; i < rep.rows.size(); ++i) {
      BenchRow& row = rep.rows[i];
      if (i == 0 || rep.rows[i - 1].threads != row.threads) {
        decode(*in, depth, depth.valid, kWarmupSteps, row.threads);  // spin the team up
      }
      const bool pp = row.test[0] == 'p';
      const double ms = pp ? prefill(*in, depth, row.depth, prompt_tokens(row.tokens, in->model.config.vocab_size), row.threads)
                           : decode(*in, depth, row.depth, row.tokens, row.threads);
      row_ms[i].push_back(ms);
      progress("rep " + std::to_string(r + 1) + ": " + row.test + " t" + std::to_string(row.threads) + " d" +
               std::to_string(row.depth) + ": " + std::to_string(1000.0 * row.tokens / ms) + " tok/s");
    }
    peak_kib = std::max(peak_kib, peak_rss_kib());
  }

  rep.load_ms = stat_of(load_ms);
  rep.first_token_ms = stat_of(first_ms);
  rep.peak_rss_mib = static_cast<double>(peak_kib) / 1024.0;
  for (size_t i = 0; i < o.threads.size(); ++i) {
    if (!bw[i].empty()) rep.bandwidth_gbs.emplace_back(o.threads[i], stat_of(bw[i]));
  }
  for (size_t i = 0; i < rep.rows.size(); ++i) {
    BenchRow& row = rep.rows[i];
    std::vector<double> tps;
    for (double ms : row_ms[i]) tps.push_back(1000.0 * row.tokens / ms);
    row.tokens_per_s = stat_of(tps);
    row.ms = stat_of(row_ms[i]);
    if (row.test[0] == 't' && rep.weight_bytes_per_token > 0) {
      for (const auto& [t, s] : rep.bandwidth_gbs) {
        if (t != row.threads || s.mean <= 0.0) continue;
        row.limit_tokens_per_s = s.mean * 1e9 / static_cast<double>(rep.weight_bytes_per_token);
        row.fraction_of_limit = row.tokens_per_s.mean / row.limit_tokens_per_s;
      }
    }
  }
  return rep;
}

std::string format_bench_table(const BenchReport& r) {
  std::ostringstream s;
  char buf[512];
  const double mib = 1024.0 * 1024.0;
  std::snprintf(buf, sizeof buf, "model   %s: %s, %.1f MiB, %.1f M parameters, kernels %s\n", r.model_path.c_str(),
                r.model_type.c_str(), static_cast<double>(r.file_bytes) / mib, static_cast<double>(r.parameters) / 1e6,
                r.isa.c_str());
  s << buf;
  std::snprintf(buf, sizeof buf, "decode  reads %.1f MB of weights per token\n", static_cast<double>(r.weight_bytes_per_token) / 1e6);
  s << buf;
  for (const auto& [t, b] : r.bandwidth_gbs) {
    std::snprintf(buf, sizeof buf, "memory  streaming read, %d thread%s: %.1f ± %.1f GB/s -> decode limit %.1f tok/s\n", t,
                  t == 1 ? "" : "s", b.mean, b.stddev,
                  r.weight_bytes_per_token ? b.mean * 1e9 / static_cast<double>(r.weight_bytes_per_token) : 0.0);
    s << buf;
  }
  std::snprintf(buf, sizeof buf, "load    %.1f ± %.1f ms; first token (pp%d prompt, %d thread%s) %.1f ± %.1f ms after load start\n",
                r.load_ms.mean, r.load_ms.stddev, r.first_token_prompt, r.first_token_threads,
                r.first_token_threads == 1 ? "" : "s", r.first_token_ms.mean, r.first_token_ms.stddev);
  s << buf;
  std::snprintf(buf, sizeof buf, "memory  peak RSS %.1f MiB%s = file %.1f MiB + KV cache %.1f MiB (%lld positions) + %.1f MiB\n",
                r.peak_rss_mib, r.peak_rss_exact ? "" : " (includes the bandwidth buffer)",
                static_cast<double>(r.file_bytes) / mib, static_cast<double>(r.kv_cache_bytes) / mib,
                static_cast<long long>(r.context),
                r.peak_rss_mib - static_cast<double>(r.file_bytes + static_cast<uint64_t>(r.kv_cache_bytes)) / mib);
  s << buf;
  s << "\n| test   | threads |   depth |          tok/s |    ms/run | ms/token | % of bandwidth limit |\n"
       "|--------|--------:|--------:|---------------:|----------:|---------:|---------------------:|\n";
  for (const BenchRow& row : r.rows) {
    char pct[64] = "";
    if (row.limit_tokens_per_s > 0.0) {
      std::snprintf(pct, sizeof pct, "%.0f%% of %.1f tok/s", 100.0 * row.fraction_of_limit, row.limit_tokens_per_s);
    }
    std::snprintf(buf, sizeof buf, "| %-6s | %7d | %7d | %7.1f ± %4.1f | %9.1f | %8.2f | %20s |\n", row.test.c_str(), row.threads,
                  row.depth, row.tokens_per_s.mean, row.tokens_per_s.stddev, row.ms.mean, row.ms.mean / row.tokens, pct);
    s << buf;
  }
  return s.str();
}

std::string format_bench_json(const BenchReport& r) {
  auto stat = [](const BenchStat& b) { return nlohmann::json{{"mean", b.mean}, {"stddev", b.stddev}, {"samples", b.samples}}; };
  nlohmann::json j;
  j["model"] = r.model_path;
  j["type"] = r.model_type;
  j["isa"] = r.isa;
  j["file_bytes"] = r.file_bytes;
  j["parameters"] = r.parameters;
  j["weight_bytes_per_token"] = r.weight_bytes_per_token;
  j["kv_cache_bytes"] = r.kv_cache_bytes;
  j["context"] = r.context;
  j["load_ms"] = stat(r.load_ms);
  j["first_token_ms"] = stat(r.first_token_ms);
  j["first_token_prompt"] = r.first_token_prompt;
  j["first_token_threads"] = r.first_token_threads;
  j["peak_rss_mib"] = r.peak_rss_mib;
  j["peak_rss_exact"] = r.peak_rss_exact;
  j["bandwidth_gbs"] = nlohmann::json::array();
  for (const auto& [t, b] : r.bandwidth_gbs) {
    nlohmann::json e = stat(b);
    e["threads"] = t;
    j["bandwidth_gbs"].push_back(e);
  }
  j["rows"] = nlohmann::json::array();
  for (const BenchRow& row : r.rows) {
    j["rows"].push_back({{"test", row.test}, {"threads", row.threads}, {"tokens", row.tokens}, {"depth", row.depth},
                         {"tokens_per_s", stat(row.tokens_per_s)}, {"ms", stat(row.ms)},
                         {"limit_tokens_per_s", row.limit_tokens_per_s}, {"fraction_of_limit", row.fraction_of_limit}});
  }
  return j.dump(2) + "\n";
}

}  // namespace qwenedge
