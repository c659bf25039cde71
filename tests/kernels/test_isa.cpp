// ISA detection, explicit selection and the QWENEDGE_ISA override.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "kernels/kernels.hpp"

using namespace qwenedge::kernels;

namespace {

// Sets QWENEDGE_ISA for one scope and restores it afterwards.
class ScopedIsaEnv {
 public:
  explicit ScopedIsaEnv(const char* value) {
    if (const char* old = std::getenv("QWENEDGE_ISA")) {
      had_ = true;
      old_ = old;
    }
    if (value) {
      setenv("QWENEDGE_ISA", value, 1);
    } else {
      unsetenv("QWENEDGE_ISA");
    }
  }
  ~ScopedIsaEnv() {
    if (had_) {
      setenv("QWENEDGE_ISA", old_.c_str(), 1);
    } else {
      unsetenv("QWENEDGE_ISA");
    }
  }

 private:
  bool had_ = false;
  std::string old_;
};

}  // namespace

TEST_CASE("isa names round-trip", "[isa]") {
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvxVnni, Isa::kAvx512, Isa::kNeon}) {
    REQUIRE(parse_isa(isa_name(i)) == i);
  }
  REQUIRE_FALSE(parse_isa("sse2").has_value());
  REQUIRE_FALSE(parse_isa("").has_value());
}

TEST_CASE("available ISAs: scalar first, best last, each with its own table", "[isa]") {
  const std::vector<Isa> isas = available_isas();
  REQUIRE(!isas.empty());
  REQUIRE(isas.front() == Isa::kScalar);
  REQUIRE(isas.back() == best_isa());
  for (Isa i : isas) {
    REQUIRE(isa_supported(i));
    REQUIRE(kernels_for(i).isa == i);
  }
  WARN("ISAs tested here: " << [&] {
    std::string s;
    for (Isa i : isas) s += std::string(isa_name(i)) + " ";
    return s;
  }());
}

TEST_CASE("QWENEDGE_ISA selects, and rejects bad names with a clear error", "[isa]") {
  {
    ScopedIsaEnv env(nullptr);
    REQUIRE(isa_from_env() == best_isa());
  }
  {
    ScopedIsaEnv env("");
    REQUIRE(isa_from_env() == best_isa());
  }
  for (Isa i : available_isas()) {
    ScopedIsaEnv env(std::string(isa_name(i)).c_str());
    REQUIRE(isa_from_env() == i);
  }
  {
    ScopedIsaEnv env("avx9000");
    REQUIRE_THROWS_AS(isa_from_env(), std::invalid_argument);
    REQUIRE_THROWS_WITH(isa_from_env(), Catch::Contains("QWENEDGE_ISA=avx9000") &&
                                            Catch::Contains("unknown ISA") &&
                                            Catch::Contains("scalar|avx2|avxvnni|avx512|neon"));
  }
  for (Isa i : {Isa::kAvx2, Isa::kAvxVnni, Isa::kAvx512, Isa::kNeon}) {
    if (isa_supported(i)) continue;
    ScopedIsaEnv env(std::string(isa_name(i)).c_str());
    REQUIRE_THROWS_AS(isa_from_env(), std::runtime_error);
    REQUIRE_THROWS_WITH(isa_from_env(), Catch::Contains(std::string(isa_name(i))) &&
                                            Catch::Contains("available: scalar"));
    REQUIRE_THROWS_AS(kernels_for(i), std::runtime_error);
  }
}
