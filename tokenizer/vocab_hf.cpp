// Reads a Hugging Face tokenizer.json (+ tokenizer_config.json) into a Vocab. Only what the
// Qwen2 tokenizer is made of is accepted: a byte-level BPE model, the NFC normalizer and the
// Qwen2 split pattern; anything else would silently tokenize differently, so it is refused.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "qwenedge/error.hpp"
#include "tokenizer/json_limits.hpp"
#include "tokenizer/vocab.hpp"

namespace qwenedge::tokenizer {
namespace {

using nlohmann::json;

constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::kIo, path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(ErrorCode::kIo, path + ": read failed");
  // Refused past kMaxJsonDepth: error messages below dump values of the file.
  const auto bounded = [&path](int depth, json::parse_event_t event, json&) {
    if (opens_too_deep(depth, event)) {
      throw Error(ErrorCode::kBadModelFile, path + ": arrays and objects nested more than " +
                                                std::to_string(kMaxJsonDepth) + " levels deep (the limit)");
    }
    return true;
  };
  try {
    return json::parse(ss.str(), bounded);
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kBadModelFile, path + ": not valid JSON: " + e.what());
  }
}

[[noreturn]] void bad(const std::string& path, const std::string& field, const std::string& why) {
  throw Error(ErrorCode::kBadModelFile, path + ": " + field + ": " + why);
}

// Accepts {"type": "Split", "pattern": {"Regex": P}, "behavior": "Isolated"} followed by a
// ByteLevel step without its own regex, in a Sequence.
void check_pre_tokenizer(const json& pre, const std::string& path) {
  auto unsupported = [&](const std::string& what) {
    throw Error(ErrorCode::kUnsupported, path + ": pre_tokenizer: " + what + " (only the Qwen2 split is supported)");
  };
  if (!pre.is_object() || pre.value("type", "") != "Sequence" || !pre.contains("pretokenizers") ||
      !pre["pretokenizers"].is_array() || pre["pretokenizers"].size() != 2) {
    unsupported("expected a Sequence of Split and ByteLevel");
  }
  const json& split = pre["pretokenizers"][0];
  const json& bl = pre["pretokenizers"][1];
  if (split.value("type", "") != "Split" || !split.contains("pattern") || !split["pattern"].is_object() ||
      !split["pattern"].contains("Regex") || !split["pattern"]["Regex"].is_string()) {
    unsupported("first step is not a regex Split");
  }
  const std::string pattern = split["pattern"]["Regex"].get<std::string>();
  if (pattern != kQwen2Pattern) unsupported("split pattern '" + pattern + "'");
  if (split.value("behavior", "") != "Isolated" || split.value("invert", false)) unsupported("split behavior");
  if (bl.value("type", "") != "ByteLevel" || bl.value("use_regex", true) || bl.value("add_prefix_space", false)) {
    unsupported("second step is not ByteLevel without regex and prefix space");
  }
}

// A special token in tokenizer_config.json: a string, {"content": ...} or null.
std::string token_text(const json& config, const char* key, const std::string& path) {
  if (!config.contains(key) || config[key].is_null()) return {};
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  bad(path, key, "expected a string, an object with \"content\" or null");
}

}  // namespace

Vocab load_vocab_from_hf(const std::string& tokenizer_json_path, const std::string& tokenizer_config_path) {
  const std::string& path = tokenizer_json_path;
  const json root = read_json(path);
  if (!root.is_object()) bad(path, "(root)", "expected an object");
  if (!root.contains("model") || !root["model"].is_object()) bad(path, "model", "missing");
  const json& model = root["model"];
  const std::string type = model.value("type", "");
  if (type != "BPE") throw Error(ErrorCode::kUnsupported, path + ": model.type: '" + type + "' (only BPE is supported)");
  if (model.value("byte_fallback", false)) {
    throw Error(ErrorCode::kUnsupported, path + ": model.byte_fallback: true is not supported");
  }
  if (root.contains("normalizer") && !root["normalizer"].is_null() && root["normalizer"].value("type", "") != "NFC") {
    throw Error(ErrorCode::kUnsupported, path + ": normalizer: only NFC is supported, got " + root["normalizer"].dump());
  }
  if (!root.contains("pre_tokenizer")) bad(path, "pre_tokenizer", "missing");
  check_pre_tokenizer(root["pre_tokenizer"], path);

  // id -> (text, type); the vocab and the added tokens share one id space.
  std::map<int64_t, std::pair<std::string, TokenType>> by_id;
  if (!model.contains("vocab") || !model["vocab"].is_object()) bad(path, "model.vocab", "expected an object");
  for (const auto& [text, id] : model["vocab"].items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      bad(path, "model.vocab[\"" + text + "\"]", "id " + id.dump() + " is not a valid token id");
    }
    if (!by_id.emplace(id.get<int64_t>(), std::make_pair(text, TokenType::kNormal)).second) {
      bad(path, "model.vocab[\"" + text + "\"]", "id " + id.dump() + " is used twice");
    }
  }
  if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
    if (!root["added_tokens"].is_array()) bad(path, "added_tokens", "expected an array");
    size_t i = 0;
    for (const json& t : root["added_tokens"]) {
      const std::string field = "added_tokens[" + std::to_string(i++) + "]";
      if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
          !t["content"].is_string()) {
        bad(path, field, "expected {\"id\": int, \"content\": string, ...}");
      }
      const int64_t id = t["id"].get<int64_t>();
      if (id < 0 || id > INT32_MAX) bad(path, field + ".id", std::to_string(id) + " is not a valid token id");
      const TokenType tt = t.value("special", false) ? TokenType::kControl : TokenType::kUserDefined;
      auto [it, inserted] = by_id.emplace(id, std::make_pair(t["content"].get<std::string>(), tt));
      if (!inserted) {
        if (it->second.first != t["content"].get<std::string>()) {
          bad(path, field, "id " + std::to_string(id) + " is already the token '" + it->second.first + "'");
        }
        it->second.second = tt;  // an added token that is also in the vocab takes the added type
      }
    }
  }
  if (by_id.empty()) bad(path, "model.vocab", "empty");

  Vocab vocab;
  const auto size = static_cast<size_t>(by_id.rbegin()->first + 1);
  vocab.tokens.resize(size);
  vocab.types.assign(size, TokenType::kUnused);
  for (size_t id = 0; id < size; ++id) vocab.tokens[id] = "[PAD" + std::to_string(id) + "]";
  for (auto& [id, entry] : by_id) {
    vocab.tokens[static_cast<size_t>(id)] = std::move(entry.first);
    vocab.types[static_cast<size_t>(id)] = entry.second;
  }

  if (!model.contains("merges") || !model["merges"].is_array()) bad(path, "model.merges", "expected an array");
  vocab.merges.reserve(model["merges"].size());
  size_t rank = 0;
  for (const json& m : model["merges"]) {
    if (m.is_string()) {
      vocab.merges.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      vocab.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      bad(path, "model.merges[" + std::to_string(rank) + "]", "expected \"a b\" or [\"a\", \"b\"]");
    }
    ++rank;
  }
  vocab.pre = "qwen2";

  if (!tokenizer_config_path.empty()) {
    const std::string& cpath = tokenizer_config_path;
    const json config = read_json(cpath);
    if (!config.is_object()) bad(cpath, "(root)", "expected an object");
    auto find_id = [&](const char* key) -> int32_t {
      const std::string text = token_text(config, key, cpath);
      if (text.empty()) return -1;
      for (size_t id = 0; id < vocab.tokens.size(); ++id) {
        if (vocab.tokens[id] == text && vocab.types[id] != TokenType::kUnused) return static_cast<int32_t>(id);
      }
      bad(cpath, key, "token '" + text + "' is not in " + path);
    };
    vocab.bos_id = find_id("bos_token");
    vocab.eos_id = find_id("eos_token");
    vocab.pad_id = find_id("pad_token");
    if (config.contains("add_bos_token")) {
      if (!config["add_bos_token"].is_boolean()) bad(cpath, "add_bos_token", "expected true or false");
      vocab.add_bos = config["add_bos_token"].get<bool>();
    }
    if (config.contains("chat_template") && !config["chat_template"].is_null()) {
      const json& ct = config["chat_template"];
      if (ct.is_string()) {
        vocab.chat_template = ct.get<std::string>();
      } else if (ct.is_array()) {  // [{"name": "default", "template": ...}, ...]
        for (const json& t : ct) {
          if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string()) {
            vocab.chat_template = t["template"].get<std::string>();
          }
        }
      } else {
        bad(cpath, "chat_template", "expected a string or a list of named templates");
      }
    }
  }
  return vocab;
}

}  // namespace qwenedge::tokenizer
