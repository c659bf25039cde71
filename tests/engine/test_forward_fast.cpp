// The fast forward pass (SIMD kernels, fp16 KV cache, one parallel region) against the scalar
// reference, on every ISA this machine runs, for every weight type; and the kjv goldens.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/runtime/forward.hpp"
#include "engine/runtime/forward_ref.hpp"
#include "kernels/isa.hpp"
#include "forward_util.hpp"
#include "test_util.hpp"

using namespace qwenedge;
using namespace qwenedge::detail;

namespace {

std::vector<float> reference_logits(const LoadedModel& m, const std::vector<int32_t>& ids) {
  return test::reference_logits(m, ids);
}

std::vector<float> fast_logits(const LoadedModel& m, const std::vector<int32_t>& ids, const kernels::KernelTable& k,
                               int threads, int64_t chunk) {
  int64_t size = 0;
  std::vector<float> logits = test::fast_logits(m, ids, k, threads, chunk, &size);
  CHECK(size == static_cast<int64_t>(ids.size()));
  return logits;
}

}  // namespace

TEST_CASE("Fast forward matches the reference on every ISA and weight type", "[forward-fast]") {
  const std::vector<int32_t> ids = test::read_ids(test::fixture("tokens.txt"));
  // Float weights differ from the reference only by the fp16 KV cache and summation order; the
  // integer paths also quantize activations to int8 blocks.
  const std::vector<std::pair<std::string, double>> models = {
      {"tiny-f32.f32.gguf", 5e-3}, {"tiny-f32.f16.gguf", 5e-3}, {"tiny-f32.bf16.gguf", 5e-3},
      {"tiny-f32.q8_0.gguf", 3e-2}, {"tiny-f32.q4_0.gguf", 3e-2}, {"tiny-untied.q4_0.gguf", 3e-2}};
  for (const auto& [name, tol] : models) {
    const LoadedModel m = load_model(test::fixture(name));
    const std::vector<float> ref = reference_logits(m, ids);
    for (kernels::Isa isa : kernels::available_isas()) {
      const auto& k = kernels::kernels_for(isa);
      const std::vector<float> fast = fast_logits(m, ids, k, 2, 512);
      const double err = test::max_rel_error(fast, ref);
      INFO(name << " on " << kernels::isa_name(isa) << ": max relative error " << err);
      CHECK(err <= tol);
      WARN(name << " fast[" << kernels::isa_name(isa) << "] vs reference: max relative error " << err);
    }
  }
}

TEST_CASE("Weights packed at load give the same logits bit for bit", "[forward-fast]") {
  const std::vector<int32_t> ids = test::read_ids(test::fixture("tokens.txt"));
  for (const char* name : {"tiny-f32.q8_0.gguf", "tiny-untied.q4_0.gguf", "kjv.q8_0.gguf", "kjv.q4_0.gguf"}) {
    for (kernels::Isa isa : kernels::available_isas()) {
      const auto& k = kernels::kernels_for(isa);
      if (!k.reads_packed) continue;
      const LoadedModel plain = load_model(test::fixture(name));
      LoadedModel packed = load_model(test::fixture(name));
      pack_weights(packed, k, 2);
      INFO(name << " on " << kernels::isa_name(isa));
      REQUIRE(packed.weights.layers[0].w_down.packed != nullptr);
      REQUIRE(packed.weights.output.packed != nullptr);
      // A tied table is looked up in the packed head; an untied one in the file.
      const bool tied = packed.weights.token_embd.data == packed.weights.output.data;
      REQUIRE((packed.weights.token_embd.packed != nullptr) == tied);
      CHECK(fast_logits(packed, ids, k, 2, 512) == fast_logits(plain, ids, k, 2, 512));
      CHECK(fast_logits(packed, ids, k, 1, 5) == fast_logits(plain, ids, k, 1, 5));
    }
  }
}

TEST_CASE("Fast forward: thread count, chunking and decode steps do not change the numbers", "[forward-fast]") {
  const std::vector<int32_t> ids = test::read_ids(test::fixture("tokens.txt"));
  for (const char* name : {"tiny-f32.q8_0.gguf", "tiny-untied.q4_0.gguf", "tiny-f32.f16.gguf"}) {
    const LoadedModel m = load_model(test::fixture(name));
    const auto& k = kernels::kernels_for(kernels::best_isa());
    const std::vector<float> base = fast_logits(m, ids, k, 2, 512);
    CHECK(fast_logits(m, ids, k, 1, 512) == base);
    CHECK(fast_logits(m, ids, k, 3, 512) == base);
    CHECK(fast_logits(m, ids, k, 2, 7) == base);  // prefill split into chunks of 7 tokens

    // One token at a time through the decode path.
    Forward f(m, 512, &k);
    KvCache cache(m.config, 80);
    const size_t V = static_cast<size_t>(m.config.vocab_size);
    std::vector<float> step_logits(V);
    double max_diff = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      const SequenceStep s{&cache, std::span<const int32_t>(&ids[t], 1), step_logits.data(), false};
      f.run(std::span<const SequenceStep>(&s, 1), 2);
      for (size_t i = 0; i < V; ++i) max_diff = std::max(max_diff, std::fabs(static_cast<double>(step_logits[i]) - base[t * V + i]));
    }
    INFO(name << ": max |prefill - decode| " << max_diff);
    CHECK(max_diff <= 1e-5);
  }
}

TEST_CASE("Fast forward: batched decode of several sequences equals each run alone", "[forward-fast]") {
  const std::vector<int32_t> ids = test::read_ids(test::fixture("tokens.txt"));
  const LoadedModel m = load_model(test::fixture("tiny-f32.q8_0.gguf"));
  const size_t V = static_cast<size_t>(m.config.vocab_size);
  Forward f(m);
  // Three sequences with different histories (10, 20, 30 tokens), then one step together.
  std::vector<KvCache> caches(3, KvCache(m.config, 64));
  std::vector<float> sink(V);
  for (size_t s = 0; s < 3; ++s) {
    const SequenceStep p{&caches[s], std::span<const int32_t>(ids.data() + s, 10 * (s + 1)), sink.data(), false};
    f.run(std::span<const SequenceStep>(&p, 1), 2);
  }
  std::vector<KvCache> alone = caches;
  std::vector<float> together(3 * V), single(V);
  std::vector<SequenceStep> steps;
  for (size_t s = 0; s < 3; ++s) steps.push_back({&caches[s], std::span<const int32_t>(&ids[50 + s], 1), &together[s * V], false});
  f.run(steps, 2);
  for (size_t s = 0; s < 3; ++s) {
    const SequenceStep p{&alone[s], std::span<const int32_t>(&ids[50 + s], 1), single.data(), false};
    f.run(std::span<const SequenceStep>(&p, 1), 2);
    CHECK(std::equal(single.begin(), single.end(), together.begin() + static_cast<std::ptrdiff_t>(s * V)));
    CHECK(caches[s].size() == static_cast<int64_t>(10 * (s + 1) + 1));
  }
}

TEST_CASE("Fast forward: prompts of several sequences in one step equal each run alone", "[forward-fast]") {
  // Attention tiles hold up to 8 consecutive tokens of one sequence: prompts of 5, 1 and 13
  // tokens, after histories of 0, 20 and 7 tokens, put sequence changes inside what would
  // otherwise be one tile. Every token's logits must equal its sequence's run alone.
  const std::vector<int32_t> ids = test::read_ids(test::fixture("tokens.txt"));
  const LoadedModel m = load_model(test::fixture("tiny-f32.q8_0.gguf"));
  const auto V = static_cast<size_t>(m.config.vocab_size);
  const size_t history[] = {0, 20, 7}, prompt[] = {5, 1, 13};
  for (int threads : {1, 2, 3}) {
    Forward f(m);
    std::vector<KvCache> caches(3, KvCache(m.config, 64));
    std::vector<float> sink(V);
    for (size_t s = 0; s < 3; ++s) {
      if (history[s] == 0) continue;
      const SequenceStep p{&caches[s], std::span<const int32_t>(ids.data() + 10 * s, history[s]), sink.data(), false};
      f.run(std::span<const SequenceStep>(&p, 1), threads);
    }
    std::vector<KvCache> alone = caches;
    std::vector<std::vector<float>> together(3), single(3);
    std::vector<SequenceStep> steps;
    for (size_t s = 0; s < 3; ++s) {
      together[s].resize(prompt[s] * V);
      single[s].resize(prompt[s] * V);
      steps.push_back({&caches[s], std::span<const int32_t>(&ids[40 + 3 * s], prompt[s]), together[s].data(), true});
    }
    f.run(steps, threads);
    for (size_t s = 0; s < 3; ++s) {
      const SequenceStep p{&alone[s], std::span<const int32_t>(&ids[40 + 3 * s], prompt[s]), single[s].data(), true};
      f.run(std::span<const SequenceStep>(&p, 1), threads);
      double max_diff = 0;
      for (size_t i = 0; i < single[s].size(); ++i) {
        max_diff = std::max(max_diff, std::fabs(static_cast<double>(single[s][i]) - together[s][i]));
      }
      INFO("threads " << threads << ", sequence " << s << ": max |together - alone| " << max_diff);
      CHECK(std::equal(single[s].begin(), single[s].end(), together[s].begin()));
      CHECK(caches[s].size() == static_cast<int64_t>(history[s] + prompt[s]));
    }
  }
}

TEST_CASE("Fast forward reproduces the kjv greedy goldens", "[forward-fast][kjv]") {
  const std::string dir = std::string(QWENEDGE_SHARED_DIR) + "/models/tiny-qwen2-kjv";
  if (!test::have_fixture("kjv.f32.gguf")) {
    WARN("skipped: " << dir << " not found");
    return;
  }
  std::ifstream in(dir + "/goldens.json");
  const nlohmann::json g = nlohmann::json::parse(in);
  for (const char* type : {"f32", "bf16", "q8_0"}) {
    const LoadedModel m = load_model(test::fixture(std::string("kjv.") + type + ".gguf"));
    const size_t V = static_cast<size_t>(m.config.vocab_size);
    Forward f(m);
    int matched = 0, total = 0;
    for (const auto& p : g["prompts"]) {
      const auto prompt = p["prompt_ids"].get<std::vector<int32_t>>();
      const auto want = p["greedy_ids"].get<std::vector<int32_t>>();
      KvCache cache(m.config, 64);
      std::vector<float> logits(V);
      SequenceStep s{&cache, prompt, logits.data(), false};
      f.run(std::span<const SequenceStep>(&s, 1), 2);
      std::vector<int32_t> got;
      for (size_t i = 0; i < want.size(); ++i) {
        got.push_back(static_cast<int32_t>(test::argmax(logits.data(), V)));
        s.tokens = std::span<const int32_t>(&got.back(), 1);
        f.run(std::span<const SequenceStep>(&s, 1), 2);
      }
      matched += got == want;
      ++total;
      if (std::string(type) != "q8_0") {
        INFO(type << " prompt \"" << p["prompt"].get<std::string>() << "\"");
        CHECK(got == want);
      }
    }
    WARN("kjv " << type << " fast path: " << matched << "/" << total << " greedy continuations identical to the goldens");
  }
}
