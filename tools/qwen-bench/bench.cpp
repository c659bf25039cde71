// run_bench: prefill / decode speed of a model file against the machine's read bandwidth, on
// the public step level (qwenedge::Engine, qwenedge::Sequence).
#include "bench.hpp"

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
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>

#include "qwenedge/error.hpp"
#include "qwenedge/model.hpp"
#include "qwenedge/step.hpp"

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

int32_t argmax(std::span<const float> v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

// A model loaded for one repetition: one Sequence whose cache holds the longest row, and one
// Engine per thread count (each has its own workers and scratch), made on first use.
struct Instance {
  Model model;
  int64_t max_step_tokens;  // of every Engine
  Sequence seq;
  std::map<int, Engine> engines;
  // The cache holds positions [0, valid) of the fill prompt (prompt_tokens of the deepest depth);
  // rows at depth d start from cache size d and overwrite what follows.
  std::vector<int32_t> fill;
  int64_t valid = 0;

  Engine& engine(int threads) {
    auto it = engines.find(threads);
    if (it == engines.end()) {
      it = engines.try_emplace(threads, model, EngineOptions{.threads = threads, .max_step_tokens = max_step_tokens}).first;
    }
    return it->second;
  }
};

// Everything before the first step can run: the model, the cache and the Engine of the largest
// thread count, which takes the first token.
std::unique_ptr<Instance> load_instance(const std::string& path, int64_t max_chunk, int64_t context, int threads) {
  Model model = Model::load(path, {.threads = threads, .context = context, .prefetch = true});
  Sequence seq(model, context);
  auto in = std::make_unique<Instance>(Instance{std::move(model), std::max<int64_t>(1, max_chunk), std::move(seq), {}, {}, 0});
  in->engine(threads);
  return in;
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

// Makes positions [0, d) of the cache the fill prompt's, prefilling what a shallower row
// overwrote (not timed).
void fill_to(Instance& in, int64_t d, int threads) {
  if (d <= in.valid) return;
  in.seq.truncate(in.valid);
  const std::span<const int32_t> rest(in.fill.data() + in.valid, static_cast<size_t>(d - in.valid));
  in.engine(threads).step({{.sequence = &in.seq, .tokens = rest, .logits = Logits::kNone}});
  in.valid = d;
}

// Positions [0, d) of the fill prompt in the cache and nothing after them.
void start_at(Instance& in, int64_t d, int threads) {
  fill_to(in, d, threads);
  in.seq.truncate(d);
  in.valid = d;
}

// One prefill of `tokens` on top of the first `d` positions; returns ms.
double prefill(Instance& in, int64_t d, const std::vector<int32_t>& tokens, int threads) {
  start_at(in, d, threads);
  Engine& engine = in.engine(threads);
  const auto t0 = Clock::now();
  engine.step({{.sequence = &in.seq, .tokens = tokens}});
  return ms_since(t0);
}

// `n` decode steps on top of the first `d` positions, each feeding back the argmax; returns ms.
double decode(Instance& in, int64_t d, int n, int threads) {
  start_at(in, d, threads);
  Engine& engine = in.engine(threads);
  int32_t tok = static_cast<int32_t>(151643 % in.model.info().vocab_size);
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    engine.step({{.sequence = &in.seq, .tokens = std::span<const int32_t>(&tok, 1)}});
    tok = argmax(in.seq.logits());
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


// One benchmark run: the repetitions, each a fresh load, and the samples they collect.
class Runner {
 public:
  explicit Runner(const BenchOptions& o);
  BenchReport run();

 private:
  void plan_rows();
  void measure_bandwidth(int r);
  std::unique_ptr<Instance> load_to_first_token(int r);
  void describe(const Instance& in);
  void measure_rows(int r, Instance& in);
  void summarize();
  void summarize_row(size_t i);
  void progress(const std::string& s) const {
    if (o_.on_progress) o_.on_progress(s);
  }

  const BenchOptions& o_;
  BenchReport rep_;
  int max_threads_ = 1, min_p_ = 1, max_d_ = 0;
  int64_t max_chunk_ = 1;
  std::vector<std::vector<double>> row_ms_, bw_;
  std::vector<double> load_ms_, first_ms_;
  int64_t peak_kib_ = 0;
};

Runner::Runner(const BenchOptions& o) : o_(o), bw_(o.threads.size()) {
  auto max_of = [](const std::vector<int>& v, int none) { return v.empty() ? none : *std::max_element(v.begin(), v.end()); };
  max_threads_ = max_of(o.threads, 1);
  min_p_ = o.prompt_lengths.empty() ? 1 : *std::min_element(o.prompt_lengths.begin(), o.prompt_lengths.end());
  max_d_ = max_of(o.depths, 0);
  const int max_p = max_of(o.prompt_lengths, 0);
  rep_.model_path = o.model_path;
  rep_.context = max_d_ + std::max({max_p, max_of(o.decode_lengths, 0), kWarmupSteps}) + 1;
  // Engine scratch: the longest prompt in one pass, and at least 512 tokens a pass for filling
  // deep caches.
  max_chunk_ = std::max(max_p, std::min(max_d_, 512));
  rep_.first_token_prompt = min_p_;
  rep_.first_token_threads = max_threads_;
  plan_rows();
}

// Row order: every ppN then every tgN, per depth (deepest first: the shallower rows then never
// need the cache refilled), per thread count.
void Runner::plan_rows() {
  std::vector<int> depths = o_.depths;
  std::sort(depths.rbegin(), depths.rend());
  depths.erase(std::unique(depths.begin(), depths.end()), depths.end());
  for (int t : o_.threads) {
    for (int d : depths) {
      for (int p : o_.prompt_lengths) rep_.rows.push_back({"pp" + std::to_string(p), t, p, d, {}, {}, 0.0, 0.0});
      for (int n : o_.decode_lengths) rep_.rows.push_back({"tg" + std::to_string(n), t, n, d, {}, {}, 0.0, 0.0});
    }
  }
  row_ms_.resize(rep_.rows.size());
}

BenchReport Runner::run() {
  warm_page_cache(o_.model_path);
  for (int r = 0; r < o_.repetitions; ++r) {
    measure_bandwidth(r);
    std::unique_ptr<Instance> in = load_to_first_token(r);
    if (r == 0) describe(*in);
    measure_rows(r, *in);
    peak_kib_ = std::max(peak_kib_, peak_rss_kib());
  }
  summarize();
  return rep_;
}

// Bandwidth first, with no model mapped; its buffer is gone before the peak is reset.
void Runner::measure_bandwidth(int r) {
  if (o_.bandwidth_bytes <= 0) return;
  for (size_t i = 0; i < o_.threads.size(); ++i) {
    bw_[i].push_back(measure_read_bandwidth(o_.bandwidth_bytes, o_.threads[i]));
    progress("rep " + std::to_string(r + 1) + ": read bandwidth, " + std::to_string(o_.threads[i]) + " threads: " +
             std::to_string(bw_[i].back()) + " GB/s");
  }
  if (!reset_peak_rss()) rep_.peak_rss_exact = false;
}

// Load to first token: a fresh load each repetition (warm page cache).
std::unique_ptr<Instance> Runner::load_to_first_token(int r) {
  const auto t0 = Clock::now();
  std::unique_ptr<Instance> in = load_instance(o_.model_path, max_chunk_, rep_.context, max_threads_);
  load_ms_.push_back(ms_since(t0));
  const int64_t vocab = in->model.info().vocab_size;
  prefill(*in, 0, prompt_tokens(min_p_, vocab), max_threads_);
  volatile int32_t first = argmax(in->seq.logits());
  (void)first;
  first_ms_.push_back(ms_since(t0));
  in->fill = prompt_tokens(max_d_, vocab);
  progress("rep " + std::to_string(r + 1) + ": load " + std::to_string(load_ms_.back()) + " ms, first token " +
           std::to_string(first_ms_.back()) + " ms");
  return in;
}

void Runner::describe(const Instance& in) {
  const ModelInfo& info = in.model.info();
  rep_.model_type = info.weight_type;
  rep_.isa = info.isa;
  rep_.file_bytes = info.file_bytes;
  rep_.parameters = info.parameters;
  rep_.weight_bytes_per_token = info.decode_bytes;
  rep_.kv_cache_bytes = in.seq.kv_bytes();
}

void Runner::measure_rows(int r, Instance& in) {
  const int64_t vocab = in.model.info().vocab_size;
  for (size_t i = 0; i < rep_.rows.size(); ++i) {
    const BenchRow& row = rep_.rows[i];
    if (i == 0 || rep_.rows[i - 1].threads != row.threads) {
      decode(in, in.valid, kWarmupSteps, row.threads);  // spin the team up
    }
    const bool pp = row.test[0] == 'p';
    const double ms = pp ? prefill(in, row.depth, prompt_tokens(row.tokens, vocab), row.threads)
                         : decode(in, row.depth, row.tokens, row.threads);
    row_ms_[i].push_back(ms);
    progress("rep " + std::to_string(r + 1) + ": " + row.test + " t" + std::to_string(row.threads) + " d" +
             std::to_string(row.depth) + ": " + std::to_string(1000.0 * row.tokens / ms) + " tok/s");
  }
}

void Runner::summarize() {
  rep_.load_ms = stat_of(load_ms_);
  rep_.first_token_ms = stat_of(first_ms_);
  rep_.peak_rss_mib = static_cast<double>(peak_kib_) / 1024.0;
  for (size_t i = 0; i < o_.threads.size(); ++i) {
    if (!bw_[i].empty()) rep_.bandwidth_gbs.emplace_back(o_.threads[i], stat_of(bw_[i]));
  }
  for (size_t i = 0; i < rep_.rows.size(); ++i) summarize_row(i);
}

// Decode rows are set against the bandwidth of their own thread count.
void Runner::summarize_row(size_t i) {
  BenchRow& row = rep_.rows[i];
  std::vector<double> tps;
  for (double ms : row_ms_[i]) tps.push_back(1000.0 * row.tokens / ms);
  row.tokens_per_s = stat_of(tps);
  row.ms = stat_of(row_ms_[i]);
  if (row.test[0] != 't' || rep_.weight_bytes_per_token == 0) return;
  for (const auto& [t, s] : rep_.bandwidth_gbs) {
    if (t != row.threads || s.mean <= 0.0) continue;
    row.limit_tokens_per_s = s.mean * 1e9 / static_cast<double>(rep_.weight_bytes_per_token);
    row.fraction_of_limit = row.tokens_per_s.mean / row.limit_tokens_per_s;
  }
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

BenchReport run_bench(const BenchOptions& options) {
  check_options(options);
  return Runner(options).run();
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
