// tiny-qwen2-kjv: a trained Qwen2 model with goldens from an independent implementation.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/runtime/forward.hpp"
#include "engine/runtime/forward_ref.hpp"
#include "engine/runtime/weights.hpp"
#include "test_util.hpp"

using namespace qwenedge;
using namespace qwenedge::detail;

namespace {

const std::string kKjvDir = std::string(QWENEDGE_SHARED_DIR) + "/models/tiny-qwen2-kjv";

bool have_kjv(const std::string& type) {
  if (test::have_fixture("kjv." + type + ".gguf")) return true;
  WARN("skipped: " << kKjvDir << " not found (set QWENEDGE_SHARED_DIR to the shared data folder)");
  return false;
}

const nlohmann::json& goldens() {
  static const nlohmann::json j = [] {
    std::ifstream in(kKjvDir + "/goldens.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

// Perplexity, on the fast forward pass, as goldens.json defines it: non-overlapping 256-token input windows, each scored
// with in-window context only. Window k reads ids[256k, 256k+256) and predicts the ids one
// position later, so every token but the very first is scored once (31263 of 31264).
// `max_windows` < 0: all.
double perplexity(const LoadedModel& m, int max_windows) {
  const std::vector<uint8_t> bytes = test::read_bytes(kKjvDir + "/validation.u32");
  std::vector<int32_t> ids(bytes.size() / 4);
  std::memcpy(ids.data(), bytes.data(), ids.size() * 4);
  const size_t W = 256, V = static_cast<size_t>(m.config.vocab_size);
  std::vector<float> logits(W * V);
  Forward forward(m, static_cast<int64_t>(W));
  double nll = 0;
  size_t scored = 0;
  int windows = 0;
  for (size_t start = 0; start + 1 < ids.size() && (max_windows < 0 || windows < max_windows); start += W, ++windows) {
    const size_t n = std::min(W, ids.size() - 1 - start);
    KvCache cache(m.config, static_cast<int64_t>(W));
    const SequenceStep step{&cache, std::span<const int32_t>(&ids[start], n), logits.data(), true};
    forward.run(std::span<const SequenceStep>(&step, 1), 2);
    // log-sum-exp of each position's 151936 logits: fp32 exp (about 1 ulp) summed in fp64, the
    // positions split over the threads.
    double window_nll = 0;
#pragma omp parallel for reduction(+ : window_nll) schedule(static)
    for (size_t t = 0; t < n; ++t) {
      const float* row = &logits[t * V];
      const float mx = *std::max_element(row, row + V);
      double sum = 0;
      for (size_t i = 0; i < V; ++i) sum += std::exp(row[i] - mx);
      window_nll += std::log(sum) + mx - row[ids[start + t + 1]];
    }
    nll += window_nll;
    scored += n;
  }
  return std::exp(nll / static_cast<double>(scored));
}

}  // namespace

TEST_CASE("kjv: greedy continuations and top-10 logits match the goldens", "[kjv]") {
  for (const char* type : {"f32", "bf16"}) {
    if (!have_kjv(type)) return;
    const LoadedModel m = load_model(test::fixture(std::string("kjv.") + type + ".gguf"));
    const size_t V = static_cast<size_t>(m.config.vocab_size);
    for (const auto& p : goldens()["prompts"]) {
      const auto prompt = p["prompt_ids"].get<std::vector<int32_t>>();
      const auto want = p["greedy_ids"].get<std::vector<int32_t>>();
      RefKvCache cache(m.config, static_cast<int64_t>(prompt.size() + want.size()));
      std::vector<float> logits(V);
      forward_reference(m, cache, prompt, logits.data(), false);

      const auto top_ids = p["last_prompt_logits_top10"]["ids"].get<std::vector<int32_t>>();
      const auto top_logits = p["last_prompt_logits_top10"]["logits"].get<std::vector<float>>();
      for (size_t i = 0; i < top_ids.size(); ++i) {
        INFO(type << " prompt \"" << p["prompt"].get<std::string>() << "\" top-10 #" << i);
        CHECK(std::fabs(logits[static_cast<size_t>(top_ids[i])] - top_logits[i]) <= 1e-3);
      }
      std::vector<int32_t> got;
      for (size_t step = 0; step < want.size(); ++step) {
        const auto next = static_cast<int32_t>(test::argmax(logits.data(), V));
        got.push_back(next);
        forward_reference(m, cache, std::span<const int32_t>(&next, 1), logits.data(), false);
      }
      INFO(type << " prompt \"" << p["prompt"].get<std::string>() << "\"");
      CHECK(got == want);
    }
  }
}

TEST_CASE("kjv: all logits of the first prompt match", "[kjv]") {
  if (!have_kjv("f32")) return;
  const LoadedModel m = load_model(test::fixture("kjv.f32.gguf"));
  const auto& g = goldens();
  const auto prompt = g["prompts"][0]["prompt_ids"].get<std::vector<int32_t>>();
  RefKvCache cache(m.config, 64);
  std::vector<float> logits(static_cast<size_t>(m.config.vocab_size));
  forward_reference(m, cache, prompt, logits.data(), false);
  const auto& all = g["first_prompt_last_position_logits"];
  REQUIRE(all.contains("logits"));
  const auto want = all["logits"].get<std::vector<float>>();
  REQUIRE(want.size() == logits.size());
  double max_diff = 0;
  for (size_t i = 0; i < want.size(); ++i) max_diff = std::max(max_diff, std::fabs(static_cast<double>(logits[i]) - want[i]));
  WARN("kjv f32: max |logit - golden| over all 151936 logits = " << max_diff);
  CHECK(max_diff <= 1e-3);
}

// On trained weights quantization is far gentler than on random ones: compare the logits of the
// last prompt position of every golden prompt with the f32 model's.
TEST_CASE("kjv: quantized logits agree with f32 on trained weights", "[kjv][quantization]") {
  if (!have_kjv("f32") || !have_kjv("q8_0")) return;
  const LoadedModel f32 = load_model(test::fixture("kjv.f32.gguf"));
  const size_t V = static_cast<size_t>(f32.config.vocab_size);
  for (const char* type : {"q8_0", "q4_0"}) {
    const LoadedModel q = load_model(test::fixture(std::string("kjv.") + type + ".gguf"));
    double min_cos = 1.0;
    int same_top1 = 0, n = 0;
    for (const auto& p : goldens()["prompts"]) {
      const auto prompt = p["prompt_ids"].get<std::vector<int32_t>>();
      std::vector<float> a(V), b(V);
      RefKvCache ca(f32.config, 64), cb(q.config, 64);
      forward_reference(f32, ca, prompt, a.data(), false);
      forward_reference(q, cb, prompt, b.data(), false);
      min_cos = std::min(min_cos, test::cosine(a.data(), b.data(), V));
      same_top1 += test::argmax(a.data(), V) == test::argmax(b.data(), V);
      ++n;
    }
    WARN("kjv " << type << " vs f32: min cosine " << min_cos << ", top-1 agreement " << same_top1 << "/" << n);
    CHECK(min_cos >= (std::string(type) == "q8_0" ? 0.999 : 0.99));
    CHECK(same_top1 >= n - 1);
  }
}

TEST_CASE("kjv: validation perplexity, and what quantization costs", "[kjv][slow]") {
  if (!have_kjv("f32")) return;
  const double golden = goldens()["validation"]["val"]["ppl"].get<double>();
  const double f32 = perplexity(load_model(test::fixture("kjv.f32.gguf")), -1);
  WARN("kjv perplexity: golden " << golden << ", f32 " << f32);
  CHECK(std::fabs(f32 - golden) / golden <= 1e-3);
  const double q8 = perplexity(load_model(test::fixture("kjv.q8_0.gguf")), -1);
  const double q4 = perplexity(load_model(test::fixture("kjv.q4_0.gguf")), -1);
  WARN("kjv perplexity: Q8_0 " << q8 << " (+" << 100 * (q8 / f32 - 1) << "%), Q4_0 " << q4 << " (+" << 100 * (q4 / f32 - 1) << "%)");
  CHECK(q8 / f32 - 1 <= 0.01);
  CHECK(q4 / f32 - 1 <= 0.08);
}
