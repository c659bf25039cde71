// Kernel micro-benchmarks at the real Qwen2.5-0.5B shapes, for every ISA this machine runs.
//
//   build-kern/benchmarks/bench_kernels --benchmark_filter='matvec/.*q8_0'   (GB/s of weights)
//   build-kern/benchmarks/bench_kernels --benchmark_filter='matmul/'         (GFLOP/s, tok/s)
//   build-kern/benchmarks/bench_kernels --benchmark_filter='stream_read'     (the bandwidth bar)
//   build-kern/benchmarks/bench_kernels --benchmark_filter='attention/'      (decode, prefill tiles)
//
// Matrix-vector benchmarks, and matrix-matrix ones of up to 16 tokens (batched decode), rotate
// through enough copies of the matrix (>= 256 MiB) that every call streams its weights from DRAM,
// as decode does; compare their GB/s with stream_read's.
// Threads: "/threads:2" runs the kernel on two OpenMP threads, each over its row_slice().
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernels.hpp"

namespace qk = qwenedge::kernels;

namespace {

constexpr int64_t kColdBytes = int64_t{256} << 20;

struct Shape {
  const char* name;
  int64_t rows, cols;
};
// attn_q / attn_o, attn_k / attn_v, ffn_gate / ffn_up, ffn_down, the tied output head.
constexpr Shape kShapes[] = {{"896x896", 896, 896},
                             {"128x896", 128, 896},
                             {"4864x896", 4864, 896},
                             {"896x4864", 896, 4864},
                             {"151936x896", 151936, 896}};

// Copies of one random matrix, stored as `type`, enough of them to overflow the caches.
struct ColdMatrix {
  std::vector<std::unique_ptr<uint8_t[]>> copies;
  std::vector<std::unique_ptr<uint8_t[]>> packed;  // the load-time layout of each copy, if asked
  std::vector<qk::Matrix> views;
  int64_t bytes = 0;
};

ColdMatrix make_cold(qk::WeightType type, int64_t rows, int64_t cols, bool cold, bool packed) {
  ColdMatrix cm;
  cm.bytes = rows * qk::row_bytes(type, cols);
  const int64_t n = cold ? std::max<int64_t>(1, (kColdBytes + cm.bytes - 1) / cm.bytes) : 1;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> row(static_cast<size_t>(cols));
  auto first = std::make_unique<uint8_t[]>(static_cast<size_t>(cm.bytes));
  const int64_t rb = qk::row_bytes(type, cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = dist(rng);
    uint8_t* dst = first.get() + r * rb;
    switch (type) {
      case qk::WeightType::kF32: std::memcpy(dst, row.data(), static_cast<size_t>(rb)); break;
      case qk::WeightType::kF16:
        qk::convert_row_fp32_to_fp16(row.data(), reinterpret_cast<uint16_t*>(dst), cols);
        break;
      case qk::WeightType::kBF16:
        qk::convert_row_fp32_to_bf16(row.data(), reinterpret_cast<uint16_t*>(dst), cols);
        break;
      case qk::WeightType::kQ8_0:
        qk::quantize_row_q8_0(row.data(), reinterpret_cast<qk::BlockQ8_0*>(dst), cols);
        break;
      case qk::WeightType::kQ4_0:
        qk::quantize_row_q4_0(row.data(), reinterpret_cast<qk::BlockQ4_0*>(dst), cols);
        break;
    }
  }
  cm.copies.push_back(std::move(first));
  for (int64_t i = 1; i < n; ++i) {
    auto c = std::make_unique<uint8_t[]>(static_cast<size_t>(cm.bytes));
    std::memcpy(c.get(), cm.copies[0].get(), static_cast<size_t>(cm.bytes));
    cm.copies.push_back(std::move(c));
  }
  for (auto& c : cm.copies) {
    qk::Matrix m{type, rows, cols, c.get()};
    if (packed) {
      // The engine packs at load, and the GGUF rows are then no longer read: drop them from the
      // cold rotation's footprint by packing each copy in its place.
      auto p = std::make_unique<uint8_t[]>(static_cast<size_t>(qk::packed_matrix_bytes(m)));
      qk::pack_matrix(m, 0, rows, p.get());
      m.packed = p.get();
      cm.packed.push_back(std::move(p));
    }
    cm.views.push_back(m);
  }
  return cm;
}

void run_matmul(benchmark::State& state, const qk::KernelTable& k, qk::WeightType type,
                Shape shape, int64_t n_tokens, int threads, bool cold, bool packed) {
  const ColdMatrix cm = make_cold(type, shape.rows, shape.cols, cold, packed);
  std::mt19937 rng(2);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n_tokens * shape.cols));
  for (auto& v : x) v = dist(rng);
  std::vector<float> y(static_cast<size_t>(n_tokens * shape.rows));
  qk::ActivationBuffer buf;
  qk::quantize_activations(k, x.data(), n_tokens, shape.cols, buf);
  const qk::ActivationView view = buf.view();
  size_t next = 0;
  for (auto _ : state) {
    const qk::Matrix& m = cm.views[next];
    next = (next + 1) % cm.views.size();
#pragma omp parallel num_threads(threads)
    {
      const qk::RowRange rr = qk::row_slice(shape.rows, omp_get_num_threads(), omp_get_thread_num());
      k.matmul(m, view, y.data(), shape.rows, rr.begin, rr.end);
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double iters = static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(iters) * cm.bytes);
  const double flops = 2.0 * static_cast<double>(shape.rows * shape.cols * n_tokens);
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops * iters * 1e-9, benchmark::Counter::kIsRate);
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n_tokens) * iters, benchmark::Counter::kIsRate);
}

void run_quantize(benchmark::State& state, const qk::KernelTable& k, int64_t n_tokens, int64_t cols) {
  std::vector<float> x(static_cast<size_t>(n_tokens * cols), 0.25f);
  qk::ActivationBuffer buf;
  for (auto _ : state) {
    qk::quantize_activations(k, x.data(), n_tokens, cols, buf);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * n_tokens * cols * 4);
}

void run_elementwise(benchmark::State& state, const qk::KernelTable& k, int which, int64_t n) {
  std::vector<float> a(static_cast<size_t>(n), 0.5f), b(static_cast<size_t>(n), 1.5f),
      c(static_cast<size_t>(n));
  std::vector<uint16_t> h(static_cast<size_t>(n), 0x3c00);
  float sink = 0.0f;
  for (auto _ : state) {
    switch (which) {
      case 0: k.rmsnorm(a.data(), b.data(), c.data(), n, 1e-6f); break;
      case 1: k.silu_mul(a.data(), b.data(), c.data(), n); break;
      case 2: k.softmax(c.data(), n); break;
      case 3: sink += k.dot_f16(a.data(), h.data(), n); break;
      case 4: k.axpy_f16(0.5f, h.data(), c.data(), n); break;
      default: k.fp32_to_fp16_row(a.data(), h.data(), n); break;
    }
    benchmark::DoNotOptimize(sink);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}

// Attention of one KV head's group of 7 query heads (Qwen2.5-0.5B: 14 heads, 2 KV heads of 64
// dimensions) for `tokens` consecutive query tokens, the last at position n - 1: 1 is a decode
// step at depth n, 8 a tile of prefill. Each call reads the next of 24 layers' caches, as a
// forward pass does, so a deep cache comes from DRAM. Bytes: the head's keys and values read;
// items: token-positions attended.
void run_attention(benchmark::State& state, const qk::KernelTable& k, int64_t tokens, int64_t n) {
  constexpr int64_t kLayers = 24, kGroup = 7, kDh = 64, kStride = 2 * kDh;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> f(static_cast<size_t>(n * kStride));
  std::vector<std::vector<uint16_t>> keys, values;
  for (int64_t l = 0; l < kLayers; ++l) {
    for (auto* cache : {&keys, &values}) {
      for (auto& v : f) v = dist(rng);
      cache->emplace_back(f.size());
      qk::convert_row_fp32_to_fp16(f.data(), cache->back().data(), n * kStride);
    }
  }
  std::vector<float> q(static_cast<size_t>(tokens * kGroup * kDh)), out(q.size());
  for (auto& v : q) v = dist(rng);
  std::vector<int64_t> n_pos(static_cast<size_t>(tokens));
  int64_t attended = 0;
  for (int64_t t = 0; t < tokens; ++t) attended += n_pos[static_cast<size_t>(t)] = n - tokens + 1 + t;
  std::vector<float> scratch(static_cast<size_t>(qk::attend_scratch_floats(kGroup, n)));
  size_t l = 0;
  for (auto _ : state) {
    k.attend_f16(q.data(), n_pos.data(), tokens, kGroup * kDh, kGroup, keys[l].data(), values[l].data(), kStride, kDh,
                 0.125f, scratch.data(), out.data());
    l = (l + 1) % kLayers;
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  const int64_t iters = static_cast<int64_t>(state.iterations());
  state.SetBytesProcessed(iters * n * 2 * kDh * 2);
  state.SetItemsProcessed(iters * attended);
}

// Sum of a 1 GiB buffer of uint64: the streaming read bandwidth the matrix-vector products are
// measured against.
void stream_read(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const size_t n = (size_t{1} << 30) / 8;
  static std::unique_ptr<uint64_t[]> buf;
  if (!buf) {
    buf = std::make_unique<uint64_t[]>(n);
    for (size_t i = 0; i < n; ++i) buf[i] = i;
  }
  uint64_t total = 0;
  for (auto _ : state) {
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
      const size_t nt = static_cast<size_t>(omp_get_num_threads());
      const size_t id = static_cast<size_t>(omp_get_thread_num());
      const size_t b = n / nt * id, e = id + 1 == nt ? n : n / nt * (id + 1);
      uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (size_t i = b; i + 4 <= e; i += 4) {
        s0 += buf[i];
        s1 += buf[i + 1];
        s2 += buf[i + 2];
        s3 += buf[i + 3];
      }
      total += s0 + s1 + s2 + s3;
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n * 8));
}

const char* type_label(qk::WeightType t) {
  switch (t) {
    case qk::WeightType::kF32: return "f32";
    case qk::WeightType::kF16: return "f16";
    case qk::WeightType::kBF16: return "bf16";
    case qk::WeightType::kQ8_0: return "q8_0";
    case qk::WeightType::kQ4_0: return "q4_0";
  }
  return "?";
}

void register_all() {
  benchmark::RegisterBenchmark("stream_read", stream_read)->Arg(1)->Arg(2)->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  for (qk::Isa isa : qk::available_isas()) {
    const qk::KernelTable* k = &qk::kernels_for(isa);
    const std::string in = std::string(qk::isa_name(isa));
    const bool scalar = isa == qk::Isa::kScalar;
    for (qk::WeightType type : {qk::WeightType::kQ8_0, qk::WeightType::kQ4_0, qk::WeightType::kF16,
                                qk::WeightType::kBF16, qk::WeightType::kF32}) {
      for (const Shape& s : kShapes) {
        for (int64_t n : {1, 4, 8, 16, 128}) {
          // The scalar oracle is only timed where it finishes quickly.
          if (scalar && (n > 1 || s.rows * s.cols > 4864 * 896)) continue;
          if (!qk::is_block_quantized(type) && n > 16) continue;
          for (int threads : {1, 2}) {
            if (threads == 2 && n != 1 && n != 128) continue;
            // Matrix-vector products stream cold weights; "matvec_hot" reruns one copy that
            // stays in cache, to tell compute limits from memory limits.
            // Where the ISA reads load-time packed weights (what the engine runs), the GGUF
            // rows as stored are timed too ("gguf"), for comparison.
            const bool packs = k->reads_packed && qk::is_block_quantized(type);
            for (bool packed : {true, false}) {
              if (packed && !packs) continue;
              for (bool cold : {true, false}) {
                if (!cold && (n != 1 || threads != 1 || s.rows * s.cols > 4864 * 896)) continue;
                const std::string name =
                    std::string(n == 1 ? (cold ? "matvec/" : "matvec_hot/") : "matmul/") + in + "/" +
                    type_label(type) + (packs && !packed ? "-gguf" : "") + "/" + s.name +
                    "/batch:" + std::to_string(n) + "/threads:" + std::to_string(threads);
                benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) {
                  run_matmul(st, *k, type, s, n, threads, cold && n <= 16, packed);
                })->UseRealTime()->Unit(benchmark::kMicrosecond);
              }
            }
          }
        }
      }
    }
    for (int64_t n : {1, 128}) {
      benchmark::RegisterBenchmark(("quantize_activations/" + in + "/896/batch:" + std::to_string(n)).c_str(),
                                   [=](benchmark::State& st) { run_quantize(st, *k, n, 896); });
    }
    for (int64_t tokens : {1, 8}) {
      for (int64_t n : {256, 2048, 8192}) {
        benchmark::RegisterBenchmark(
            ("attention/" + in + "/7x64/tokens:" + std::to_string(tokens) + "/pos:" + std::to_string(n)).c_str(),
            [=](benchmark::State& st) { run_attention(st, *k, tokens, n); })
            ->Unit(benchmark::kMicrosecond);
      }
    }
    const char* names[] = {"rmsnorm", "silu_mul", "softmax", "dot_f16", "axpy_f16", "fp32_to_fp16"};
    for (int w = 0; w < 6; ++w) {
      const int64_t n = w == 1 ? 4864 : (w == 3 || w == 4 ? 64 : 896);
      benchmark::RegisterBenchmark(("elementwise/" + in + "/" + names[w] + "/" + std::to_string(n)).c_str(),
                                   [=](benchmark::State& st) { run_elementwise(st, *k, w, n); });
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
