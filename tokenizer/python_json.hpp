// JSON text exactly as Python's json.dumps(x, ensure_ascii=False) writes it, which is what the
// chat template's `tojson` filter produces under Hugging Face: ", " and ": " separators, keys
// in their original order, non-ASCII characters unescaped, floats in Python's repr.
#pragma once

#include <string>
#include <string_view>

namespace qwenedge::tokenizer {

// Parses `json_text` and writes it back the way Python would. Throws
// qwenedge::Error(kInvalidArgument) when `json_text` is not valid JSON or nests arrays and
// objects deeper than kMaxJsonDepth (json_limits.hpp); `what` names the value in the message. Limitations: integers beyond 64 bits arrive as floats (Python keeps them
// exact); duplicate keys keep the last value at the first key's position, as Python's dict.
std::string python_json_dumps(std::string_view json_text, std::string_view what);

// Python's repr() of a float ("1.0", "1e-05", "1e+16", "-0.0", "inf" as "Infinity" in JSON).
std::string python_float_repr(double value);

}  // namespace qwenedge::tokenizer
