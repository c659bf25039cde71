// The step level: sequences and batched forward steps.
//
// A Sequence is one text's memory (its KV cache and its tokens). An Engine runs forward steps:
// one pass over the weights appends tokens to any number of sequences at once, a prompt chunk of
// one beside single decode tokens of others, and writes the logits each asks for.
//
//   qwenedge::Engine engine(model);
//   qwenedge::Sequence a(model), b(model);
//   engine.step({{&a, prompt_a}, {&b, prompt_b}});            // both prompts in one pass
//   int32_t next_a = argmax(a.logits()), next_b = argmax(b.logits());
//   engine.step({{&a, {&next_a, 1}}, {&b, {&next_b, 1}}});     // one token of each
//
// Generation (qwenedge/generation.hpp) drives a sequence through a whole answer on top of this.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <vector>

#include "qwenedge/model.hpp"

namespace qwenedge {

namespace detail {
struct SequenceState;
class StepRunner;
}

// One sequence: the KV cache of its tokens, the tokens, and the logits of its last step.
// Movable, not copyable. Used by one thread (or one step) at a time.
class Sequence {
 public:
  // `context`: KV-cache positions; 0 = the model's LoadOptions::context. Throws
  // Error(kInvalidArgument) when it is negative or above the model's limit.
  explicit Sequence(const Model& model, int64_t context = 0);
  ~Sequence();
  Sequence(Sequence&&) noexcept;
  Sequence& operator=(Sequence&&) noexcept;

  int64_t capacity() const;                 // positions the KV cache holds
  int64_t size() const;                     // positions filled: tokens().size()
  int64_t kv_bytes() const;                 // memory of the KV cache
  std::span<const int32_t> tokens() const;  // the tokens in the cache, oldest first
  // [V]: the logits of the last token of the last step that asked for them with Logits::kLast.
  std::span<const float> logits() const;
  std::span<float> logits();

  // Forgets every position from n on (0 <= n <= size(); kInvalidArgument otherwise).
  void truncate(int64_t n);
  void clear() { truncate(0); }
  // How many leading tokens of `tokens` the cache already holds.
  int64_t common_prefix(std::span<const int32_t> tokens) const;

  const Model& model() const;

 private:
  friend struct detail::SequenceState;
  std::unique_ptr<detail::SequenceState> s_;
};

// Which logits a sequence's part of a step writes.
enum class Logits {
  kLast,  // the last token's, into Sequence::logits() (the default)
  kAll,   // every token's, [tokens, V] into `out`
  kRows,  // the tokens at `rows` (strictly increasing indices into tokens), [rows, V] into `out`
  kNone,  // none: a prompt chunk that is not the prompt's end
};

// One sequence's part of a step: `tokens` go to positions size() .. size() + tokens.size() - 1.
struct StepInput {
  Sequence* sequence = nullptr;
  std::span<const int32_t> tokens;
  Logits logits = Logits::kLast;
  std::span<const int32_t> rows;  // Logits::kRows only
  float* out = nullptr;           // Logits::kAll and kRows: room for their rows × V floats
};

struct EngineOptions {
  int threads = 0;               // 0 = the model's LoadOptions::threads
  int64_t max_step_tokens = 512; // scratch rows; longer steps run in several passes, same results
};

// Runs forward steps with its own worker threads and scratch memory. One step at a time per
// Engine; separate Engines may run on separate threads over one Model.
class Engine {
 public:
  // Throws Error(kInvalidArgument) for threads < 0 or max_step_tokens < 1.
  explicit Engine(const Model& model, const EngineOptions& options = {});
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Appends every input's tokens to its sequence and writes the logits it asks for. The results
  // do not depend on the threads, on the other sequences of the step or on how a prompt is split
  // into steps. Throws Error(kInvalidArgument), naming the input, for a token id outside the
  // vocabulary, a sequence without room for its tokens, a sequence twice in one step, a sequence
  // of another model, or bad rows / out; then no sequence has changed.
  void step(std::span<const StepInput> inputs);
  void step(std::initializer_list<StepInput> inputs) { step(std::span<const StepInput>(inputs.begin(), inputs.size())); }

  int threads() const;
  const Model& model() const;

 private:
  std::unique_ptr<detail::StepRunner> r_;
};

}  // namespace qwenedge
