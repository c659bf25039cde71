// What the tools that write model files (qwen-convert, qwen-random-model) print: progress on a
// terminal, a one-line summary, and errors prefixed with the tool's name.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "qwenedge/convert.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::tools {

using ProgressFn = std::function<void(const ConvertProgress&)>;

// Calls write(progress) — progress is empty when quiet or stderr is not a terminal — and prints
// the summary. Returns the process exit status: 0, or 1 after printing the error.
inline int write_model(const char* tool, const std::string& out, bool quiet,
                       const std::function<ConvertSummary(const ProgressFn&)>& write) {
  ProgressFn progress;
  if (!quiet && isatty(STDERR_FILENO) != 0) {
    progress = [](const ConvertProgress& p) {
      std::fprintf(stderr, "\r[%4lld/%4lld] %-28s %-5s", static_cast<long long>(p.index), static_cast<long long>(p.count),
                   p.name.c_str(), p.type.c_str());
      if (p.index == p.count) std::fputc('\n', stderr);
      std::fflush(stderr);
    };
  }
  try {
    const ConvertSummary s = write(progress);
    if (!quiet) {
      std::printf("wrote %s: %lld tensors, %llu parameters, %.1f MiB of tensor data, %.2f bits/weight, file %.1f MiB\n",
                  out.c_str(), static_cast<long long>(s.tensors), static_cast<unsigned long long>(s.parameters),
                  static_cast<double>(s.tensor_bytes) / (1 << 20), s.bits_per_weight(),
                  static_cast<double>(s.file_bytes) / (1 << 20));
    }
  } catch (const Error& e) {
    if (progress) std::fputc('\n', stderr);
    std::fprintf(stderr, "%s: %s\n", tool, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: unexpected error: %s\n", tool, e.what());
    return 1;
  }
  return 0;
}

}  // namespace qwenedge::tools
