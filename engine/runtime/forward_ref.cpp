#include "engine/runtime/forward_ref.hpp"

#include <algorithm>
#include <cmath>

#include "engine/format/tensor_codec.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::detail {
namespace {

// y[t, rows] = x[t, cols] · Wᵀ for t < n: each weight row is decoded once and used for all
// tokens. Rows are split across threads; each output is computed by one thread in one order,
// so results do not depend on the thread count.
void matmul(const WeightView& w, const float* x, int64_t n, float* y) {
#pragma omp parallel
  {
    std::vector<float> row(static_cast<size_t>(w.cols));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < w.rows; ++r) {
      decode_weight_row(w, r, row.data());
      for (int64_t t = 0; t < n; ++t) {
        const float* xt = x + t * w.cols;
        float sum = 0.0f;
        for (int64_t k = 0; k < w.cols; ++k) sum += row[static_cast<size_t>(k)] * xt[k];
        y[t * w.rows + r] = sum;
      }
    }
  }
}

// out = x / sqrt(mean(x²) + eps) · w, over one row of D values.
void rmsnorm(const float* x, const float* w, int64_t d, float eps, float* out) {
  double ss = 0.0;
  for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(x[i]) * x[i];
  const auto scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(d) + eps));
  for (int64_t i = 0; i < d; ++i) out[i] = x[i] * scale * w[i];
}

// NeoX-style RoPE (Hugging Face rotate_half): dimension i pairs with i + Dh/2. Angles are
// computed in fp32 as Hugging Face does, so long positions round the same way.
void rope(float* head, int64_t dh, int64_t pos, float theta) {
  const int64_t half = dh / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float inv_freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(dh));
    const float angle = static_cast<float>(pos) * inv_freq;
    const float c = std::cos(angle), s = std::sin(angle);
    const float x0 = head[i], x1 = head[i + half];
    head[i] = x0 * c - x1 * s;
    head[i + half] = x1 * c + x0 * s;
  }
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

// out[Dh] = softmax(q·kᵀ·scale over positions 0..pos)·v for one query head; k and v point at
// its KV head's slice of position 0, rows `ld` apart.
void attend_head(const float* q, const float* k, const float* v, int64_t ld, int64_t Dh, int64_t pos, float scale,
                 float* scores, float* out) {
  float max_s = -INFINITY;
  for (int64_t j = 0; j <= pos; ++j) {
    const float* kj = k + j * ld;
    float s = 0.0f;
    for (int64_t i = 0; i < Dh; ++i) s += q[i] * kj[i];
    scores[j] = s * scale;
    max_s = std::max(max_s, scores[j]);
  }
  float sum = 0.0f;
  for (int64_t j = 0; j <= pos; ++j) {
    scores[j] = std::exp(scores[j] - max_s);
    sum += scores[j];
  }
  std::fill_n(out, Dh, 0.0f);
  for (int64_t j = 0; j <= pos; ++j) {
    const float p = scores[j] / sum;
    const float* vj = v + j * ld;
    for (int64_t i = 0; i < Dh; ++i) out[i] += p * vj[i];
  }
}

}  // namespace

RefKvCache::RefKvCache(const ModelConfig& c, int64_t cap) : capacity(cap), kv_dim(c.kv_dim()) {
  k.assign(static_cast<size_t>(c.n_layers), std::vector<float>(static_cast<size_t>(cap * kv_dim)));
  v.assign(static_cast<size_t>(c.n_layers), std::vector<float>(static_cast<size_t>(cap * kv_dim)));
}

void forward_reference(const LoadedModel& model, RefKvCache& cache, std::span<const int32_t> tokens, float* logits,
                       bool all_logits) {
  const ModelConfig& c = model.config;
  const ModelWeights& w = model.weights;
  const auto n = static_cast<int64_t>(tokens.size());
  if (n == 0) return;
  if (cache.n + n > cache.capacity) {
    throw Error(ErrorCode::kInvalidArgument, "context full: " + std::to_string(cache.n) + " + " + std::to_string(n) +
                                                 " positions exceed the cache capacity " + std::to_string(cache.capacity));
  }
  for (int32_t id : tokens) {
    if (id < 0 || id >= c.vocab_size) {
      throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                   std::to_string(c.vocab_size) + ")");
    }
  }
  const int64_t D = c.hidden, F = c.ffn, Dh = c.head_dim, H = c.n_heads, Hkv = c.n_kv_heads;
  const int64_t Q = c.q_dim(), KV = c.kv_dim(), group = H / Hkv;
  const int64_t p0 = cache.n;
  auto buf = [](int64_t size) { return std::vector<float>(static_cast<size_t>(size)); };

  std::vector<float> x = buf(n * D);       // [n, D] residual stream
  std::vector<float> xn = buf(n * D);      // [n, D] normed input of a block
  std::vector<float> q = buf(n * Q);       // [n, H·Dh]
  std::vector<float> k = buf(n * KV);      // [n, Hkv·Dh]
  std::vector<float> v = buf(n * KV);      // [n, Hkv·Dh]
  std::vector<float> att = buf(n * Q);     // [n, H·Dh] attention output
  std::vector<float> proj = buf(n * D);    // [n, D]
  std::vector<float> gate = buf(n * F);    // [n, F]
  std::vector<float> up = buf(n * F);      // [n, F]
  std::vector<float> scores = buf(p0 + n); // [positions]

  for (int64_t t = 0; t < n; ++t) decode_weight_row(w.token_embd, tokens[static_cast<size_t>(t)], &x[t * D]);

  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w.layers[static_cast<size_t>(l)];
    float* kc = cache.k[static_cast<size_t>(l)].data();  // [capacity, Hkv·Dh]
    float* vc = cache.v[static_cast<size_t>(l)].data();

    // Attention block.
    for (int64_t t = 0; t < n; ++t) rmsnorm(&x[t * D], lw.attn_norm, D, c.rms_eps, &xn[t * D]);
    matmul(lw.wq, xn.data(), n, q.data());
    matmul(lw.wk, xn.data(), n, k.data());
    matmul(lw.wv, xn.data(), n, v.data());
    for (int64_t t = 0; t < n; ++t) {
      const int64_t pos = p0 + t;
      for (int64_t i = 0; i < Q; ++i) q[t * Q + i] += lw.bq[i];
      for (int64_t i = 0; i < KV; ++i) {
        k[t * KV + i] += lw.bk[i];
        v[t * KV + i] += lw.bv[i];
      }
      for (int64_t h = 0; h < H; ++h) rope(&q[t * Q + h * Dh], Dh, pos, c.rope_theta);
      for (int64_t h = 0; h < Hkv; ++h) rope(&k[t * KV + h * Dh], Dh, pos, c.rope_theta);
      std::copy_n(&k[t * KV], KV, kc + pos * KV);
      std::copy_n(&v[t * KV], KV, vc + pos * KV);
    }
    for (int64_t t = 0; t < n; ++t) {
      const int64_t pos = p0 + t;  // attends to positions 0..pos (causal)
      for (int64_t h = 0; h < H; ++h) {
        const int64_t g = h / group;  // the KV head this query head shares
        attend_head(&q[t * Q + h * Dh], kc + g * Dh, vc + g * Dh, KV, Dh, pos, scale, scores.data(), &att[t * Q + h * Dh]);
      }
    }
    matmul(lw.wo, att.data(), n, proj.data());
    for (int64_t i = 0; i < n * D; ++i) x[static_cast<size_t>(i)] += proj[static_cast<size_t>(i)];

    // Feed-forward block: down(silu(gate(x)) ⊙ up(x)).
    for (int64_t t = 0; t < n; ++t) rmsnorm(&x[t * D], lw.ffn_norm, D, c.rms_eps, &xn[t * D]);
    matmul(lw.w_gate, xn.data(), n, gate.data());
    matmul(lw.w_up, xn.data(), n, up.data());
    for (int64_t i = 0; i < n * F; ++i) gate[static_cast<size_t>(i)] = silu(gate[static_cast<size_t>(i)]) * up[static_cast<size_t>(i)];
    matmul(lw.w_down, gate.data(), n, proj.data());
    for (int64_t i = 0; i < n * D; ++i) x[static_cast<size_t>(i)] += proj[static_cast<size_t>(i)];
  }
  cache.n += n;

  const int64_t first = all_logits ? 0 : n - 1;
  for (int64_t t = first; t < n; ++t) rmsnorm(&x[t * D], w.output_norm, D, c.rms_eps, &xn[(t - first) * D]);
  matmul(w.output, xn.data(), n - first, logits);
}

}  // namespace qwenedge::detail
