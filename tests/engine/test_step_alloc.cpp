// Decode steps allocate nothing once warm: every heap allocation of the process is counted
// (a replaced global operator new) over 100 decode steps of one sequence and of eight.
#include <catch2/catch.hpp>
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>

#include "qwenedge/qwenedge.hpp"
#include "test_util.hpp"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};
}  // namespace

void* operator new(size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, std::align_val_t a) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
  const size_t align = static_cast<size_t>(a);
  if (void* p = std::aligned_alloc(align, (n + align - 1) / align * align)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n, std::align_val_t a) { return operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

using namespace qwenedge;

namespace {

// Allocations over `steps` decode steps of `n` sequences, after a prompt and 10 warm-up steps.
template <size_t N>
int64_t decode_allocations(int steps) {
  const Model model = Model::load(test::fixture("tiny-f32.q8_0.gguf"), {.threads = 2, .context = 256});
  Engine engine(model);
  std::vector<Sequence> seqs;
  for (size_t i = 0; i < N; ++i) seqs.emplace_back(model, 256);
  const std::vector<int32_t> prompt = test::read_ids(test::fixture("tokens.txt"));
  std::array<int32_t, N> next{};
  std::array<StepInput, N> inputs;
  for (size_t i = 0; i < N; ++i) inputs[i] = {&seqs[i], std::span<const int32_t>(prompt).first(10 + i)};
  engine.step(inputs);
  for (size_t i = 0; i < N; ++i) inputs[i] = {&seqs[i], std::span<const int32_t>(&next[i], 1)};
  auto decode = [&](int n) {
    for (int s = 0; s < n; ++s) {
      engine.step(inputs);
      for (size_t i = 0; i < N; ++i) {
        const std::span<const float> l = seqs[i].logits();
        next[i] = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
      }
    }
  };
  decode(10);
  g_allocations = 0;
  g_counting = true;
  decode(steps);
  g_counting = false;
  CHECK(seqs[0].size() == static_cast<int64_t>(10 + 10 + steps));
  return g_allocations.load();
}

}  // namespace

TEST_CASE("Decode steps allocate nothing once warm: one sequence", "[step][alloc]") {
  CHECK(decode_allocations<1>(100) == 0);
}

TEST_CASE("Decode steps allocate nothing once warm: eight sequences", "[step][alloc]") {
  CHECK(decode_allocations<8>(100) == 0);
}

TEST_CASE("The allocation counter counts", "[step][alloc]") {
  g_allocations = 0;
  g_counting = true;
  auto* v = new std::vector<int>(100);
  g_counting = false;
  delete v;
  CHECK(g_allocations.load() >= 2);
}
