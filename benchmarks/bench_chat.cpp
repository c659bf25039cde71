// Time to first token of a chat turn: a follow-up turn on a 1,000-token history (the session's
// KV cache reused) against a fresh one-turn request with the same number of new tokens.
//
//   build/benchmarks/bench_chat [--benchmark_repetitions=5]
// Model: QWENEDGE_BENCH_MODEL=/path/model.gguf, else a random-weight Q8_0 model of the exact
// Qwen2.5-0.5B shape is written once to $TMPDIR/qwenedge-bench-0.5b-q8_0.gguf.
// Threads: QWENEDGE_BENCH_THREADS (default: physical cores).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "qwenedge/qwenedge.hpp"
#include "qwenedge/random_model.hpp"

namespace {

const qwenedge::Model& model() {
  static const qwenedge::Model m = [] {
    std::string path;
    if (const char* p = std::getenv("QWENEDGE_BENCH_MODEL")) {
      path = p;
    } else {
      path = (std::filesystem::temp_directory_path() / "qwenedge-bench-0.5b-q8_0.gguf").string();
      if (!std::filesystem::exists(path)) {
        qwenedge::RandomModelOptions o;
        o.tokenizer_dir = std::string(QWENEDGE_SHARED_DIR) + "/qwen2.5-0.5b-instruct";
        qwenedge::write_random_model(path, o);
      }
    }
    const char* t = std::getenv("QWENEDGE_BENCH_THREADS");
    return qwenedge::Model::load(path, {.threads = t ? std::atoi(t) : 0, .context = 4096});
  }();
  return m;
}

// A user message of about n tokens (each " wordNNN" piece is two or three tokens).
std::string text_of(const qwenedge::Model& m, int n, int salt) {
  std::string s;
  for (int i = 0; static_cast<int>(m.tokenize(s).size()) < n; ++i) s += " word" + std::to_string(salt * 1000 + i);
  return s;
}

qwenedge::GenerateOptions one_token() {
  qwenedge::GenerateOptions o;
  o.max_tokens = 1;
  o.temperature = 0.0f;
  return o;
}

void BM_FreshTurn(benchmark::State& state) {
  const auto& m = model();
  const std::vector<qwenedge::Message> msgs = {{"user", text_of(m, static_cast<int>(state.range(0)), 7), {}}};
  qwenedge::Result r;
  for (auto _ : state) {
    qwenedge::Session s(m);
    r = s.chat(msgs, one_token());
    state.SetIterationTime(r.timings.ttft_ms / 1e3);
  }
  state.counters["prompt_tokens"] = static_cast<double>(r.timings.prompt_tokens);
  state.counters["computed_tokens"] = static_cast<double>(r.timings.prefilled_tokens);
}

void BM_FollowUpTurn(benchmark::State& state) {
  const auto& m = model();
  qwenedge::Session s(m);
  std::vector<qwenedge::Message> base = {{"user", text_of(m, 980, 1), {}}, {"assistant", "Understood.", {}}};
  std::vector<qwenedge::Message> turn = base;
  turn.push_back({"user", text_of(m, static_cast<int>(state.range(0)), 7), {}});
  qwenedge::Result r;
  for (auto _ : state) {
    state.PauseTiming();
    s.chat(base, one_token());  // back to the 1,000-token history (prefix reuse: one token)
    state.ResumeTiming();
    r = s.chat(turn, one_token());
    state.SetIterationTime(r.timings.ttft_ms / 1e3);
  }
  state.counters["prompt_tokens"] = static_cast<double>(r.timings.prompt_tokens);
  state.counters["cached_tokens"] = static_cast<double>(r.timings.cached_tokens);
  state.counters["computed_tokens"] = static_cast<double>(r.timings.prefilled_tokens);
}

}  // namespace

BENCHMARK(BM_FreshTurn)->Arg(32)->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FollowUpTurn)->Arg(32)->Arg(128)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
