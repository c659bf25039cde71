// A conversation: one sequence whose KV cache outlives its answers, driven step by step.
#include <utility>

#include "engine/forward.hpp"
#include "engine/generation.hpp"
#include "engine/model_impl.hpp"
#include "qwenedge/error.hpp"
#include "qwenedge/session.hpp"

namespace qwenedge {

const char* finish_reason_name(FinishReason r) noexcept {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

struct Session::State {
  Model model;
  int64_t context;
  int threads;
  const detail::ModelImpl& m;
  Forward forward;
  detail::SequenceState seq;

  State(const Model& mdl, int64_t ctx, int thr)
      : model(mdl), context(ctx), threads(thr), m(mdl.impl()), forward(m.loaded, 512), seq(m, ctx) {}

  // The generation loop of one sequence: one forward step per token (the first is the prompt).
  Result generate(const detail::FitPrompt& fit, const GenerateOptions& o, const StreamCallback& on_text) {
    detail::Generation g(m, o, fit, seq);
    while (!g.done()) {
      const SequenceStep step{&seq.cache, g.feed(), seq.logits.data(), false};
      try {
        forward.run(std::span<const SequenceStep>(&step, 1), threads);
      } catch (...) {
        g.rollback();
        throw;
      }
      const std::string text = g.advance();
      if (!text.empty() && on_text && !on_text(text)) g.cancel();
    }
    return g.take_result();
  }
};

Session::Session(const Model& model, const SessionOptions& options) {
  const int64_t context = options.context > 0 ? options.context : model.options().context;
  if (options.context < 0 || context > model.info().context_length) {
    throw Error(ErrorCode::kInvalidArgument, "session context " + std::to_string(context) + " is outside 1.." +
                                                 std::to_string(model.info().context_length) + " (the model's limit)");
  }
  if (options.threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads = " + std::to_string(options.threads));
  const int threads = options.threads > 0 ? options.threads : model.options().threads;
  s_ = std::make_unique<State>(model, context, threads);
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Result Session::chat(const std::vector<Message>& messages, const GenerateOptions& options, const StreamCallback& on_text) {
  return s_->generate(detail::chat_prompt(s_->m, messages, options.tools, s_->context), options, on_text);
}

Result Session::complete(std::string_view prompt, const GenerateOptions& options, const StreamCallback& on_text) {
  return s_->generate(detail::completion_prompt(s_->m, prompt), options, on_text);
}

void Session::reset() {
  s_->seq.cache.resize(0);
  s_->seq.history.clear();
}

int64_t Session::context() const { return s_->context; }
int64_t Session::cached_tokens() const { return s_->seq.cache.size(); }
const Model& Session::model() const { return s_->model; }

}  // namespace qwenedge
