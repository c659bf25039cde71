// The HTTP/1.1 request parser on arbitrary bytes. Properties: it never crashes or holds more than
// its limits allow, and the bytes give the same requests (or the same refusal) whether they come
// at once or in pieces of any size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "qwen-server/http/request_parser.hpp"

using namespace qwenedge::server::http;

namespace {

struct Parsed {
  std::vector<Request> requests;
  int status = 0;
};

Parsed run(std::string_view bytes, size_t step, const ParserLimits& limits) {
  RequestParser p(limits);
  Parsed out;
  for (size_t i = 0; i < bytes.size() && !p.failed(); i += step) {
    p.feed(bytes.substr(i, step));
    while (p.done()) {
      const Request& r = p.request();
      if (r.body.size() > limits.max_body) std::abort();
      out.requests.push_back(p.take());
      p.feed({});
    }
  }
  if (p.failed()) out.status = p.error().status;
  return out;
}

bool same(const Parsed& a, const Parsed& b) {
  if (a.status != b.status || a.requests.size() != b.requests.size()) return false;
  for (size_t i = 0; i < a.requests.size(); ++i) {
    const Request &x = a.requests[i], &y = b.requests[i];
    if (x.method != y.method || x.target != y.target || x.body != y.body || x.headers.size() != y.headers.size() ||
        x.keep_alive != y.keep_alive) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks a split size; small limits make every limit reachable.
  const size_t step = 1 + data[0] % 16;
  ParserLimits limits;
  limits.max_line = 256;
  limits.max_head = 1024;
  limits.max_headers = 8;
  limits.max_body = 512;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (!same(run(bytes, bytes.size() + 1, limits), run(bytes, step, limits))) std::abort();
  return 0;
}
