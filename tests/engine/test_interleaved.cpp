// Files stored row-interleaved (Q8_0_R8 / Q4_0_R8, written by qwen-convert --interleaved): the
// same weights as their row-stored twins, read in place by the kernels that know the layout and
// unpacked at load for the others, with the same logits bit for bit on every ISA.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "kernels/isa.hpp"
#include "kernels/kernels.hpp"
#include "qwenedge/random_model.hpp"
#include "forward_util.hpp"
#include "test_util.hpp"

using namespace qwenedge;
using namespace qwenedge::detail;

namespace {

std::vector<const WeightView*> multiplied(const LoadedModel& m) {
  std::vector<const WeightView*> v;
  for (const LayerWeights& l : m.weights.layers) {
    for (const WeightView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) v.push_back(w);
  }
  v.push_back(&m.weights.output);
  return v;
}

// Loads `rows_path` and `il_path` and checks the interleaved file on every ISA: where its
// matrices end up, and logits equal to the row-stored file's (itself prepared the same way).
void check_twins(const std::string& rows_path, const std::string& il_path, const std::vector<int32_t>& ids,
                 bool fits_groups) {
  {
    // Before any preparation the interleaved file has no rows, and the reference path reads
    // its packed copy: the same numbers.
    const LoadedModel rows = load_model(rows_path);
    const LoadedModel il = load_model(il_path);
    REQUIRE(il.weights.layers[0].w_up.data == nullptr);
    REQUIRE(il.weights.layers[0].w_up.packed != nullptr);
    CHECK(test::reference_logits(il, ids) == test::reference_logits(rows, ids));
    // Every matrix unpacked is the row-stored file's bytes.
    const std::vector<const WeightView*> a = multiplied(rows), b = multiplied(il);
    for (size_t i = 0; i < a.size(); ++i) {
      if (b[i]->packed == nullptr) continue;  // not block-quantized: stored as rows in both
      std::vector<uint8_t> unpacked(static_cast<size_t>(a[i]->rows) * a[i]->row_bytes);
      kernels::unpack_matrix(as_matrix(*b[i]), 0, b[i]->rows, unpacked.data());
      INFO("matrix " << i);
      CHECK(std::memcmp(unpacked.data(), a[i]->data, unpacked.size()) == 0);
    }
  }
  for (kernels::Isa isa : kernels::available_isas()) {
    const auto& k = kernels::kernels_for(isa);
    INFO(il_path << " on " << kernels::isa_name(isa));
    LoadedModel rows = load_model(rows_path);
    LoadedModel il = load_model(il_path);
    pack_weights(rows, k, 2);
    pack_weights(il, k, 2);
    const WeightView& w = il.weights.layers[0].w_gate;
    if (k.reads_packed && fits_groups) {
      CHECK(w.data == nullptr);  // read in place from the file
      CHECK(w.packed != nullptr);
      CHECK(il.packed.size() == 0);
      CHECK(il.rows.size() == 0);
    } else {
      CHECK(w.data != nullptr);  // unpacked to rows at load
      CHECK(il.rows.size() > 0);
      // x86 kernels still read the file's packed copy where a range starts on a group.
      CHECK((w.packed != nullptr) == k.reads_packed);
      CHECK(il.packed.size() == 0);
    }
    if (il.config.tied_embeddings) {
      CHECK(il.weights.token_embd.data == il.weights.output.data);
      CHECK(il.weights.token_embd.packed == il.weights.output.packed);
    }
    CHECK(test::fast_logits(il, ids, k, 2, 512) == test::fast_logits(rows, ids, k, 2, 512));
    CHECK(test::fast_logits(il, ids, k, 1, 5) == test::fast_logits(rows, ids, k, 1, 5));
  }
}

}  // namespace

TEST_CASE("Interleaved files give their row-stored twins' logits bit for bit on every ISA", "[interleaved]") {
  const std::vector<int32_t> ids = test::read_ids(test::fixture("tokens.txt"));
  for (const char* m : {"tiny-f32", "tiny-untied"}) {
    for (const char* t : {"q8_0", "q4_0"}) {
      const std::string base = std::string(m) + "." + t;
      check_twins(test::fixture(base + ".gguf"), test::fixture(base + ".il.gguf"), ids, true);
    }
  }
  if (test::have_fixture("kjv.q4_0.il.gguf")) {
    check_twins(test::fixture("kjv.q4_0.gguf"), test::fixture("kjv.q4_0.il.gguf"), std::vector<int32_t>(ids.begin(), ids.begin() + 40),
                true);
  }
}

TEST_CASE("Interleaved files whose row ranges miss the groups are unpacked for every ISA", "[interleaved]") {
  // Head size 12 (not a multiple of 8) and F = 80 (not whole blocks): the forward pass asks for
  // row ranges that start inside a group of 8.
  const std::string dir = (std::filesystem::temp_directory_path() / "qwenedge-test-interleaved").string();
  std::filesystem::create_directories(dir);
  RandomModelOptions opt;
  opt.shape = {.vocab_size = 151936, .hidden = 96, .layers = 2, .heads = 8, .kv_heads = 2, .ffn = 80, .context_length = 256};
  opt.tokenizer_dir = std::string(QWENEDGE_SHARED_DIR) + "/qwen2.5-0.5b-instruct";
  opt.seed = 5;
  opt.stddev = 0.1f;
  for (const WeightType t : {WeightType::kQ8_0, WeightType::kQ4_0}) {
    opt.type = t;
    opt.interleaved = false;
    write_random_model(dir + "/rows.gguf", opt);
    opt.interleaved = true;
    write_random_model(dir + "/il.gguf", opt);
    const std::vector<int32_t> ids = {9707, 11, 1879, 0, 151643, 17, 4, 123, 4567, 89};
    check_twins(dir + "/rows.gguf", dir + "/il.gguf", ids, false);
  }
  std::filesystem::remove_all(dir);
}
