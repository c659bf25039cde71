// qwen-tokenize: the tokenizer from the command line.
//
//   qwen-tokenize --vocab model.gguf < text.txt              ids, space-separated
//   qwen-tokenize --vocab tokenizer.json --decode < ids.txt  text
//   qwen-tokenize --vocab model.gguf --chat chat.json [--ids]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "qwenedge/error.hpp"
#include "qwenedge/limits.hpp"
#include "qwenedge/tokenizer.hpp"

namespace {

using namespace qwenedge;
using Json = nlohmann::ordered_json;

constexpr char kUsage[] = R"(usage: qwen-tokenize --vocab PATH [options]

Reads UTF-8 text on stdin and prints its token ids, space-separated, on one line.

  --vocab PATH          a GGUF model file (.gguf) or a Hugging Face tokenizer.json (a
                        tokenizer_config.json beside it is read for the chat template and
                        special tokens)
  --parse-special       encode special-token text such as <|im_end|> as the special token
                        (off by default: such text is encoded as plain text)
  --decode              read token ids (separated by spaces, commas or newlines) on stdin and
                        print the text they decode to
  --skip-special        with --decode: leave out special tokens
  --chat FILE.json      render a conversation with the Qwen2.5 chat template and print it;
                        FILE.json is an array of messages or an object with "messages", and
                        optionally "tools" and "add_generation_prompt" (default true). A
                        message has "role", "content" and, for the assistant, "tool_calls"
                        ([{"function": {"name": ..., "arguments": {...}}}])
  --ids                 with --chat: print the prompt's token ids instead of its text
  --help                show this help

Exit status: 0 on success, 1 on bad input or a bad file, 2 on a usage error.
)";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Args {
  std::string vocab;
  std::string chat;
  bool decode = false;
  bool parse_special = false;
  bool skip_special = false;
  bool ids = false;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--vocab") {
      a.vocab = value();
    } else if (arg == "--chat") {
      a.chat = value();
    } else if (arg == "--decode") {
      a.decode = true;
    } else if (arg == "--parse-special") {
      a.parse_special = true;
    } else if (arg == "--skip-special") {
      a.skip_special = true;
    } else if (arg == "--ids") {
      a.ids = true;
    } else {
      throw UsageError("unknown argument '" + arg + "'");
    }
  }
  if (a.vocab.empty()) throw UsageError("--vocab PATH is required");
  if (a.decode && !a.chat.empty()) throw UsageError("--decode and --chat cannot be combined");
  if (a.ids && a.chat.empty()) throw UsageError("--ids goes with --chat");
  if (a.skip_special && !a.decode) throw UsageError("--skip-special goes with --decode");
  return a;
}

std::string read_all(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void print_ids(const std::vector<int32_t>& ids) {
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
}

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == ',' || c == '\n' || c == '\r' || c == '\t') {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != ',' && text[j] != '\n' && text[j] != '\r' && text[j] != '\t') ++j;
    const std::string word = text.substr(i, j - i);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < 0 || v > INT32_MAX) {
      throw Error(ErrorCode::kInvalidArgument, "stdin: '" + word + "' is not a token id");
    }
    ids.push_back(static_cast<int32_t>(v));
    i = j;
  }
  return ids;
}

std::string string_field(const Json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key)) return {};
  const Json& v = obj[key];
  if (v.is_null()) return {};
  if (!v.is_string()) throw Error(ErrorCode::kInvalidArgument, where + "." + key + ": expected a string");
  return v.get<std::string>();
}

int run_chat(const Args& a, const Tokenizer& tok) {
  std::ifstream in(a.chat, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, a.chat + ": cannot open");
  Json root;
  try {
    // Nesting past the library's limit is refused as it is parsed: dumping it would recurse.
    root = Json::parse(read_all(in), [&](int depth, Json::parse_event_t event, Json&) {
      if (opens_too_deep(depth, event)) {
        throw Error(ErrorCode::kInvalidArgument, a.chat + ": arrays and objects nested more than " +
                                                     std::to_string(kMaxJsonDepth) + " levels deep (the limit)");
      }
      return true;
    });
  } catch (const Json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, a.chat + ": not valid JSON: " + e.what());
  }
  std::vector<std::string> tools;
  bool add_generation_prompt = true;
  const Json* messages = &root;
  if (root.is_object()) {
    if (!root.contains("messages")) throw Error(ErrorCode::kInvalidArgument, a.chat + ": no \"messages\"");
    messages = &root["messages"];
    if (root.contains("tools") && !root["tools"].is_null()) {
      if (!root["tools"].is_array()) throw Error(ErrorCode::kInvalidArgument, a.chat + ": tools: expected an array");
      for (const Json& t : root["tools"]) tools.push_back(t.dump());
    }
    if (root.contains("add_generation_prompt")) {
      if (!root["add_generation_prompt"].is_boolean()) {
        throw Error(ErrorCode::kInvalidArgument, a.chat + ": add_generation_prompt: expected true or false");
      }
      add_generation_prompt = root["add_generation_prompt"].get<bool>();
    }
  }
  if (!messages->is_array()) throw Error(ErrorCode::kInvalidArgument, a.chat + ": messages: expected an array");
  std::vector<Message> conv;
  for (size_t i = 0; i < messages->size(); ++i) {
    const Json& m = (*messages)[i];
    const std::string where = a.chat + ": messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw Error(ErrorCode::kInvalidArgument, where + ": expected an object");
    Message msg{string_field(m, "role", where), string_field(m, "content", where), {}};
    if (msg.role.empty()) throw Error(ErrorCode::kInvalidArgument, where + ": no role");
    if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
      if (!m["tool_calls"].is_array()) throw Error(ErrorCode::kInvalidArgument, where + ".tool_calls: expected an array");
      for (const Json& tc : m["tool_calls"]) {
        const Json& f = tc.contains("function") ? tc["function"] : tc;
        if (!f.is_object()) throw Error(ErrorCode::kInvalidArgument, where + ".tool_calls: expected objects");
        const std::string name = string_field(f, "name", where + ".tool_calls");
        // OpenAI sends arguments as a string of JSON; a JSON value is used as it is.
        std::string args = "{}";
        if (f.contains("arguments")) args = f["arguments"].is_string() ? f["arguments"].get<std::string>() : f["arguments"].dump();
        msg.tool_calls.push_back({name, args});
      }
    }
    conv.push_back(std::move(msg));
  }
  if (a.ids) {
    print_ids(tok.encode_chat(conv, add_generation_prompt, tools));
  } else {
    const std::string text = tok.render_chat(conv, add_generation_prompt, tools);
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
  }
  try {
    const Args a = parse_args(argc, argv);
    const Tokenizer tok = Tokenizer::load(a.vocab);
    if (!a.chat.empty()) return run_chat(a, tok);
    const std::string input = read_all(std::cin);
    if (a.decode) {
      const std::string text = tok.decode(parse_ids(input), a.skip_special);
      std::fwrite(text.data(), 1, text.size(), stdout);
    } else {
      print_ids(tok.encode(input, a.parse_special));
    }
    return std::fflush(stdout) == 0 ? 0 : 1;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "qwen-tokenize: %s\n(see qwen-tokenize --help)\n", e.what());
    return 2;
  } catch (const Error& e) {
    std::fprintf(stderr, "qwen-tokenize: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qwen-tokenize: %s\n", e.what());
    return 1;
  }
}
