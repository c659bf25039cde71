// Prometheus text exposition: https://prometheus.io/docs/instrumenting/exposition_formats/
#include "qwen-server/metrics.hpp"

#include <cstdio>

namespace qwenedge::server {
namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A label value as the exposition format escapes it: backslash, double quote and line feed.
std::string label(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out += name + "_bucket{le=\"" + number(bounds_[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count_) + "\n";
  out += name + "_sum " + number(sum_) + "\n" + name + "_count " + std::to_string(count_) + "\n";
}

Metrics::Metrics()
    : ttft_({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      latency_({0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}) {}

void Metrics::request(const std::string& endpoint, int status) {
  const std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::tokens(int64_t prompt, int64_t cached, int64_t generated) {
  const std::lock_guard lock(mu_);
  prompt_tokens_ += static_cast<uint64_t>(prompt);
  cached_tokens_ += static_cast<uint64_t>(cached);
  generated_tokens_ += static_cast<uint64_t>(generated);
}

void Metrics::ttft(double seconds) {
  const std::lock_guard lock(mu_);
  ttft_.observe(seconds);
}

void Metrics::latency(double seconds) {
  const std::lock_guard lock(mu_);
  latency_.observe(seconds);
}

void Metrics::rejected() {
  const std::lock_guard lock(mu_);
  ++rejected_;
}

std::string Metrics::render(int slots_busy, int slots_total, int queue_length) const {
  const std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP qwen_requests_total HTTP requests answered, by endpoint and status.\n# TYPE qwen_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += "qwen_requests_total{endpoint=\"" + label(key.first) + "\",status=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  }
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + " " + std::to_string(v) + "\n";
  };
  auto gauge = [&](const char* name, const char* help, int v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " + std::to_string(v) + "\n";
  };
  counter("qwen_prompt_tokens_total", "Prompt tokens of finished generations.", prompt_tokens_);
  counter("qwen_prompt_tokens_cached_total", "Prompt tokens reused from a slot's KV cache.", cached_tokens_);
  counter("qwen_generated_tokens_total", "Tokens generated.", generated_tokens_);
  counter("qwen_rejected_total", "Requests turned away with 503 (queue full or shutting down).", rejected_);
  ttft_.render(out, "qwen_time_to_first_token_seconds", "Request arrival to its first generated token.");
  latency_.render(out, "qwen_request_duration_seconds", "Request arrival to its last generated token.");
  gauge("qwen_slots_busy", "Slots generating now.", slots_busy);
  gauge("qwen_slots_total", "Slots (sequences decoded together).", slots_total);
  gauge("qwen_queue_length", "Requests waiting for a slot.", queue_length);
  return out;
}

}  // namespace qwenedge::server
