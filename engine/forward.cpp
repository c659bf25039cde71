#include "engine/forward.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/tensor_codec.hpp"
#include "engine/thread_pool.hpp"
#include "qwenedge/error.hpp"

namespace qwenedge {
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
}

void Forward::run(std::span<const SequenceStep> steps, int threads) {
  const ModelConfig& c = m_.config;
  std::vector<Token> all;
  for (const SequenceStep& s : steps) {
    if (!s.cache) throw Error(ErrorCode::kInvalidArgument, "forward: a sequence has no KV cache");
    const auto n = static_cast<int64_t>(s.tokens.size());
    if (s.cache->size() + n > s.cache->capacity()) {
      throw Error(ErrorCode::kInvalidArgument, "context full: " + std::to_string(s.cache->size()) + " + " +
                                                   std::to_string(n) + " positions exceed the KV cache capacity " +
                                                   std::to_string(s.cache->capacity()));
    }
    for (int64_t i = 0; i < n; ++i) {
      const int32_t id = s.tokens[static_cast<size_t>(i)];
      if (id < 0 || id >= c.vocab_size) {
        throw Error(ErrorCode::kInvalidArgument, "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                                     std::to_string(c.vocab_size) + ")");
      }
      const bool wants = s.all_logits || i == n - 1;
      float* dst = !wants || !s.logits ? nullptr : s.logits + (s.all_logits ? i * c.vocab_size : 0);
      all.push_back({s.cache, id, s.cache->size() + i, dst ? 0 : -1, dst});
    }
  }
  for (size_t begin = 0; begin < all.size(); begin += static_cast<size_t>(max_tokens_)) {
    const size_t end = std::min(all.size(), begin + static_cast<size_t>(max_tokens_));
    run_chunk(std::span<const Token>(all.data() + begin, end - begin), threads);
  }
  for (const SequenceStep& s : steps) s.cache->resize(s.cache->size() + static_cast<int64_t>(s.tokens.size()));
}

void Forward::run_chunk(std::span<const Token> tokens, int threads) {
  const ModelConfig& c = m_.config;
  const ModelWeights& w = m_.weights;
  const kernels::KernelTable& k = *k_;
  const auto T = static_cast<int64_t>(tokens.size());
  const int64_t D = c.hidden, F = c.ffn, Dh = c.head_dim, H = c.n_heads, Q = c.q_dim(), KV = c.kv_dim();
  const int64_t group = H / c.n_kv_heads, half = Dh / 2;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));

  // Rows that want logits, in order; they are contiguous in the caller's memory when one
  // sequence asked for all of them, and then the head writes there directly.
  std::vector<int64_t> logit_rows;
  for (int64_t t = 0; t < T; ++t) if (tokens[static_cast<size_t>(t)].logits) logit_rows.push_back(t);
  const auto L = static_cast<int64_t>(logit_rows.size());
  bool contiguous = L > 0;
  for (int64_t i = 1; i < L && contiguous; ++i) {
    contiguous = tokens[static_cast<size_t>(logit_rows[i])].logits == tokens[static_cast<size_t>(logit_rows[0])].logits + i * c.vocab_size;
  }
  float* head_out = nullptr;
  if (L > 0) {
    if (contiguous) {
      head_out = tokens[static_cast<size_t>(logit_rows[0])].logits;
    } else {
      logits_.resize(static_cast<size_t>(L * c.vocab_size));
      head_out = logits_.data();
    }
  }

  // RoPE inverse frequencies, computed as the reference does (fp32 pow) so angles agree.
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    inv_freq[static_cast<size_t>(i)] = 1.0f / std::pow(c.rope_theta, static_cast<float>(2 * i) / static_cast<float>(Dh));
  }
  // [T, 2·half]: cos | sin of each token's position, shared by every layer and head.
  rope_.resize(static_cast<size_t>(T * 2 * half));
  // Q, K and V heads as one list of H + 2·Hkv units of Dh rows: each thread projects whole
  // heads, so it can add their biases, rotate them and store the new keys and values itself.
  const int64_t units = H + 2 * c.n_kv_heads;
  // The FFN's inner rows in whole 32-blocks (when quantized), so each thread can apply SiLU and
  // quantize its own blocks of the product without waiting for the others.
  const int64_t ffn_granule = F % kernels::kBlockSize == 0 ? kernels::kBlockSize : 1;
  const bool quantize_heads = Dh % kernels::kBlockSize == 0;

  // Causal attention work items: a tile of up to kAttendTile consecutive tokens of one sequence
  // (they share the widening of each key and value row they read) for one KV head. Threads take
  // them by cost, the positions read, not by count: a prompt's last tokens read the most.
  struct AttendItem {
    int64_t t0, nt, g;
  };
  constexpr int64_t kAttendTile = 8, kTokenCost = 16;  // fixed work per token, in positions' worth
  std::vector<int64_t> n_pos(static_cast<size_t>(T));
  std::vector<AttendItem> att_items;
  std::vector<int64_t> att_prefix = {0};
  for (int64_t t = 0; t < T; ++t) n_pos[static_cast<size_t>(t)] = tokens[static_cast<size_t>(t)].pos + 1;
  for (int64_t g = 0; g < c.n_kv_heads; ++g) {
    for (int64_t t0 = 0, t = 0; t0 < T; t0 = t) {
      int64_t cost = 0;
      for (t = t0; t < T && t - t0 < kAttendTile; ++t) {
        const Token& a = tokens[static_cast<size_t>(t)];
        const Token* prev = t > t0 ? &tokens[static_cast<size_t>(t - 1)] : nullptr;
        if (prev && (a.cache != prev->cache || a.pos != prev->pos + 1)) break;  // another sequence
        cost += a.pos + 1 + kTokenCost;
      }
      att_items.push_back({t0, t - t0, g});
      att_prefix.push_back(att_prefix.back() + cost);
    }
  }

  act_d_.prepare(xn_.data(), T, D);
  act_q_.prepare(att_.data(), T, Q);
  act_f_.prepare(gate_.data(), T, F);

  detail::ThreadPool& pool = *pool_;
  pool.run(std::max(1, threads), [&](int tid, int nt) noexcept {
    const Slice mine = split(T, nt, tid);
    std::vector<float> scores;

    for (int64_t t = mine.begin; t < mine.end; ++t) {
      decode_weight_row(w.token_embd, tokens[static_cast<size_t>(t)].id, &x_[static_cast<size_t>(t * D)]);
      float* cs = &rope_[static_cast<size_t>(t * 2 * half)];
      for (int64_t i = 0; i < half; ++i) {
        const float angle = static_cast<float>(tokens[static_cast<size_t>(t)].pos) * inv_freq[static_cast<size_t>(i)];
        cs[i] = std::cos(angle);
        cs[half + i] = std::sin(angle);
      }
    }
    // Every thread reads every token's RoPE row below.
    pool.barrier();
    const Slice my_units = split(units, nt, tid);
    const Slice my_ffn = [&] {
      const Slice g = split((F + ffn_granule - 1) / ffn_granule, nt, tid);
      return Slice{std::min(F, g.begin * ffn_granule), std::min(F, g.end * ffn_granule)};
    }();

    for (int64_t l = 0; l < c.n_layers; ++l) {
      const LayerWeights& lw = w.layers[static_cast<size_t>(l)];

      // xn = RMSNorm(x), quantized for the projections.
      for (int64_t t = mine.begin; t < mine.end; ++t) k.rmsnorm(&x_[t * D], lw.attn_norm, &xn_[t * D], D, c.rms_eps);
      quantize_rows(k, act_d_, xn_.data(), D, mine);
      pool.barrier();
      // q = Wq·xn + bq, k = Wk·xn + bk, v = Wv·xn + bv for this thread's heads; RoPE on q and
      // k; the new keys and values into each token's cache.
      for (int64_t u = my_units.begin; u < my_units.end; ++u) {
        const bool is_q = u < H, is_k = !is_q && u < H + c.n_kv_heads;
        const int64_t head = is_q ? u : is_k ? u - H : u - H - c.n_kv_heads;
        const WeightView& wm = is_q ? lw.wq : is_k ? lw.wk : lw.wv;
        const float* bias = (is_q ? lw.bq : is_k ? lw.bk : lw.bv) + head * Dh;
        float* y = is_q ? q_.data() : is_k ? kv_.data() : kv_.data() + KV;
        const int64_t ldy = is_q ? Q : 2 * KV;
        k.matmul(as_matrix(wm), act_d_.view(), y, ldy, head * Dh, (head + 1) * Dh);
        for (int64_t t = 0; t < T; ++t) {
          const Token& tok = tokens[static_cast<size_t>(t)];
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
      pool.barrier();
      // Causal attention over this thread's items; each quantizes its heads' blocks of the
      // output for Wo.
      const Slice items = split_by_cost(att_prefix, nt, tid);
      for (int64_t i = items.begin; i < items.end; ++i) {
        const AttendItem& it = att_items[static_cast<size_t>(i)];
        const KvCache& cache = *tokens[static_cast<size_t>(it.t0)].cache;
        const int64_t* n = &n_pos[static_cast<size_t>(it.t0)];
        scores.resize(static_cast<size_t>(kernels::attend_scratch_floats(group, *std::max_element(n, n + it.nt))));
        const int64_t e = it.t0 * Q + it.g * group * Dh;  // first element of the group's heads in q and att
        k.attend_f16(&q_[e], n, it.nt, Q, group, cache.k(l, 0) + it.g * Dh, cache.v(l, 0) + it.g * Dh, KV, Dh, scale,
                     scores.data(), &att_[e]);
        if (quantize_heads) {
          for (int64_t t = 0; t < it.nt; ++t) {
            const int64_t et = e + t * Q, b0 = et / kernels::kBlockSize;
            k.quantize_activations(&att_[et], group, Dh, act_q_.qs() + et, act_q_.d() + b0, act_q_.sums() + b0);
          }
        }
      }
      if (!quantize_heads) {
        pool.barrier();
        quantize_rows(k, act_q_, att_.data(), Q, mine);
      }
      pool.barrier();
      matmul_slice(k, lw.wo, act_q_, out_.data(), D, nt, tid);
      pool.barrier();
      // x += Wo·att; xn = RMSNorm(x).
      for (int64_t t = mine.begin; t < mine.end; ++t) {
        for (int64_t i = 0; i < D; ++i) x_[t * D + i] += out_[t * D + i];
        k.rmsnorm(&x_[t * D], lw.ffn_norm, &xn_[t * D], D, c.rms_eps);
      }
      quantize_rows(k, act_d_, xn_.data(), D, mine);
      pool.barrier();
      // h = SiLU(Wgate·xn) ⊙ Wup·xn over this thread's rows (whole 32-blocks), quantized here.
      if (my_ffn.end > my_ffn.begin) {
        k.matmul(as_matrix(lw.w_gate), act_d_.view(), gate_.data(), F, my_ffn.begin, my_ffn.end);
        k.matmul(as_matrix(lw.w_up), act_d_.view(), up_.data(), F, my_ffn.begin, my_ffn.end);
        const int64_t n = my_ffn.end - my_ffn.begin;
        for (int64_t t = 0; t < T; ++t) {
          float* hrow = &gate_[t * F + my_ffn.begin];
          k.silu_mul(hrow, &up_[t * F + my_ffn.begin], hrow, n);
          if (ffn_granule == kernels::kBlockSize) {
            const int64_t e = t * F + my_ffn.begin, b0 = e / kernels::kBlockSize;
            k.quantize_activations(hrow, 1, n, act_f_.qs() + e, act_f_.d() + b0, act_f_.sums() + b0);
          }
        }
      }
      pool.barrier();
      matmul_slice(k, lw.w_down, act_f_, out_.data(), D, nt, tid);
      pool.barrier();
      // x += Wdown·h. The next layer's norm reads the same tokens on the same thread: no barrier.
      for (int64_t t = mine.begin; t < mine.end; ++t) {
        for (int64_t i = 0; i < D; ++i) x_[t * D + i] += out_[t * D + i];
      }
    }

    if (L > 0) {
      // The rows that want logits, normed and packed at the front of xn.
      pool.barrier();
      const Slice ls = split(L, nt, tid);
      for (int64_t i = ls.begin; i < ls.end; ++i) k.rmsnorm(&x_[logit_rows[static_cast<size_t>(i)] * D], w.output_norm, &xn_[i * D], D, c.rms_eps);
      if (tid == 0) act_d_.prepare(xn_.data(), L, D);
      pool.barrier();
      quantize_rows(k, act_d_, xn_.data(), D, ls);
      pool.barrier();
      matmul_slice(k, w.output, act_d_, head_out, c.vocab_size, nt, tid);
    }
  });

  if (L > 0 && !contiguous) {
    for (int64_t i = 0; i < L; ++i) {
      std::memcpy(tokens[static_cast<size_t>(logit_rows[i])].logits, &logits_[i * c.vocab_size],
                  static_cast<size_t>(c.vocab_size) * sizeof(float));
    }
  }
}

}  // namespace qwenedge
