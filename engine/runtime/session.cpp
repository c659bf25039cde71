// A conversation: one sequence whose KV cache outlives its answers, driven step by step.
#include <utility>

#include "qwenedge/error.hpp"
#include "qwenedge/generation.hpp"
#include "qwenedge/session.hpp"
#include "qwenedge/step.hpp"

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
  Engine engine;
  Sequence seq;

  State(const Model& mdl, int64_t context, int threads)
      : model(mdl), engine(mdl, {.threads = threads, .max_step_tokens = 512}), seq(mdl, context) {}

  // The generation loop of one sequence: one step per token (the first is the prompt).
  Result generate(const Prompt& prompt, const GenerateOptions& o, const StreamCallback& on_text) {
    Generation g(seq, prompt, o);
    while (!g.done()) {
      engine.step({g.input()});
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
  return s_->generate(Prompt::chat(s_->model, messages, options.tools), options, on_text);
}

Result Session::complete(std::string_view prompt, const GenerateOptions& options, const StreamCallback& on_text) {
  return s_->generate(Prompt::text(s_->model, prompt), options, on_text);
}

void Session::reset() { s_->seq.clear(); }

int64_t Session::context() const { return s_->seq.capacity(); }
int64_t Session::cached_tokens() const { return s_->seq.size(); }
const Model& Session::model() const { return s_->model; }

}  // namespace qwenedge
