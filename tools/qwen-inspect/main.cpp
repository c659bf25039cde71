// qwen-inspect: a GGUF file's metadata and tensor table.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "qwenedge/error.hpp"
#include "qwenedge/inspect.hpp"

namespace {

constexpr const char* kUsage = R"(usage: qwen-inspect FILE.gguf [--json] [--items N]

Validates a GGUF file's header and prints its metadata and tensor table
(name, type, shape, offset, bytes).

  --json      machine-readable output
  --items N   array items to show per metadata value (default 8)
  -h, --help  this text
)";

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  bool json = false;
  size_t items = 8;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--items" && i + 1 < argc) {
      try {
        items = std::stoul(argv[++i]);
      } catch (const std::exception&) {
        std::fprintf(stderr, "qwen-inspect: --items needs a number, got \"%s\"\n", argv[i]);
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "qwen-inspect: unknown option %s\n%s", a.c_str(), kUsage);
      return 2;
    } else if (path.empty()) {
      path = a;
    } else {
      std::fprintf(stderr, "qwen-inspect: unexpected argument %s\n", a.c_str());
      return 2;
    }
  }
  if (path.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  try {
    const qwenedge::GgufSummary s = qwenedge::inspect_gguf(path, items);
    if (json) {
      nlohmann::json j;
      j["path"] = s.path;
      j["version"] = s.version;
      j["alignment"] = s.alignment;
      j["file_bytes"] = s.file_bytes;
      j["metadata"] = nlohmann::json::array();
      for (const auto& m : s.metadata) j["metadata"].push_back({{"key", m.key}, {"type", m.type}, {"value", m.value}});
      j["tensors"] = nlohmann::json::array();
      for (const auto& t : s.tensors) {
        j["tensors"].push_back({{"name", t.name}, {"type", t.type}, {"shape", t.shape}, {"offset", t.offset}, {"bytes", t.bytes}});
      }
      std::puts(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
      return 0;
    }
    std::printf("%s: GGUF v%u, alignment %llu, %llu bytes\n\n", s.path.c_str(), s.version,
                static_cast<unsigned long long>(s.alignment), static_cast<unsigned long long>(s.file_bytes));
    std::printf("metadata (%zu keys)\n", s.metadata.size());
    for (const auto& m : s.metadata) std::printf("  %-45s %-14s %s\n", m.key.c_str(), m.type.c_str(), m.value.c_str());
    std::printf("\ntensors (%zu)\n  %-28s %-7s %-18s %14s %14s\n", s.tensors.size(), "name", "type", "shape", "offset", "bytes");
    uint64_t total = 0;
    for (const auto& t : s.tensors) {
      std::string shape;
      for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.shape[i]);
      std::printf("  %-28s %-7s %-18s %14llu %14llu\n", t.name.c_str(), t.type.c_str(), shape.c_str(),
                  static_cast<unsigned long long>(t.offset), static_cast<unsigned long long>(t.bytes));
      total += t.bytes;
    }
    std::printf("\n%zu tensors, %.1f MiB of tensor data\n", s.tensors.size(), static_cast<double>(total) / (1 << 20));
  } catch (const qwenedge::Error& e) {
    std::fprintf(stderr, "qwen-inspect: %s\n", e.what());
    return 1;
  }
  return 0;
}
