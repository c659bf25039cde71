// libFuzzer target: the GGUF reader must reject any byte string with qwenedge::Error or accept
// it, never crash, hang or read out of bounds. Accepted files are walked completely: every
// metadata value through the typed getters, every tensor's data bytes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/format/gguf.hpp"
#include "qwenedge/error.hpp"


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private copy, so reads past `size` are caught by AddressSanitizer.
  std::vector<uint8_t> bytes(data, data + size);
  try {
    const auto f = qwenedge::gguf::File::from_memory(bytes.data(), bytes.size(), "fuzz.gguf");
    volatile uint64_t sink = 0;
    for (const auto& kv : f.metadata()) {
      try {
        sink = sink + f.get_u64(kv.key);
      } catch (const qwenedge::Error&) {
      }
      try {
        for (auto s : f.get_string_array(kv.key)) sink = sink + s.size();
      } catch (const qwenedge::Error&) {
      }
      try {
        for (int64_t v : f.get_int_array(kv.key)) sink = sink + static_cast<uint64_t>(v);
      } catch (const qwenedge::Error&) {
      }
      try {
        sink = sink + static_cast<uint64_t>(f.get_f32(kv.key));
      } catch (const qwenedge::Error&) {
      }
    }
    for (const auto& t : f.tensors()) {
      const uint8_t* p = f.tensor_data(t);
      for (uint64_t i = 0; i < t.bytes; i += 97) sink = sink + p[i];
      if (t.bytes) sink = sink + p[t.bytes - 1];
    }
  } catch (const qwenedge::Error&) {
  }
  return 0;
}
