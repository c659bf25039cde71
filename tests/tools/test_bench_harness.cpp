// qwen-bench's harness (run_bench): which rows it measures, at which depths, what it reports,
// and the options it refuses.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "bench.hpp"
#include "qwenedge/error.hpp"

using namespace qwenedge;

namespace {

std::string fixture(const std::string& name) { return std::string(QWENEDGE_FIXTURE_DIR) + "/" + name; }

BenchOptions small_run() {
  BenchOptions o;
  o.model_path = fixture("tiny-f32.q8_0.gguf");
  o.prompt_lengths = {3, 9};
  o.decode_lengths = {4};
  o.threads = {1, 2};
  o.depths = {0, 20, 7};
  o.repetitions = 2;
  o.bandwidth_bytes = int64_t{8} << 20;
  return o;
}

}  // namespace

TEST_CASE("run_bench measures every row at every thread count and depth", "[bench]") {
  const BenchReport r = run_bench(small_run());
  // Per thread count, deepest first: pp3 pp9 tg4 at 20, then 7, then 0.
  REQUIRE(r.rows.size() == 2 * 3 * 3);
  const int depths[] = {20, 7, 0};
  for (size_t i = 0; i < r.rows.size(); ++i) {
    const BenchRow& row = r.rows[i];
    INFO("row " << i << " " << row.test);
    CHECK(row.threads == (i < 9 ? 1 : 2));
    CHECK(row.depth == depths[(i % 9) / 3]);
    CHECK(row.test == std::string(i % 3 == 0 ? "pp3" : i % 3 == 1 ? "pp9" : "tg4"));
    CHECK(row.tokens == (i % 3 == 0 ? 3 : i % 3 == 1 ? 9 : 4));
    CHECK(row.ms.samples.size() == 2);
    CHECK(row.tokens_per_s.mean > 0.0);
    for (double ms : row.ms.samples) CHECK(ms > 0.0);
    // Decode rows are set against the bandwidth of their own thread count.
    CHECK((row.limit_tokens_per_s > 0.0) == (row.test[0] == 't'));
  }
  // The cache holds the deepest fill plus the longest row (and the warm-up steps).
  CHECK(r.context == 20 + 9 + 1);
  CHECK(r.kv_cache_bytes > 0);
  CHECK(r.first_token_prompt == 3);
  CHECK(r.first_token_threads == 2);
  CHECK(r.load_ms.samples.size() == 2);
  CHECK(r.first_token_ms.mean >= r.load_ms.mean);
  CHECK(r.bandwidth_gbs.size() == 2);
  CHECK(r.weight_bytes_per_token > 0);
  CHECK(r.peak_rss_mib > 0.0);

  const nlohmann::json j = nlohmann::json::parse(format_bench_json(r));
  REQUIRE(j["rows"].size() == r.rows.size());
  CHECK(j["rows"][0]["depth"] == 20);
  CHECK(j["rows"][17]["depth"] == 0);
  CHECK(j["rows"][17]["test"] == "tg4");
  CHECK(j["context"] == 30);
  const std::string table = format_bench_table(r);
  CHECK_THAT(table, Catch::Contains("| pp9    |       2 |      20 |"));
  CHECK_THAT(table, Catch::Contains("| tg4    |       1 |       0 |"));
}

TEST_CASE("run_bench refuses bad options by name", "[bench][bad-input]") {
  auto error_of = [](BenchOptions o) {
    try {
      run_bench(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  BenchOptions o = small_run();
  o.depths = {};
  CHECK_THAT(error_of(o), Catch::Contains("no depths"));
  o.depths = {-1};
  CHECK_THAT(error_of(o), Catch::Contains("depth -1 is not in [0, 65536]"));
  o = small_run();
  o.threads = {2, 2};
  CHECK_THAT(error_of(o), Catch::Contains("thread count 2 is listed twice"));
  o = small_run();
  o.prompt_lengths = {};
  o.decode_lengths = {};
  CHECK_THAT(error_of(o), Catch::Contains("nothing to measure"));
  o = small_run();
  o.model_path = fixture("no-such-model.gguf");
  CHECK_THAT(error_of(o), Catch::Contains("no-such-model.gguf"));
}
