// qwenedge::Session — one conversation: its KV cache, its token history, generation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "qwenedge/generation.hpp"
#include "qwenedge/model.hpp"

namespace qwenedge {

struct SessionOptions {
  int64_t context = 0;  // KV-cache positions; 0 = the model's LoadOptions::context
  int threads = 0;      // 0 = the model's LoadOptions::threads
};

class Session {
 public:
  explicit Session(const Model& model, const SessionOptions& options = {});
  ~Session();
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;

  // Renders the conversation with the chat template (ending with the assistant's turn), reuses
  // the longest prefix already in the KV cache, and generates the assistant's answer. When the
  // conversation does not fit, the oldest turns after the system prompt are dropped.
  // Throws qwenedge::Error(kInvalidArgument) for empty messages, an unknown role or a bad option.
  Result chat(const std::vector<Message>& messages, const GenerateOptions& options = {},
              const StreamCallback& on_text = {});

  // Plain completion of `prompt` (no template; special-token text is parsed as special tokens).
  Result complete(std::string_view prompt, const GenerateOptions& options = {},
                  const StreamCallback& on_text = {});

  // Forgets the conversation (the KV cache is kept allocated).
  void reset();

  int64_t context() const;         // capacity in tokens
  int64_t cached_tokens() const;   // tokens currently in the KV cache
  const Model& model() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace qwenedge
