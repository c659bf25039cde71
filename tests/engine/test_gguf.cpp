// GGUF reader/writer: round trips, and every kind of malformed or hostile file.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>

#include "engine/format/gguf.hpp"
#include "qwenedge/error.hpp"
#include "test_util.hpp"

using namespace qwenedge;
using gguf::TensorType;
using gguf::ValueType;

namespace {

std::string tmp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "qwenedge-test-gguf";
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// Builds GGUF bytes field by field, so tests can write headers no honest writer would.
struct Bytes {
  std::vector<uint8_t> b;
  template <typename T>
  Bytes& put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof v);
    return *this;
  }
  Bytes& str(std::string_view s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return put<uint32_t>(gguf::kMagic).put<uint32_t>(version).put<uint64_t>(n_tensors).put<uint64_t>(n_kv);
  }
  Bytes& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) put<uint64_t>(d);
    return put<uint32_t>(type).put<uint64_t>(offset);
  }
  Bytes& pad_to(uint64_t align) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Bytes& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
};

// Parses bytes and returns the error message ("" when it parsed).
std::string parse_error(const std::vector<uint8_t>& bytes) {
  try {
    gguf::File::from_memory(bytes.data(), bytes.size(), "test.gguf");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kBadModelFile);
    return e.what();
  }
  return "";
}

// Runs fn and returns the message of the qwenedge::Error it throws ("" when it throws none).
template <typename Fn>
std::string error_message(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string write_sample(const std::string& path, uint64_t alignment = 32) {
  gguf::Writer w(path, alignment);
  w.set_string("general.architecture", "qwen2");
  w.set_u32("u32", 4000000000u);
  w.set_i32("i32", -7);
  w.set_u64("u64", uint64_t{1} << 40);
  w.set_f32("f32", 0.25f);
  w.set_bool("yes", true);
  w.set_string_array("strings", {"a", "", "ü 中文"});
  w.set_i32_array("ints", {1, -2, 3});
  w.set_f32_array("floats", {0.5f, -1.5f});
  w.add_tensor("a", TensorType::kF32, {3, 2});
  w.add_tensor("b", TensorType::kQ8_0, {64, 1});
  w.add_tensor("c", TensorType::kQ4_0, {32});
  w.add_tensor("d", TensorType::kF16, {5});
  w.add_tensor("e", TensorType::kBF16, {7});
  const float a[6] = {1, 2, 3, 4, 5, 6};
  w.write_tensor_data("a", a, sizeof a);
  std::vector<uint8_t> b(68, 1), c(18, 2), d(10, 3), e(14, 4);
  w.write_tensor_data("b", b.data(), 34);  // in two chunks
  w.write_tensor_data("b", b.data() + 34, 34);
  w.write_tensor_data("c", c.data(), c.size());
  w.write_tensor_data("d", d.data(), d.size());
  w.write_tensor_data("e", e.data(), e.size());
  w.finish();
  return path;
}

}  // namespace

TEST_CASE("GGUF writer output reads back exactly", "[gguf]") {
  for (uint64_t alignment : {32u, 64u, 256u}) {
    const auto f = gguf::File::open(write_sample(tmp_path("sample.gguf"), alignment));
    CHECK(f.version() == 3);
    CHECK(f.alignment() == alignment);
    CHECK(f.get_string("general.architecture") == "qwen2");
    CHECK(f.get_u32("u32") == 4000000000u);
    CHECK(f.get_i64("i32") == -7);
    CHECK(f.get_u64("u64") == uint64_t{1} << 40);
    CHECK(f.get_f32("f32") == 0.25f);
    CHECK(f.get_bool("yes"));
    CHECK(f.get_string_array("strings") == std::vector<std::string_view>{"a", "", "ü 中文"});
    CHECK(f.get_int_array("ints") == std::vector<int64_t>{1, -2, 3});
    CHECK(f.get_float_array("floats") == std::vector<double>{0.5, -1.5});
    REQUIRE(f.tensors().size() == 5);
    const gguf::TensorInfo* a = f.find_tensor("a");
    REQUIRE(a);
    CHECK(a->ne == std::vector<uint64_t>{3, 2});
    CHECK(a->bytes == 24);
    float av[6];
    std::memcpy(av, f.tensor_data(*a), sizeof av);
    CHECK(av[5] == 6.0f);
    CHECK(f.find_tensor("b")->bytes == 68);
    CHECK(f.find_tensor("c")->bytes == 18);
    for (const auto& t : f.tensors()) CHECK((f.data_offset() + t.offset) % alignment == 0);
    CHECK(f.tensor_data(*f.find_tensor("e"))[13] == 4);
  }
}

TEST_CASE("GGUF typed getters name the key on a missing or mistyped value", "[gguf]") {
  const auto f = gguf::File::open(write_sample(tmp_path("sample2.gguf")));
  CHECK_THAT(error_message([&] { f.get_u32("nope"); }), Catch::Contains("missing metadata key nope"));
  CHECK_THAT(error_message([&] { f.get_string("u32"); }), Catch::Contains("u32 has type uint32, expected string"));
  CHECK_THAT(error_message([&] { f.get_u32("i32"); }), Catch::Contains("-7 is negative"));
  CHECK_THAT(error_message([&] { f.get_u32("u64"); }), Catch::Contains("does not fit in 32 bits"));
  CHECK_THAT(error_message([&] { f.get_string_array("ints"); }), Catch::Contains("expected array of string"));
}

TEST_CASE("GGUF: numeric arrays of every element type read back, unaligned", "[gguf]") {
  // Value type 9 = array; element types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool,
  // 10 u64, 11 i64, 12 f64. A one-byte value first puts every array at an odd offset.
  Bytes b;
  b.header(0, 12).str("pad").put<uint32_t>(0).put<uint8_t>(1);
  auto array = [&](std::string_view key, uint32_t elem, uint64_t n) -> Bytes& {
    return b.str(key).put<uint32_t>(9).put<uint32_t>(elem).put<uint64_t>(n);
  };
  array("u8", 0, 2).put<uint8_t>(0).put<uint8_t>(255);
  array("i8", 1, 2).put<int8_t>(-128).put<int8_t>(127);
  array("u16", 2, 2).put<uint16_t>(1).put<uint16_t>(65535);
  array("i16", 3, 2).put<int16_t>(-32768).put<int16_t>(7);
  array("u32", 4, 2).put<uint32_t>(4000000000u).put<uint32_t>(3);
  array("i32", 5, 3).put<int32_t>(-2).put<int32_t>(INT32_MAX).put<int32_t>(INT32_MIN);
  array("u64", 10, 1).put<uint64_t>(uint64_t{1} << 40);
  array("i64", 11, 2).put<int64_t>(INT64_MIN).put<int64_t>(-1);
  array("f32", 6, 2).put<float>(0.25f).put<float>(-3.0f);
  array("f64", 12, 1).put<double>(1e300);
  array("bools", 7, 2).put<uint8_t>(1).put<uint8_t>(0);
  const auto f = gguf::File::from_memory(b.b.data(), b.b.size(), "arrays.gguf");
  CHECK(f.get_int_array("u8") == std::vector<int64_t>{0, 255});
  CHECK(f.get_int_array("i8") == std::vector<int64_t>{-128, 127});
  CHECK(f.get_int_array("u16") == std::vector<int64_t>{1, 65535});
  CHECK(f.get_int_array("i16") == std::vector<int64_t>{-32768, 7});
  CHECK(f.get_int_array("u32") == std::vector<int64_t>{4000000000, 3});
  CHECK(f.get_int_array("i32") == std::vector<int64_t>{-2, INT32_MAX, INT32_MIN});
  CHECK(f.get_int_array("u64") == std::vector<int64_t>{int64_t{1} << 40});
  CHECK(f.get_int_array("i64") == std::vector<int64_t>{INT64_MIN, -1});
  CHECK(f.get_float_array("f32") == std::vector<double>{0.25, -3.0});
  CHECK(f.get_float_array("f64") == std::vector<double>{1e300});
  // The wrong kind of array, or no array, is refused with the key and what was expected.
  CHECK_THAT(error_message([&] { f.get_int_array("bools"); }), Catch::Contains("bools") && Catch::Contains("expected array of integers"));
  CHECK_THAT(error_message([&] { f.get_int_array("f32"); }), Catch::Contains("expected array of integers"));
  CHECK_THAT(error_message([&] { f.get_int_array("pad"); }), Catch::Contains("pad has type uint8, expected array of integers"));
  CHECK_THAT(error_message([&] { f.get_float_array("i32"); }), Catch::Contains("expected array of floats"));
  CHECK_THAT(error_message([&] { f.get_float_array("pad"); }), Catch::Contains("expected array of floats"));
}

TEST_CASE("GGUF: a missing file is an I/O error naming the path", "[gguf]") {
  try {
    gguf::File::open("/nonexistent/model.gguf");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
    CHECK_THAT(e.what(), Catch::Contains("/nonexistent/model.gguf"));
  }
}

TEST_CASE("GGUF: every truncation of a valid file is rejected cleanly", "[gguf][bad-input]") {
  const std::vector<uint8_t> full = test::read_bytes(write_sample(tmp_path("sample3.gguf")));
  REQUIRE(parse_error(full).empty());
  for (size_t len = 0; len < full.size(); ++len) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    const std::string err = parse_error(cut);
    INFO("length " << len);
    CHECK_FALSE(err.empty());
    const bool named = err.find("truncated") != std::string::npos || err.find("past the end") != std::string::npos ||
                       err.find("does not fit") != std::string::npos;
    CHECK(named);
  }
}

TEST_CASE("GGUF: wrong magic", "[gguf][bad-input]") {
  Bytes b;
  b.put<uint32_t>(0x464c457f).put<uint32_t>(3).put<uint64_t>(0).put<uint64_t>(0);
  CHECK_THAT(parse_error(b.b), Catch::Contains("not a GGUF file: magic is 0x464c457f"));
}

TEST_CASE("GGUF: wrong version", "[gguf][bad-input]") {
  for (uint32_t v : {0u, 1u, 4u, 0xffffffffu}) {
    Bytes b;
    b.header(0, 0, v);
    CHECK_THAT(parse_error(b.b), Catch::Contains("unsupported GGUF version " + std::to_string(v)));
  }
}

TEST_CASE("GGUF: absurd counts and lengths", "[gguf][bad-input]") {
  SECTION("metadata count") {
    Bytes b;
    b.header(0, uint64_t{1} << 62);
    CHECK_THAT(parse_error(b.b), Catch::Contains("metadata count 4611686018427387904 does not fit"));
  }
  SECTION("tensor count") {
    Bytes b;
    b.header(~uint64_t{0}, 0);
    CHECK_THAT(parse_error(b.b), Catch::Contains("tensor count"));
  }
  SECTION("string length") {
    Bytes b;
    b.header(0, 1).str("k").put<uint32_t>(8).put<uint64_t>(~uint64_t{0} / 2);
    CHECK_THAT(parse_error(b.b), Catch::Contains("metadata k: string length"));
  }
  SECTION("key length") {
    Bytes b;
    b.header(0, 1).put<uint64_t>(uint64_t{1} << 40).zeros(16);
    CHECK_THAT(parse_error(b.b), Catch::Contains("metadata key #0"));
  }
  SECTION("numeric array count overflows") {
    Bytes b;
    b.header(0, 1).str("arr").put<uint32_t>(9).put<uint32_t>(12).put<uint64_t>(uint64_t{1} << 62);
    CHECK_THAT(parse_error(b.b), Catch::Contains("metadata arr"));
  }
  SECTION("string array count") {
    Bytes b;
    b.header(0, 1).str("arr").put<uint32_t>(9).put<uint32_t>(8).put<uint64_t>(uint64_t{1} << 40).zeros(64);
    CHECK_THAT(parse_error(b.b), Catch::Contains("string array count 1099511627776 does not fit"));
  }
  SECTION("nested arrays too deep") {
    Bytes b;
    b.header(0, 1).str("arr");
    b.put<uint32_t>(9);
    for (int i = 0; i < 20; ++i) b.put<uint32_t>(9).put<uint64_t>(1);
    b.zeros(64);
    CHECK_THAT(parse_error(b.b), Catch::Contains("nested deeper"));
  }
}

TEST_CASE("GGUF: bad value types and values", "[gguf][bad-input]") {
  SECTION("unknown value type") {
    Bytes b;
    b.header(0, 1).str("k").put<uint32_t>(13).zeros(8);
    CHECK_THAT(parse_error(b.b), Catch::Contains("metadata k: unknown value type 13"));
  }
  SECTION("unknown array element type") {
    Bytes b;
    b.header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(99).put<uint64_t>(0);
    CHECK_THAT(parse_error(b.b), Catch::Contains("unknown array element type 99"));
  }
  SECTION("bool that is neither 0 nor 1") {
    Bytes b;
    b.header(0, 1).str("flag").put<uint32_t>(7).put<uint8_t>(2);
    CHECK_THAT(parse_error(b.b), Catch::Contains("bool value 2"));
  }
  SECTION("duplicate key") {
    Bytes b;
    b.header(0, 2).str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(2);
    CHECK_THAT(parse_error(b.b), Catch::Contains("metadata key k appears twice"));
  }
  SECTION("alignment not a power of two") {
    Bytes b;
    b.header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(48);
    CHECK_THAT(parse_error(b.b), Catch::Contains("general.alignment 48 is not a power of two"));
  }
  SECTION("alignment of the wrong type") {
    Bytes b;
    b.header(0, 1).str("general.alignment").put<uint32_t>(8).str("32");
    CHECK_THAT(parse_error(b.b), Catch::Contains("general.alignment has type string"));
  }
}

TEST_CASE("GGUF: bad tensor infos", "[gguf][bad-input]") {
  auto one_tensor = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes) {
    Bytes b;
    b.header(1, 0).tensor("w", std::move(ne), type, offset).pad_to(32).zeros(data_bytes);
    return parse_error(b.b);
  };
  CHECK(one_tensor({4, 2}, 0, 0, 32).empty());
  CHECK_THAT(one_tensor({4, 2}, 0, 0, 31), Catch::Contains("tensor w: data [0, +32) lies past the end"));
  CHECK_THAT(one_tensor({4, 2}, 0, uint64_t{1} << 62, 32), Catch::Contains("lies past the end"));
  CHECK_THAT(one_tensor({4, 2}, 0, ~uint64_t{0} - 31, 32), Catch::Contains("tensor w"));
  CHECK_THAT(one_tensor({4, 2}, 0, 16, 64), Catch::Contains("offset 16 is not a multiple of the alignment 32"));
  CHECK_THAT(one_tensor({256}, 12, 0, 256), Catch::Contains("tensor w: unsupported tensor type 12"));
  CHECK_THAT(one_tensor({256}, 31, 0, 256), Catch::Contains("unsupported tensor type 31"));
  CHECK_THAT(one_tensor({48}, 8, 0, 256), Catch::Contains("ne[0] = 48 is not a multiple of the Q8_0 block size 32"));
  CHECK_THAT(one_tensor({4, 0}, 0, 0, 32), Catch::Contains("ne[1] = 0"));
  CHECK_THAT(one_tensor({uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0, 32), Catch::Contains("invalid element count"));
  CHECK_THAT(one_tensor({}, 0, 0, 32), Catch::Contains("dimension count 0"));
  CHECK_THAT(one_tensor({1, 1, 1, 1, 1}, 0, 0, 32), Catch::Contains("dimension count 5"));
  // Row-interleaved types: matrices only, their last group of 8 rows padded (10 rows -> 16).
  CHECK(one_tensor({32, 10}, 1008, 0, 16 * 34).empty());
  CHECK_THAT(one_tensor({32, 10}, 1008, 0, 16 * 34 - 1), Catch::Contains("tensor w: data [0, +544) lies past the end"));
  CHECK(one_tensor({64, 8}, 1002, 0, 8 * 36).empty());
  CHECK_THAT(one_tensor({32}, 1008, 0, 64), Catch::Contains("tensor w: Q8_0_R8 with 1 dimensions (it is for matrices only)"));
  CHECK_THAT(one_tensor({32, 2, 2}, 1002, 0, 512), Catch::Contains("Q4_0_R8 with 3 dimensions"));
  CHECK_THAT(one_tensor({48, 8}, 1002, 0, 512), Catch::Contains("ne[0] = 48 is not a multiple of the Q4_0_R8 block size 32"));
  CHECK_THAT(one_tensor({32, 8}, 1001, 0, 512), Catch::Contains("unsupported tensor type 1001"));

  SECTION("overlapping tensors") {
    Bytes b;
    b.header(2, 0).tensor("x", {16}, 0, 0).tensor("y", {16}, 0, 32).pad_to(32).zeros(128);
    CHECK_THAT(parse_error(b.b), Catch::Contains("tensors x and y overlap"));
  }
  SECTION("duplicate tensor name") {
    Bytes b;
    b.header(2, 0).tensor("x", {8}, 0, 0).tensor("x", {8}, 0, 32).pad_to(32).zeros(64);
    CHECK_THAT(parse_error(b.b), Catch::Contains("tensor x appears twice"));
  }
}

TEST_CASE("GGUF writer refuses misuse", "[gguf]") {
  const std::string path = tmp_path("misuse.gguf");
  gguf::Writer w(path);
  CHECK_THROWS_AS(w.add_tensor("q", TensorType::kQ4_0, {33}), Error);
  CHECK_THROWS_AS(w.add_tensor("r", TensorType::kQ8_0_R8, {32}), Error);  // matrices only
  w.add_tensor("a", TensorType::kF32, {4});
  w.add_tensor("b", TensorType::kF32, {4});
  const float x[4] = {};
  CHECK_THROWS_AS(w.write_tensor_data("b", x, sizeof x), Error);  // out of order
  w.write_tensor_data("a", x, sizeof x);
  CHECK_THROWS_AS(w.write_tensor_data("b", x, 20), Error);  // too many bytes
  CHECK_THROWS_AS(w.finish(), Error);                       // b never written
}
