#include "tokenizer/python_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "qwenedge/error.hpp"
#include "tokenizer/json_limits.hpp"

namespace qwenedge::tokenizer {
namespace {

using Json = nlohmann::ordered_json;

void dump_string(const std::string& s, std::string& out) {
  out.push_back('"');
  for (const char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(ch)));
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

// Recurses once per level: only values from parse_bounded (at most kMaxJsonDepth levels) come here.
void dump(const Json& j, std::string& out) {
  switch (j.type()) {
    case Json::value_t::null: out += "null"; break;
    case Json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; break;
    case Json::value_t::number_integer: out += std::to_string(j.get<int64_t>()); break;
    case Json::value_t::number_unsigned: out += std::to_string(j.get<uint64_t>()); break;
    case Json::value_t::number_float: out += python_float_repr(j.get<double>()); break;
    case Json::value_t::string: dump_string(j.get_ref<const std::string&>(), out); break;
    case Json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const Json& v : j) {
        if (!first) out += ", ";
        first = false;
        dump(v, out);
      }
      out.push_back(']');
      break;
    }
    case Json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [k, v] : j.items()) {
        if (!first) out += ", ";
        first = false;
        dump_string(k, out);
        out += ": ";
        dump(v, out);
      }
      out.push_back('}');
      break;
    }
    default: out += "null"; break;  // binary and discarded values cannot come from JSON text
  }
}

// `json_text` parsed; arrays and objects nested deeper than kMaxJsonDepth are refused as the
// parser meets them, so no value deeper than that is ever built or dumped.
Json parse_bounded(std::string_view json_text, std::string_view what) {
  const auto bounded = [what](int depth, Json::parse_event_t event, Json&) {
    if (opens_too_deep(depth, event)) {
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": arrays and objects nested more than " +
                                                   std::to_string(kMaxJsonDepth) + " levels deep (the limit)");
    }
    return true;
  };
  try {
    return Json::parse(json_text, bounded);
  } catch (const Json::exception& e) {
    throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": not valid JSON: " + e.what());
  }
}

}  // namespace

std::string python_float_repr(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value < 0 ? "-Infinity" : "Infinity";
  // Shortest round-trip digits in scientific form, e.g. "-1.2345e-07", then laid out by
  // Python's rule: positional when -4 <= exponent < 16, else scientific.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));
  std::string out;
  if (sci.front() == '-') {
    out.push_back('-');
    sci.remove_prefix(1);
  }
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (const char c : sci.substr(0, e_pos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp = 0;
  std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exp);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out += "0.";
      out.append(static_cast<size_t>(-exp - 1), '0');
      out += digits;
    } else if (digits.size() <= static_cast<size_t>(exp) + 1) {
      out += digits;
      out.append(static_cast<size_t>(exp) + 1 - digits.size(), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(exp) + 1);
      out += '.';
      out += digits.substr(static_cast<size_t>(exp) + 1);
    }
    return out;
  }
  out += digits[0];
  if (digits.size() > 1) {
    out += '.';
    out += digits.substr(1);
  }
  char ebuf[16];
  std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out + ebuf;
}

std::string python_json_dumps(std::string_view json_text, std::string_view what) {
  std::string out;
  dump(parse_bounded(json_text, what), out);
  return out;
}

}  // namespace qwenedge::tokenizer
