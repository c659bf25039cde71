#include "engine/runtime/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_map>

#include "qwenedge/error.hpp"

namespace qwenedge::detail {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw Error(ErrorCode::kInvalidArgument, what);
}

}  // namespace

void validate(const SamplingParams& p) {
  require(std::isfinite(p.temperature) && p.temperature >= 0.0f && p.temperature <= 100.0f,
          "temperature = " + std::to_string(p.temperature) + " (expected 0..100; 0 = greedy)");
  require(p.top_k >= 0, "top_k = " + std::to_string(p.top_k) + " (expected >= 0; 0 = off)");
  require(std::isfinite(p.top_p) && p.top_p > 0.0f && p.top_p <= 1.0f, "top_p = " + std::to_string(p.top_p) + " (expected (0, 1])");
  require(std::isfinite(p.min_p) && p.min_p >= 0.0f && p.min_p < 1.0f, "min_p = " + std::to_string(p.min_p) + " (expected [0, 1))");
  require(std::isfinite(p.repetition_penalty) && p.repetition_penalty > 0.0f && p.repetition_penalty <= 10.0f,
          "repetition_penalty = " + std::to_string(p.repetition_penalty) + " (expected (0, 10]; 1 = off)");
  require(std::isfinite(p.presence_penalty) && std::fabs(p.presence_penalty) <= 2.0f,
          "presence_penalty = " + std::to_string(p.presence_penalty) + " (expected -2..2)");
  require(std::isfinite(p.frequency_penalty) && std::fabs(p.frequency_penalty) <= 2.0f,
          "frequency_penalty = " + std::to_string(p.frequency_penalty) + " (expected -2..2)");
  require(p.repeat_last_n >= -1, "repeat_last_n = " + std::to_string(p.repeat_last_n) + " (expected >= -1)");
}

Sampler::Sampler(const SamplingParams& params) : p_(params), state_(params.seed ^ 0x9e3779b97f4a7c15ull) {
  validate(p_);
  if (state_ == 0) state_ = 1;  // xorshift's one fixed point
}

double Sampler::uniform() {
  state_ ^= state_ >> 12;
  state_ ^= state_ << 25;
  state_ ^= state_ >> 27;
  const uint64_t r = state_ * 0x2545f4914f6cdd1dull;
  return static_cast<double>(r >> 11) * 0x1.0p-53;
}

int32_t Sampler::sample(std::span<float> logits, std::span<const int32_t> history, std::span<const int32_t> generated) {
  const auto V = static_cast<int32_t>(logits.size());

  // Repetition penalty: each distinct token of the window once, as Hugging Face does.
  if (p_.repetition_penalty != 1.0f && !history.empty()) {
    const size_t n = p_.repeat_last_n < 0 ? history.size() : std::min(history.size(), static_cast<size_t>(p_.repeat_last_n));
    std::vector<int32_t> seen(history.end() - static_cast<std::ptrdiff_t>(n), history.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= V) continue;
      float& l = logits[static_cast<size_t>(id)];
      l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
    }
  }
  if ((p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f) && !generated.empty()) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t id : generated) ++counts[id];
    for (const auto& [id, count] : counts) {
      if (id < 0 || id >= V) continue;
      logits[static_cast<size_t>(id)] -= p_.presence_penalty + p_.frequency_penalty * static_cast<float>(count);
    }
  }

  if (p_.temperature == 0.0f) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }

  // Candidates sorted by logit, best first; top-k keeps only k of them (a partial sort).
  const int32_t k = p_.top_k > 0 ? std::min(p_.top_k, V) : V;
  candidates_.resize(static_cast<size_t>(V));
  for (int32_t i = 0; i < V; ++i) candidates_[static_cast<size_t>(i)] = {logits[static_cast<size_t>(i)], i};
  auto better = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  std::partial_sort(candidates_.begin(), candidates_.begin() + k, candidates_.end(), better);
  candidates_.resize(static_cast<size_t>(k));

  // Softmax at the temperature (in double: tails of 150k logits add up).
  const double max_l = candidates_.front().first;
  std::vector<double> prob(candidates_.size());
  double sum = 0;
  for (size_t i = 0; i < candidates_.size(); ++i) {
    prob[i] = std::exp((static_cast<double>(candidates_[i].first) - max_l) / p_.temperature);
    sum += prob[i];
  }
  size_t keep = candidates_.size();
  if (p_.top_p < 1.0f) {  // the smallest prefix whose mass reaches top_p
    double mass = 0;
    for (size_t i = 0; i < keep; ++i) {
      mass += prob[i] / sum;
      if (mass >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p_.min_p > 0.0f) {  // drop tokens less likely than min_p × the best
    const double floor = p_.min_p * prob[0];
    size_t i = 1;
    while (i < keep && prob[i] >= floor) ++i;
    keep = i;
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += prob[i];
  double r = uniform() * kept;
  for (size_t i = 0; i < keep; ++i) {
    r -= prob[i];
    if (r < 0) return candidates_[i].second;
  }
  return candidates_[keep - 1].second;
}

}  // namespace qwenedge::detail
