// Benchmarking a model file: prefill and decode speed, time to first token, load time, peak
// memory, and decode speed as a fraction of the machine's streaming read bandwidth measured in
// the same run. qwen-bench's harness, on the public API only (qwenedge/model.hpp, step.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace qwenedge {

struct BenchOptions {
  std::string model_path;
  std::vector<int> prompt_lengths{16, 128, 512};  // one ppN row each (0 entries: no prefill rows)
  std::vector<int> decode_lengths{128};           // one tgN row each
  std::vector<int> threads{1};                    // every row is measured at each count (distinct)
  // Context depths: each row is measured again on top of a KV cache already holding that many
  // positions (0: an empty cache), as a long chat's later turns run.
  std::vector<int> depths{0};
  int repetitions = 3;                            // samples per row, interleaved across rows
  // Streaming read bandwidth: bytes summed per measurement (0 = skip the measurement).
  int64_t bandwidth_bytes = int64_t{1} << 30;
  std::function<void(const std::string&)> on_progress;  // one line per finished measurement
};

struct BenchStat {
  double mean = 0.0;
  double stddev = 0.0;  // sample standard deviation (0 with one sample)
  std::vector<double> samples;
};

struct BenchRow {
  std::string test;          // "pp512", "tg128"
  int threads = 1;
  int tokens = 0;
  int depth = 0;             // positions already in the KV cache when the row starts
  BenchStat tokens_per_s;
  BenchStat ms;              // wall time of the whole prefill / decode run
  // Decode rows: weight bytes read per token / bandwidth of the same thread count, and what
  // that makes of the measured speed (0 for prefill rows or without a bandwidth measurement).
  double limit_tokens_per_s = 0.0;
  double fraction_of_limit = 0.0;
};

struct BenchReport {
  std::string model_path;
  std::string model_type;        // storage type of the FFN matrices, e.g. "Q8_0"
  std::string isa;               // kernels in use
  uint64_t file_bytes = 0;
  uint64_t parameters = 0;
  uint64_t weight_bytes_per_token = 0;  // matrix bytes one decode step reads (layers + head)
  int64_t kv_cache_bytes = 0;           // the cache the benchmark allocates (longest row)
  int64_t context = 0;                  // its capacity in positions
  // Everything before the first step can run: Model::load (open, map, validate, prefetch, repack,
  // tokenizer, ModelInfo) + the Sequence's KV cache + the Engine of the largest thread count.
  // Model::load's own bookkeeping (ModelInfo) counts too, so it is a little more than the weights
  // and scratch alone; the name stays load_ms.
  BenchStat load_ms;
  BenchStat first_token_ms;      // load + prefill of the shortest prompt (warm page cache)
  int first_token_prompt = 0;    // that prompt's length
  int first_token_threads = 0;
  std::vector<std::pair<int, BenchStat>> bandwidth_gbs;  // per thread count, GB/s (1e9 bytes/s)
  double peak_rss_mib = 0.0;     // while the model runs (bandwidth buffers excluded)
  bool peak_rss_exact = true;    // false when the bandwidth buffers could not be excluded
  std::vector<BenchRow> rows;
};

// Runs the benchmark. Throws qwenedge::Error for a bad option or model file.
BenchReport run_bench(const BenchOptions& options);

// A human-readable table, and the same figures as one JSON object.
std::string format_bench_table(const BenchReport& report);
std::string format_bench_json(const BenchReport& report);

// Streaming read bandwidth in GB/s: sums `bytes` of memory with `threads` threads (the buffer is
// allocated, touched, read `passes` times and freed; the best pass counts).
double measure_read_bandwidth(int64_t bytes, int threads, int passes = 3);

}  // namespace qwenedge
