#include "engine/runtime/forward.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/format/tensor_codec.hpp"
#include "engine/runtime/thread_pool.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge::detail {
namespace {

// The half-open slice [begin, end) of n items that thread `tid` of `nt` takes.
struct Slice {
  int64_t begin, end;
};
Slice split(int64_t n, int nt, int tid) {
  const int64_t per = n / nt, extra = n % nt;
  const int64_t begin = tid * per + std::min<int64_t>(tid, extra);
  return {begin, begin + per + (tid < extra ? 1 : 0)};
}

// Quantizes rows [s.begin, s.end) of an activation buffer (its x rows are `cols` wide).
void quantize_rows(const kernels::KernelTable& k, kernels::ActivationBuffer& a, const float* x, int64_t cols, Slice s) {
  if (s.end <= s.begin || cols % kernels::kBlockSize != 0) return;
  const int64_t nb = cols / kernels::kBlockSize;
  k.quantize_activations(x + s.begin * cols, s.end - s.begin, cols, a.qs() + s.begin * cols, a.d() + s.begin * nb,
                         a.sums() + s.begin * nb);
}

// Items [begin, end) of thread `tid` of `nt` when item i costs prefix[i + 1] - prefix[i]: item i
// goes to the thread whose equal share of the total holds the item's midpoint.
Slice split_by_cost(const std::vector<int64_t>& prefix, int nt, int tid) {
  const int64_t total = prefix.back();
  const auto items = static_cast<int64_t>(prefix.size()) - 1;
  auto first_of = [&](int thread) {
    int64_t lo = 0, hi = items;  // the first item whose midpoint is in `thread`'s share or later
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (nt * (prefix[mid] + prefix[mid + 1]) < 2 * total * thread) lo = mid + 1; else hi = mid;
    }
    return lo;
  };
  return {first_of(tid), tid + 1 == nt ? items : first_of(tid + 1)};
}

void matmul_slice(const kernels::KernelTable& k, const WeightView& w, const kernels::ActivationBuffer& a, float* y,
                  int64_t ldy, int nt, int tid) {
  const kernels::RowRange r = kernels::row_slice(w.rows, nt, tid);
  if (r.end > r.begin) k.matmul(as_matrix(w), a.view(), y, ldy, r.begin, r.end);
}

}  // namespace

Forward::Forward(const LoadedModel& model, int64_t max_tokens, const kernels::KernelTable* table)
    : m_(model), k_(table ? table : &kernels::active_kernels()), max_tokens_(std::max<int64_t>(1, max_tokens)) {
  const ModelConfig& c = m_.config;
  auto rows = [&](int64_t width) { return std::vector<float>(static_cast<size_t>(max_tokens_ * width)); };
  x_ = rows(c.hidden);
  xn_ = rows(c.hidden);
  q_ = rows(c.q_dim());
  kv_ = rows(2 * c.kv_dim());
  att_ = rows(c.q_dim());
  gate_ = rows(c.ffn);
  up_ = rows(c.ffn);
  out_ = rows(c.hidden);
  rope_ = rows(c.head_dim);
  // RoPE inverse frequencies, computed as the reference does (fp32 pow) so angles agree.
  const int64_t half = c.head_dim / 2;
  inv_freq_.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inv_freq_[static_cast<size_t>(i)] = 1.0f / std::pow(c.rope_theta, static_cast<float>(2 * i) / static_cast<float>(c.head_dim));
  }
}

void Forward::run(std::span<const SequenceStep> steps, int threads) {
  const ModelConfig& c = m_.config;
  step_tokens_.clear();
  for (const SequenceStep& s : steps) {
    if (!s.cache) throw Error(ErrorCode::kInvalidArgument, "forward: a sequence has no KV cache");
    const auto n = static_cast<int64_t>(s.tokens.size());
    if (s.cache->size() + n > s.cache->capacity()) {
      throw Error(ErrorCode::kInvalidArgument, "context full: " + std::to_string(s.cache->size()) + " + " +
                                                   std::to_string(n) + " positions exceed the KV cache capacity " +
                                                   std::to_string(s.cache->capacity()));
    }
    size_t next_row = 0;  // of s.rows
    for (int64_t i = 0; i < n; ++i) {
      const int32_t id = s.tokens[static_cast<size_t>(i)];
      if (id < 0 || id >= c.vocab_size) {
        throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                     std::to_string(c.vocab_size) + ")");
      }
      float* dst = nullptr;
      if (s.logits && s.all_logits) {
        dst = s.logits + i * c.vocab_size;
      } else if (s.logits && !s.rows.empty()) {
        if (next_row < s.rows.size() && s.rows[next_row] == i) dst = s.logits + static_cast<int64_t>(next_row++) * c.vocab_size;
      } else if (s.logits && i == n - 1) {
        dst = s.logits;
      }
      step_tokens_.push_back({s.cache, id, s.cache->size() + i, dst});
    }
  }
  for (size_t begin = 0; begin < step_tokens_.size(); begin += static_cast<size_t>(max_tokens_)) {
    const size_t end = std::min(step_tokens_.size(), begin + static_cast<size_t>(max_tokens_));
    run_chunk(std::span<const Token>(step_tokens_.data() + begin, end - begin), threads);
  }
  for (const SequenceStep& s : steps) s.cache->resize(s.cache->size() + static_cast<int64_t>(s.tokens.size()));
}

void Forward::plan_chunk(std::span<const Token> tokens) {
  const ModelConfig& c = m_.config;
  const auto T = static_cast<int64_t>(tokens.size());
  Plan& p = plan_;
  p.tokens = tokens;
  // Rows that want logits, in order; they are contiguous in the caller's memory when one
  // sequence asked for all of them, and then the head writes there directly.
  p.logit_rows.clear();
  for (int64_t t = 0; t < T; ++t) if (tokens[static_cast<size_t>(t)].logits) p.logit_rows.push_back(t);
  const auto L = static_cast<int64_t>(p.logit_rows.size());
  bool contiguous = L > 0;
  for (int64_t i = 1; i < L && contiguous; ++i) {
    contiguous = tokens[static_cast<size_t>(p.logit_rows[i])].logits == tokens[static_cast<size_t>(p.logit_rows[0])].logits + i * c.vocab_size;
  }
  p.head_out = nullptr;
  if (L > 0 && contiguous) {
    p.head_out = tokens[static_cast<size_t>(p.logit_rows[0])].logits;
  } else if (L > 0) {
    logits_.resize(static_cast<size_t>(L * c.vocab_size));
    p.head_out = logits_.data();
  }

  // Attention items; threads take them by cost, the positions read, not by count: a prompt's
  // last tokens read the most.
  constexpr int64_t kAttendTile = 8, kTokenCost = 16;  // fixed work per token, in positions' worth
  p.n_pos.resize(static_cast<size_t>(T));
  p.att_items.clear();
  p.att_prefix.assign(1, 0);
  for (int64_t t = 0; t < T; ++t) p.n_pos[static_cast<size_t>(t)] = tokens[static_cast<size_t>(t)].pos + 1;
  for (int64_t g = 0; g < c.n_kv_heads; ++g) {
    for (int64_t t0 = 0, t = 0; t0 < T; t0 = t) {
      int64_t cost = 0;
      for (t = t0; t < T && t - t0 < kAttendTile; ++t) {
        const Token& a = tokens[static_cast<size_t>(t)];
        const Token* prev = t > t0 ? &tokens[static_cast<size_t>(t - 1)] : nullptr;
        if (prev && (a.cache != prev->cache || a.pos != prev->pos + 1)) break;  // another sequence
        cost += a.pos + 1 + kTokenCost;
      }
      p.att_items.push_back({t0, t - t0, g});
      p.att_prefix.push_back(p.att_prefix.back() + cost);
    }
  }
}

Forward::Share Forward::share(int tid, int nt) const {
  const ModelConfig& c = m_.config;
  const int64_t F = c.ffn;
  // Q, K and V heads as one list of H + 2·Hkv units of Dh rows: each thread projects whole
  // heads, so it can add their biases, rotate them and store the new keys and values itself.
  const int64_t units = c.n_heads + 2 * c.n_kv_heads;
  // The FFN's inner rows in whole 32-blocks (when quantized), so each thread can apply SiLU and
  // quantize its own blocks of the product without waiting for the others.
  const int64_t granule = F % kernels::kBlockSize == 0 ? kernels::kBlockSize : 1;
  const Slice toks = split(static_cast<int64_t>(plan_.tokens.size()), nt, tid);
  const Slice u = split(units, nt, tid);
  const Slice g = split((F + granule - 1) / granule, nt, tid);
  const Slice a = split_by_cost(plan_.att_prefix, nt, tid);
  return {tid, nt, toks.begin, toks.end, u.begin, u.end, std::min(F, g.begin * granule), std::min(F, g.end * granule),
          a.begin, a.end};
}

void Forward::run_chunk(std::span<const Token> tokens, int threads) {
  const ModelConfig& c = m_.config;
  const auto T = static_cast<int64_t>(tokens.size());
  plan_chunk(tokens);
  act_d_.prepare(xn_.data(), T, c.hidden);
  act_q_.prepare(att_.data(), T, c.q_dim());
  act_f_.prepare(gate_.data(), T, c.ffn);
  // Attention scratch per thread for the longest cache of the step: sized once, then reused.
  const int nt = std::clamp(threads, 1, detail::ThreadPool::kMaxThreads);
  int64_t longest = 0;
  for (const Token& t : tokens) longest = std::max(longest, t.cache->capacity());
  const auto scratch = static_cast<size_t>(kernels::attend_scratch_floats(c.n_heads / c.n_kv_heads, longest));
  if (scores_.size() < static_cast<size_t>(nt)) scores_.resize(static_cast<size_t>(nt));
  for (int i = 0; i < nt; ++i) if (scores_[static_cast<size_t>(i)].size() < scratch) scores_[static_cast<size_t>(i)].resize(scratch);

  pool_->run(nt, [&](int tid, int n) noexcept { layers(share(tid, n)); });

  const Plan& p = plan_;
  if (!p.logit_rows.empty() && p.head_out == logits_.data()) {
    for (size_t i = 0; i < p.logit_rows.size(); ++i) {
      std::memcpy(tokens[static_cast<size_t>(p.logit_rows[i])].logits, &logits_[i * static_cast<size_t>(c.vocab_size)],
                  static_cast<size_t>(c.vocab_size) * sizeof(float));
    }
  }
}

// The transformer, as in the paper: embed; per layer, attention then FFN, each added to the
// residual stream; the head for the rows that want logits. Barriers separate dependent phases.
void Forward::layers(const Share& s) {
  detail::ThreadPool& pool = *pool_;
  embed(s);
  pool.barrier();  // every thread reads every token's RoPE row
  for (int64_t l = 0; l < m_.config.n_layers; ++l) {
    attention_norm(l, s);
    pool.barrier();
    qkv_rope_cache(l, s);
    pool.barrier();
    attention(l, s);
    pool.barrier();
    attention_output(l, s);
    pool.barrier();
    ffn(l, s);
  }
  if (!plan_.logit_rows.empty()) {
    pool.barrier();
    head(s);
  }
}

// x = E[id]; the cos | sin rows of each token's position.
void Forward::embed(const Share& s) {
  const int64_t D = m_.config.hidden, half = m_.config.head_dim / 2;
  for (int64_t t = s.tok_begin; t < s.tok_end; ++t) {
    const Token& tok = plan_.tokens[static_cast<size_t>(t)];
    decode_weight_row(m_.weights.token_embd, tok.id, &x_[static_cast<size_t>(t * D)]);
    float* cs = &rope_[static_cast<size_t>(t * 2 * half)];
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(tok.pos) * inv_freq_[static_cast<size_t>(i)];
      cs[i] = std::cos(angle);
      cs[half + i] = std::sin(angle);
    }
  }
}

// xn = RMSNorm(x), quantized for the projections.
void Forward::attention_norm(int64_t l, const Share& s) {
  const ModelConfig& c = m_.config;
  const kernels::KernelTable& k = *k_;
  const LayerWeights& lw = m_.weights.layers[static_cast<size_t>(l)];
  const int64_t D = c.hidden;
  for (int64_t t = s.tok_begin; t < s.tok_end; ++t) k.rmsnorm(&x_[t * D], lw.attn_norm, &xn_[t * D], D, c.rms_eps);
  quantize_rows(k, act_d_, xn_.data(), D, {s.tok_begin, s.tok_end});
}

// q = Wq·xn + bq, k = Wk·xn + bk, v = Wv·xn + bv for this thread's heads; RoPE on q and k; the
// new keys and values into each token's cache.
void Forward::qkv_rope_cache(int64_t l, const Share& s) {
  const ModelConfig& c = m_.config;
  const kernels::KernelTable& k = *k_;
  const LayerWeights& lw = m_.weights.layers[static_cast<size_t>(l)];
  const int64_t Dh = c.head_dim, H = c.n_heads, Q = c.q_dim(), KV = c.kv_dim(), half = Dh / 2;
  const auto T = static_cast<int64_t>(plan_.tokens.size());
  for (int64_t u = s.unit_begin; u < s.unit_end; ++u) {
    const bool is_q = u < H, is_k = !is_q && u < H + c.n_kv_heads;
    const int64_t head = is_q ? u : is_k ? u - H : u - H - c.n_kv_heads;
    const WeightView& wm = is_q ? lw.wq : is_k ? lw.wk : lw.wv;
    const float* bias = (is_q ? lw.bq : is_k ? lw.bk : lw.bv) + head * Dh;
    float* y = is_q ? q_.data() : is_k ? kv_.data() : kv_.data() + KV;
    const int64_t ldy = is_q ? Q : 2 * KV;
    k.matmul(as_matrix(wm), act_d_.view(), y, ldy, head * Dh, (head + 1) * Dh);
    for (int64_t t = 0; t < T; ++t) {
      const Token& tok = plan_.tokens[static_cast<size_t>(t)];
      float* v = y + t * ldy + head * Dh;
      for (int64_t i = 0; i < Dh; ++i) v[i] += bias[i];
      if (!is_q && !is_k) {
        k.fp32_to_fp16_row(v, tok.cache->v(l, tok.pos) + head * Dh, Dh);
        continue;
      }
      const float* cs = &rope_[static_cast<size_t>(t * 2 * half)];
      for (int64_t i = 0; i < half; ++i) {
        const float co = cs[i], si = cs[half + i];
        const float x0 = v[i], x1 = v[i + half];
        v[i] = x0 * co - x1 * si;
        v[i + half] = x1 * co + x0 * si;
      }
      if (is_k) k.fp32_to_fp16_row(v, tok.cache->k(l, tok.pos) + head * Dh, Dh);
    }
  }
}

// att = softmax(q·Kᵀ/√Dh, causal)·V over this thread's items; each quantizes its heads' blocks
// of the output for Wo (all rows at once when heads are not whole blocks).
void Forward::attention(int64_t l, const Share& s) {
  const ModelConfig& c = m_.config;
  const kernels::KernelTable& k = *k_;
  const int64_t Dh = c.head_dim, Q = c.q_dim(), KV = c.kv_dim(), group = c.n_heads / c.n_kv_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  const bool quantize_heads = Dh % kernels::kBlockSize == 0;
  float* scores = scores_[static_cast<size_t>(s.tid)].data();
  for (int64_t i = s.att_begin; i < s.att_end; ++i) {
    const AttendItem& it = plan_.att_items[static_cast<size_t>(i)];
    const KvCache& cache = *plan_.tokens[static_cast<size_t>(it.t0)].cache;
    const int64_t* n = &plan_.n_pos[static_cast<size_t>(it.t0)];
    const int64_t e = it.t0 * Q + it.g * group * Dh;  // first element of the group's heads in q and att
    k.attend_f16(&q_[e], n, it.nt, Q, group, cache.k(l, 0) + it.g * Dh, cache.v(l, 0) + it.g * Dh, KV, Dh, scale, scores,
                 &att_[e]);
    if (quantize_heads) {
      for (int64_t t = 0; t < it.nt; ++t) {
        const int64_t et = e + t * Q, b0 = et / kernels::kBlockSize;
        k.quantize_activations(&att_[et], group, Dh, act_q_.qs() + et, act_q_.d() + b0, act_q_.sums() + b0);
      }
    }
  }
  if (!quantize_heads) {
    pool_->barrier();
    quantize_rows(k, act_q_, att_.data(), Q, {s.tok_begin, s.tok_end});
  }
}

// x += Wo·att; xn = RMSNorm(x), quantized for the FFN.
void Forward::attention_output(int64_t l, const Share& s) {
  const ModelConfig& c = m_.config;
  const kernels::KernelTable& k = *k_;
  const LayerWeights& lw = m_.weights.layers[static_cast<size_t>(l)];
  const int64_t D = c.hidden;
  matmul_slice(k, lw.wo, act_q_, out_.data(), D, s.nt, s.tid);
  pool_->barrier();
  for (int64_t t = s.tok_begin; t < s.tok_end; ++t) {
    for (int64_t i = 0; i < D; ++i) x_[t * D + i] += out_[t * D + i];
    k.rmsnorm(&x_[t * D], lw.ffn_norm, &xn_[t * D], D, c.rms_eps);
  }
  quantize_rows(k, act_d_, xn_.data(), D, {s.tok_begin, s.tok_end});
}

// x += Wdown·(SiLU(Wgate·xn) ⊙ Wup·xn). The inner rows are split in whole 32-blocks, so each
// thread quantizes its own blocks of the product. The next layer's norm reads the same tokens
// on the same thread: no barrier after the residual add.
void Forward::ffn(int64_t l, const Share& s) {
  const ModelConfig& c = m_.config;
  const kernels::KernelTable& k = *k_;
  const LayerWeights& lw = m_.weights.layers[static_cast<size_t>(l)];
  const int64_t D = c.hidden, F = c.ffn;
  const auto T = static_cast<int64_t>(plan_.tokens.size());
  if (s.ffn_end > s.ffn_begin) {
    k.matmul(as_matrix(lw.w_gate), act_d_.view(), gate_.data(), F, s.ffn_begin, s.ffn_end);
    k.matmul(as_matrix(lw.w_up), act_d_.view(), up_.data(), F, s.ffn_begin, s.ffn_end);
    const int64_t n = s.ffn_end - s.ffn_begin;
    const bool whole_blocks = F % kernels::kBlockSize == 0;
    for (int64_t t = 0; t < T; ++t) {
      float* hrow = &gate_[t * F + s.ffn_begin];
      k.silu_mul(hrow, &up_[t * F + s.ffn_begin], hrow, n);
      if (whole_blocks) {
        const int64_t e = t * F + s.ffn_begin, b0 = e / kernels::kBlockSize;
        k.quantize_activations(hrow, 1, n, act_f_.qs() + e, act_f_.d() + b0, act_f_.sums() + b0);
      }
    }
  }
  pool_->barrier();
  matmul_slice(k, lw.w_down, act_f_, out_.data(), D, s.nt, s.tid);
  pool_->barrier();
  for (int64_t t = s.tok_begin; t < s.tok_end; ++t) {
    for (int64_t i = 0; i < D; ++i) x_[t * D + i] += out_[t * D + i];
  }
}

// logits = E·RMSNorm(x) for the rows that want them, normed and packed at the front of xn.
void Forward::head(const Share& s) {
  const ModelConfig& c = m_.config;
  const kernels::KernelTable& k = *k_;
  const int64_t D = c.hidden;
  const auto L = static_cast<int64_t>(plan_.logit_rows.size());
  const Slice ls = split(L, s.nt, s.tid);
  for (int64_t i = ls.begin; i < ls.end; ++i) {
    k.rmsnorm(&x_[plan_.logit_rows[static_cast<size_t>(i)] * D], m_.weights.output_norm, &xn_[i * D], D, c.rms_eps);
  }
  if (s.tid == 0) act_d_.prepare(xn_.data(), L, D);
  pool_->barrier();
  quantize_rows(k, act_d_, xn_.data(), D, ls);
  pool_->barrier();
  matmul_slice(k, m_.weights.output, act_d_, plan_.head_out, c.vocab_size, s.nt, s.tid);
}

}  // namespace qwenedge::detail
