// qwenedge::Error — the one exception type the library throws.
#pragma once

#include <stdexcept>
#include <string>

namespace qwenedge {

// Broad classes of failure, stable across versions (the C API maps them to return codes).
enum class ErrorCode {
  kInvalidArgument = 1,  // a bad option, value or request from the caller
  kIo = 2,               // a file could not be opened, read or written
  kBadModelFile = 3,     // a model file (GGUF, safetensors, config.json) is malformed or inconsistent
  kUnsupported = 4,      // well-formed input that this engine does not handle (architecture, type)
  kCancelled = 5,        // the caller asked to stop
  kInternal = 6,         // a bug: please report it
};

const char* error_code_name(ErrorCode code) noexcept;

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace qwenedge
