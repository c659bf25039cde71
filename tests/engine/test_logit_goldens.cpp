// Logits pinned bit for bit: a fixed batched scenario on the kjv model (several sequences with
// prompts of different lengths in one step, then batched decode steps) hashed per ISA and weight
// type, against goldens recorded from an earlier build (tests/engine/goldens/step_logits.json).
// Restructuring the forward pass or the step API must leave every bit of every logit as it was.
//
// To record anew (only when a change is meant to alter the numbers, and say why in the commit):
//   QWENEDGE_RECORD_GOLDENS=tests/engine/goldens/step_logits.json build/tests/engine/test_engine_e2e "[goldens]"
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/runtime/forward.hpp"
#include "engine/runtime/packed_weights.hpp"
#include "engine/runtime/weights.hpp"
#include "kernels/isa.hpp"
#include "kernels/kernels.hpp"
#include "qwenedge/qwenedge.hpp"
#include "test_util.hpp"

using namespace qwenedge;
using namespace qwenedge::detail;

namespace {

const std::string kGoldens = std::string(QWENEDGE_SOURCE_DIR) + "/tests/engine/goldens/step_logits.json";
const char* const kModels[] = {"kjv.q8_0.gguf", "kjv.q4_0.gguf", "kjv.q4_0.il.gguf", "kjv.bf16.gguf", "kjv.f32.gguf"};

uint64_t fnv1a(uint64_t h, const float* data, size_t n) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n * sizeof(float); ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

std::vector<int32_t> validation_ids() {
  const std::vector<uint8_t> bytes = test::read_bytes(std::string(QWENEDGE_SHARED_DIR) + "/models/tiny-qwen2-kjv/validation.u32");
  std::vector<int32_t> ids(bytes.size() / 4);
  std::memcpy(ids.data(), bytes.data(), ids.size() * 4);
  return ids;
}

// One step of three sequences (prompts of 37, 9 and 1 tokens; every row's logits of the first,
// the last row's of the others), then six batched decode steps; the hash of every logit.
uint64_t scenario_hash(const LoadedModel& m, const kernels::KernelTable& k, int threads) {
  const std::vector<int32_t> ids = validation_ids();
  const auto V = static_cast<size_t>(m.config.vocab_size);
  Forward f(m, 16, &k);  // chunks of 16 tokens: the 47-token first step spans several
  std::vector<KvCache> caches(3, KvCache(m.config, 64));
  const size_t start[] = {0, 500, 1000}, prompt[] = {37, 9, 1};
  std::vector<float> first(prompt[0] * V), last(2 * V);
  std::vector<SequenceStep> steps = {
      {&caches[0], std::span<const int32_t>(&ids[start[0]], prompt[0]), first.data(), true},
      {&caches[1], std::span<const int32_t>(&ids[start[1]], prompt[1]), &last[0], false},
      {&caches[2], std::span<const int32_t>(&ids[start[2]], prompt[2]), &last[V], false},
  };
  f.run(steps, threads);
  uint64_t h = fnv1a(0xcbf29ce484222325ull, first.data(), first.size());
  h = fnv1a(h, last.data(), last.size());
  std::vector<float> decode(3 * V);
  for (size_t i = 0; i < 6; ++i) {
    steps.clear();
    for (size_t s = 0; s < 3; ++s) {
      steps.push_back({&caches[s], std::span<const int32_t>(&ids[start[s] + prompt[s] + i], 1), &decode[s * V], false});
    }
    f.run(steps, threads);
    h = fnv1a(h, decode.data(), decode.size());
  }
  return h;
}

// The same scenario through the public step level (Engine, Sequence, Logits), on the kernels
// the library chose: the same bits as the forward pass driven directly.
uint64_t public_scenario_hash(const std::string& path) {
  const std::vector<int32_t> ids = validation_ids();
  const Model model = Model::load(path, {.threads = 3, .context = 64});
  const auto V = static_cast<size_t>(model.info().vocab_size);
  Engine engine(model, {.threads = 3, .max_step_tokens = 16});
  std::vector<Sequence> seqs;
  for (int s = 0; s < 3; ++s) seqs.emplace_back(model, 64);
  const size_t start[] = {0, 500, 1000}, prompt[] = {37, 9, 1};
  std::vector<float> first(prompt[0] * V);
  engine.step({{&seqs[0], std::span<const int32_t>(&ids[start[0]], prompt[0]), Logits::kAll, {}, first.data()},
               {&seqs[1], std::span<const int32_t>(&ids[start[1]], prompt[1])},
               {&seqs[2], std::span<const int32_t>(&ids[start[2]], prompt[2])}});
  uint64_t h = fnv1a(0xcbf29ce484222325ull, first.data(), first.size());
  for (size_t s = 1; s < 3; ++s) h = fnv1a(h, seqs[s].logits().data(), V);
  for (size_t i = 0; i < 6; ++i) {
    std::vector<StepInput> steps;
    for (size_t s = 0; s < 3; ++s) steps.push_back({&seqs[s], std::span<const int32_t>(&ids[start[s] + prompt[s] + i], 1)});
    engine.step(steps);
    for (size_t s = 0; s < 3; ++s) h = fnv1a(h, seqs[s].logits().data(), V);
  }
  return h;
}

std::string hex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace

TEST_CASE("Batched step logits equal the recorded goldens bit for bit", "[forward-fast][goldens][kjv]") {
  if (!test::have_fixture("kjv.q8_0.gguf")) {
    WARN("skipped: the kjv fixtures are missing (shared data not found)");
    return;
  }
  const char* record = std::getenv("QWENEDGE_RECORD_GOLDENS");
  nlohmann::json goldens = nlohmann::json::object();
  if (!record) {
    std::ifstream in(kGoldens);
    REQUIRE(in.good());
    goldens = nlohmann::json::parse(in);
  }
  for (const char* name : kModels) {
    for (kernels::Isa isa : kernels::available_isas()) {
      const std::string isa_name(kernels::isa_name(isa));
      // The weights as Model::load leaves them for these kernels (packed, unpacked or in place).
      LoadedModel m = load_model(test::fixture(name));
      pack_weights(m, kernels::kernels_for(isa), 2);
      const uint64_t h1 = scenario_hash(m, kernels::kernels_for(isa), 2);
      INFO(name << " on " << isa_name);
      // The thread count never changes a bit: checked on one integer and one float type (every
      // type and ISA again by the public-API case below, on 3 threads).
      if (std::string(name) == "kjv.q8_0.gguf" || std::string(name) == "kjv.f32.gguf") {
        CHECK(h1 == scenario_hash(m, kernels::kernels_for(isa), 1));
      }
      if (record) {
        goldens[name][isa_name] = hex(h1);
      } else if (goldens[name].contains(isa_name)) {
        CHECK(hex(h1) == goldens[name][isa_name].get<std::string>());
      } else {
        WARN(name << ": no golden recorded for " << isa_name << " (recorded on other CPUs); checked thread counts only");
      }
    }
  }
  if (record) {
    std::ofstream(record) << goldens.dump(2) << "\n";
    WARN("recorded goldens to " << record);
  }
}

TEST_CASE("The public step level gives the recorded golden logits bit for bit", "[forward-fast][goldens][kjv]") {
  if (!test::have_fixture("kjv.q8_0.gguf")) {
    WARN("skipped: the kjv fixtures are missing (shared data not found)");
    return;
  }
  std::ifstream in(kGoldens);
  REQUIRE(in.good());
  const nlohmann::json goldens = nlohmann::json::parse(in);
  const std::string isa(kernels::isa_name(kernels::active_kernels().isa));
  for (const char* name : kModels) {
    INFO(name << " on " << isa);
    if (!goldens[name].contains(isa)) {
      WARN(name << ": no golden recorded for " << isa);
      continue;
    }
    CHECK(hex(public_scenario_hash(test::fixture(name))) == goldens[name][isa].get<std::string>());
  }
}
