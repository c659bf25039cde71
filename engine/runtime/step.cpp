// The step level: qwenedge::Sequence and qwenedge::Engine over the forward pass.
#include <algorithm>
#include <string>

#include "engine/runtime/forward.hpp"
#include "engine/runtime/sequence_state.hpp"
#include "qwenedge/error.hpp"
#include "qwenedge/step.hpp"

namespace qwenedge {
namespace {

int64_t resolve_context(const Model& model, int64_t context) {
  const int64_t n = context > 0 ? context : model.options().context;
  if (context < 0 || n > model.info().context_length) {
    throw Error(ErrorCode::kInvalidArgument, "sequence context " + std::to_string(context) + " is outside 1.." +
                                                 std::to_string(model.info().context_length) + " (the model's limit)");
  }
  return n;
}

Error bad_input(size_t i, const std::string& what) {
  return Error(ErrorCode::kInvalidArgument, "step input " + std::to_string(i) + ": " + what);
}

}  // namespace

Sequence::Sequence(const Model& model, int64_t context)
    : s_(std::make_unique<detail::SequenceState>(model, resolve_context(model, context))) {}
Sequence::~Sequence() = default;
Sequence::Sequence(Sequence&&) noexcept = default;
Sequence& Sequence::operator=(Sequence&&) noexcept = default;

int64_t Sequence::capacity() const { return s_->cache.capacity(); }
int64_t Sequence::size() const { return s_->cache.size(); }
int64_t Sequence::kv_bytes() const { return s_->cache.bytes(); }
std::span<const int32_t> Sequence::tokens() const { return s_->history; }
std::span<const float> Sequence::logits() const { return s_->logits; }
std::span<float> Sequence::logits() { return s_->logits; }
const Model& Sequence::model() const { return s_->model; }

void Sequence::truncate(int64_t n) {
  if (n < 0 || n > size()) {
    throw Error(ErrorCode::kInvalidArgument, "truncate(" + std::to_string(n) + ") on a sequence of " + std::to_string(size()) + " tokens");
  }
  s_->cache.resize(n);
  s_->history.resize(static_cast<size_t>(n));
}

int64_t Sequence::common_prefix(std::span<const int32_t> tokens) const {
  const std::vector<int32_t>& h = s_->history;
  const auto mismatch = std::mismatch(h.begin(), h.end(), tokens.begin(), tokens.end());
  return mismatch.first - h.begin();
}

namespace detail {

// An Engine's state: the forward pass (threads and scratch) and the step list it reuses.
class StepRunner {
 public:
  StepRunner(const Model& model, const EngineOptions& o)
      : model_(model), m_(impl(model)), threads_(o.threads > 0 ? o.threads : model.options().threads),
        forward_(m_.loaded, o.max_step_tokens) {}

  void step(std::span<const StepInput> inputs) {
    check(inputs);
    steps_.clear();
    for (const StepInput& in : inputs) {
      SequenceState& s = SequenceState::of(*in.sequence);
      const bool last = in.logits == Logits::kLast;
      float* out = last ? s.logits.data() : in.logits == Logits::kNone ? nullptr : in.out;
      steps_.push_back({&s.cache, in.tokens, out, in.logits == Logits::kAll,
                        in.logits == Logits::kRows ? in.rows : std::span<const int32_t>()});
    }
    forward_.run(steps_, threads_);
    for (const StepInput& in : inputs) {
      std::vector<int32_t>& h = SequenceState::of(*in.sequence).history;
      h.insert(h.end(), in.tokens.begin(), in.tokens.end());
    }
  }

  const Model& model() const { return model_; }
  int threads() const { return threads_; }

 private:
  // Everything that could make the step fail half-way is refused before it starts.
  void check(std::span<const StepInput> inputs) const {
    const auto V = m_.loaded.config.vocab_size;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const StepInput& in = inputs[i];
      if (!in.sequence) throw bad_input(i, "no sequence");
      const SequenceState& s = SequenceState::of(*in.sequence);
      if (&s.m != &m_) throw bad_input(i, "the sequence belongs to another model");
      for (size_t j = 0; j < i; ++j) {
        if (inputs[j].sequence == in.sequence) throw bad_input(i, "the same sequence as input " + std::to_string(j));
      }
      const auto n = static_cast<int64_t>(in.tokens.size());
      if (s.cache.size() + n > s.cache.capacity()) {
        throw bad_input(i, "context full: " + std::to_string(s.cache.size()) + " + " + std::to_string(n) +
                               " positions exceed the sequence's capacity " + std::to_string(s.cache.capacity()));
      }
      for (const int32_t id : in.tokens) {
        if (id < 0 || id >= V) {
          throw bad_input(i, "token id " + std::to_string(id) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
        }
      }
      if ((in.logits == Logits::kAll || in.logits == Logits::kRows) && !in.out) throw bad_input(i, "logits wanted but out is null");
      if (in.logits == Logits::kRows) {
        for (size_t r = 0; r < in.rows.size(); ++r) {
          const int32_t row = in.rows[r];
          if (row < 0 || row >= n || (r > 0 && row <= in.rows[r - 1])) {
            throw bad_input(i, "rows must be strictly increasing indices into the " + std::to_string(n) + " tokens");
          }
        }
      }
    }
  }

  Model model_;
  const ModelImpl& m_;
  int threads_;
  Forward forward_;
  std::vector<SequenceStep> steps_;
};

}  // namespace detail

Engine::Engine(const Model& model, const EngineOptions& options) {
  if (options.threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads = " + std::to_string(options.threads));
  if (options.max_step_tokens < 1) {
    throw Error(ErrorCode::kInvalidArgument, "max_step_tokens = " + std::to_string(options.max_step_tokens) + " (expected >= 1)");
  }
  r_ = std::make_unique<detail::StepRunner>(model, options);
}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

void Engine::step(std::span<const StepInput> inputs) { r_->step(inputs); }
int Engine::threads() const { return r_->threads(); }
const Model& Engine::model() const { return r_->model(); }

}  // namespace qwenedge
