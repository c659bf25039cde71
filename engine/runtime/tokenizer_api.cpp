// qwenedge::Tokenizer: the public face of tokenizer::Tokenizer and the chat template, loadable
// from a GGUF file's metadata or a Hugging Face tokenizer.json without any weights.
#include <filesystem>

#include "engine/format/gguf.hpp"
#include "engine/runtime/model_impl.hpp"
#include "engine/format/vocab_gguf.hpp"
#include "qwenedge/error.hpp"
#include "qwenedge/tokenizer.hpp"
#include "tokenizer/chat_template.hpp"

namespace qwenedge {
namespace {

tokenizer::ChatPrompt render(const std::vector<Message>& messages, bool add_generation_prompt,
                             const std::vector<std::string>& tools) {
  std::vector<tokenizer::ChatMessage> chat;
  chat.reserve(messages.size());
  for (const Message& m : messages) {
    tokenizer::ChatMessage c{m.role, m.content, {}};
    for (const ToolCall& t : m.tool_calls) c.tool_calls.push_back({t.name, t.arguments});
    chat.push_back(std::move(c));
  }
  return tokenizer::render_chat(chat, {.add_generation_prompt = add_generation_prompt, .tools = tools});
}

tokenizer::Vocab read_any_vocab(const std::string& path) {
  if (!std::filesystem::exists(path)) throw Error(ErrorCode::kIo, path + ": no such file");
  if (std::filesystem::path(path).extension() == ".gguf") return detail::read_vocab(gguf::File::open(path));
  const std::filesystem::path config = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
  return tokenizer::load_vocab_from_hf(path, std::filesystem::exists(config) ? config.string() : std::string());
}

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  return Tokenizer(std::make_shared<const tokenizer::Tokenizer>(read_any_vocab(path)));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool parse_special) const {
  return t_->encode(text, {.parse_special = parse_special});
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  return t_->decode(ids, {.skip_special = skip_special});
}

std::string Tokenizer::render_chat(const std::vector<Message>& messages, bool add_generation_prompt,
                                   const std::vector<std::string>& tools) const {
  return render(messages, add_generation_prompt, tools).text;
}

std::vector<int32_t> Tokenizer::encode_chat(const std::vector<Message>& messages, bool add_generation_prompt,
                                            const std::vector<std::string>& tools) const {
  return tokenizer::encode_chat(*t_, render(messages, add_generation_prompt, tools));
}

int32_t Tokenizer::vocab_size() const { return t_->vocab_size(); }
bool Tokenizer::is_special(int32_t id) const { return id >= 0 && id < t_->vocab_size() && t_->is_special(id); }
int32_t Tokenizer::token_id(std::string_view text) const { return t_->token_id(text); }
int32_t Tokenizer::eos_id() const { return t_->eos_id(); }
const std::string& Tokenizer::chat_template() const { return t_->chat_template(); }

}  // namespace qwenedge
