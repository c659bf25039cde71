// Counters and histograms of the server, rendered in the Prometheus text format.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace qwenedge::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void observe(double v);
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::vector<double> bounds_;    // upper bounds of the buckets, ascending; +Inf is implied
  std::vector<uint64_t> counts_;  // per bucket (not cumulative)
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Thread-safe: the event loop, the workers and the scheduler thread record at once.
class Metrics {
 public:
  Metrics();
  // `endpoint` comes from the server's fixed set of route labels ("other" for the rest), so no
  // request can add a series.
  void request(const std::string& endpoint, int status);
  void tokens(int64_t prompt, int64_t cached, int64_t generated);
  void ttft(double seconds);
  void latency(double seconds);
  void rejected();  // queue full or draining

  // Gauges are sampled by the caller at render time.
  std::string render(int slots_busy, int slots_total, int queue_length) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;  // (endpoint, status) -> count
  uint64_t prompt_tokens_ = 0, cached_tokens_ = 0, generated_tokens_ = 0, rejected_ = 0;
  Histogram ttft_, latency_;
};

}  // namespace qwenedge::server
