// The c-TTv2 update of one analog tile, as aihwkit 1.2.0's CPU simulator computes it,
// parallel over rows and sequential over vectors per row (docs/simulator.md, "What one step computes").
//
// Every random number is a pure function of (tile key, call counter, stream, vector,
// element, slot) through Philox4x32-10, so results do not depend on the thread count.
// Float32 arithmetic follows aihwkit's C++ expression by expression; build with
// -ffp-contract=off so that no multiply-add is fused.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace analog_tl {

// ---------------------------------------------------------------------------------------
// Philox4x32-10 (Salmon et al. 2011), counter-based.

struct Key {
  uint32_t k0, k1;
};

inline void philox(const uint32_t in[4], Key key, uint32_t out[4]) {
  uint32_t c0 = in[0], c1 = in[1], c2 = in[2], c3 = in[3];
  uint32_t k0 = key.k0, k1 = key.k1;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// Streams: one per kind of draw, so that no two draws share a counter. The counter is
// (element group, vector, call, stream << 24 | slot); see class Draws.
enum Stream : uint32_t {
  FORWARD = 1,   // forward output noise: element = output, vector = row, slot = BM round
  BACKWARD = 2,  // backward output noise
  X_BITS = 3,    // x pulse-train bits: element = column, slot = BL slot
  D_BITS = 4,    // d pulse-train bits: element = row
  A_PULSE = 5,   // cycle-to-cycle noise of each A pulse: element = i*n + place in the slot's x list
  A_WRITE = 6,   // write noise of A after each pulse
  READ = 7,      // transfer read noise: element = row
  C_PULSE = 8,   // cycle-to-cycle noise of each C pulse
  C_WRITE = 9,   // write noise of C
  CHOPPER = 10,  // chopper flip: element 0
};

inline void draw(Key key, uint32_t call, uint32_t stream, uint32_t slot, uint32_t vector, uint32_t group,
                 uint32_t out[4]) {
  const uint32_t ctr[4] = {group, vector, call, (stream << 24) | (slot & 0xFFFFFFu)};
  philox(ctr, key, out);
}

// Standard normals by table: entry k is the normal quantile at (k + 0.5) / 2^16, rescaled to unit
// variance (so mean 0 and SD 1 exactly; tails end at 4.3 SD). aihwkit's CPU simulator likewise draws
// its Gaussians from a table (32768 random normals). Set once by set_normal_table().
static std::vector<float> normal_table;

void set_normal_table(torch::Tensor table) {
  TORCH_CHECK(table.dtype() == torch::kFloat32 && table.numel() == 65536, "the normal table has 65536 float32");
  auto t = table.contiguous();
  normal_table.assign(t.data_ptr<float>(), t.data_ptr<float>() + 65536);
}

inline float table_normal(const uint32_t words[4], uint32_t lane) {
  return normal_table[(words[lane >> 1] >> (16 * (lane & 1))) & 0xFFFFu];
}

// Uniform in [0, 1) with 24 random bits.
inline float to_uniform(uint32_t u) { return (float)(u >> 8) * (1.0f / 16777216.0f); }

// Draws of one (stream, call, slot, vector), indexed by element: normals come 8 to a Philox call
// (element / 8 is the counter, element % 8 the lane), uniforms 4 to a call. The last call is cached,
// so consecutive elements cost one call per group; every value is a pure function of its indices.
class Draws {
 public:
  Draws(Key key, uint32_t call, uint32_t stream, uint32_t slot, uint32_t vector)
      : key_(key), call_(call), stream_(stream), slot_(slot), vector_(vector) {}
  float normal(uint32_t element) {
    fetch(element >> 3);
    return table_normal(words_, element & 7u);
  }
  float uniform(uint32_t element) {
    fetch(element >> 2);
    return to_uniform(words_[element & 3u]);
  }

 private:
  void fetch(uint32_t group) {
    if (group != group_ || !valid_) {
      draw(key_, call_, stream_, slot_, vector_, group, words_);
      group_ = group;
      valid_ = true;
    }
  }
  Key key_;
  uint32_t call_, stream_, slot_, vector_;
  uint32_t group_ = 0, words_[4] = {0, 0, 0, 0};
  bool valid_ = false;
};

inline Key make_key(int64_t key) { return Key{(uint32_t)((uint64_t)key & 0xFFFFFFFFu), (uint32_t)((uint64_t)key >> 32)}; }

// Draws [rows.size(0), cols] of one (stream, call, slot): element = column, vector = rows[a];
// standard normals if `normal`, else uniforms in [0, 1). For tests and analysis.
torch::Tensor philox_draws(int64_t key, int64_t call, int64_t stream, int64_t slot, torch::Tensor rows, int64_t cols,
                           bool normal) {
  TORCH_CHECK(rows.dtype() == torch::kInt64 && rows.dim() == 1, "rows must be a 1-d int64 tensor");
  TORCH_CHECK(!normal || !normal_table.empty(), "set_normal_table() was not called");
  auto rows_c = rows.contiguous();
  const int64_t n_rows = rows_c.size(0);
  auto out = torch::empty({n_rows, cols}, torch::kFloat32);
  float *o = out.data_ptr<float>();
  const int64_t *r = rows_c.data_ptr<int64_t>();
  const Key k = make_key(key);
  at::parallel_for(0, n_rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t a = begin; a < end; ++a) {
      Draws draws(k, (uint32_t)call, (uint32_t)stream, (uint32_t)slot, (uint32_t)r[a]);
      for (int64_t c = 0; c < cols; ++c) o[a * cols + c] = normal ? draws.normal((uint32_t)c) : draws.uniform((uint32_t)c);
    }
  });
  return out;
}

// Philox4x32-10 of counters [k, 4] under key (k0, k1): [k, 4] words (int64 holding uint32), for known-answer tests.
torch::Tensor philox_words(torch::Tensor counters, int64_t k0, int64_t k1) {
  auto c = counters.contiguous().to(torch::kInt64);
  const int64_t k = c.size(0);
  auto out = torch::empty({k, 4}, torch::kInt64);
  const int64_t *in = c.data_ptr<int64_t>();
  int64_t *o = out.data_ptr<int64_t>();
  for (int64_t a = 0; a < k; ++a) {
    const uint32_t ctr[4] = {(uint32_t)in[4 * a], (uint32_t)in[4 * a + 1], (uint32_t)in[4 * a + 2], (uint32_t)in[4 * a + 3]};
    uint32_t words[4];
    philox(ctr, Key{(uint32_t)k0, (uint32_t)k1}, words);
    for (int w = 0; w < 4; ++w) o[4 * a + w] = (int64_t)words[w];
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Vector primitives (AVX2, compiled for it function by function and run only where the CPU has it):
// Philox on four counters at once, uniforms and table normals in Draws' element order, lane masks.

#if defined(__x86_64__) || defined(__i386__)
#define ANALOG_TL_X86 1
#define AVX2_FN __attribute__((target("avx2")))
#define AVX2_INLINE __attribute__((target("avx2"), always_inline)) inline

// expand_lanes[mask][lane]: the number of set bits of `mask` below `lane` (the lane's place among the
// active ones), so that permuting the next eight list entries by it puts entry k into the k-th active lane.
struct ExpandTable {
  alignas(32) int32_t lanes[256][8];
  ExpandTable() {
    for (int mask = 0; mask < 256; ++mask) {
      int rank = 0;
      for (int lane = 0; lane < 8; ++lane) {
        lanes[mask][lane] = rank & 7;
        if ((mask >> lane) & 1) ++rank;
      }
    }
  }
};
static const ExpandTable expand_table;

// Philox4x32-10 of counters (group + 0..3, c1, c2, c3): the 16 words in element order, groups 0 and 1
// in out[0], 2 and 3 in out[1]. Each 64-bit lane holds one counter in its low half; the high halves
// carry garbage that _mm256_mul_epu32 ignores and the final packing drops.
AVX2_FN inline void philox_x4(uint32_t group, uint32_t c1, uint32_t c2, uint32_t c3, Key key, __m256i out[2]) {
  __m256i C0 = _mm256_set_epi64x(group + 3u, group + 2u, group + 1u, group);
  __m256i C1 = _mm256_set1_epi64x(c1), C2 = _mm256_set1_epi64x(c2), C3 = _mm256_set1_epi64x(c3);
  const __m256i M0 = _mm256_set1_epi64x(0xD2511F53u), M1 = _mm256_set1_epi64x(0xCD9E8D57u);
  uint32_t k0 = key.k0, k1 = key.k1;
  for (int round = 0; round < 10; ++round) {
    const __m256i P0 = _mm256_mul_epu32(C0, M0);
    const __m256i P1 = _mm256_mul_epu32(C2, M1);
    C0 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(P1, 32), C1), _mm256_set1_epi64x(k0));
    C1 = P1;
    C2 = _mm256_xor_si256(_mm256_xor_si256(_mm256_srli_epi64(P0, 32), C3), _mm256_set1_epi64x(k1));
    C3 = P0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  const __m256i ab = _mm256_blend_epi32(C0, _mm256_slli_epi64(C1, 32), 0xAA);  // [w0 w1] of each group
  const __m256i cd = _mm256_blend_epi32(C2, _mm256_slli_epi64(C3, 32), 0xAA);  // [w2 w3]
  const __m256i lo = _mm256_unpacklo_epi64(ab, cd);                            // groups 0 | 2
  const __m256i hi = _mm256_unpackhi_epi64(ab, cd);                            // groups 1 | 3
  out[0] = _mm256_permute2x128_si256(lo, hi, 0x20);
  out[1] = _mm256_permute2x128_si256(lo, hi, 0x31);
}

// The uniforms of elements 16 q .. 16 q + 15 (four to a Philox call, as Draws::uniform).
AVX2_FN inline void uniforms16(Key key, uint32_t call, uint32_t stream, uint32_t slot, uint32_t vector, uint32_t q,
                               __m256 out[2]) {
  __m256i words[2];
  philox_x4(4u * q, vector, call, (stream << 24) | (slot & 0xFFFFFFu), key, words);
  const __m256 scale = _mm256_set1_ps(1.0f / 16777216.0f);
  for (int h = 0; h < 2; ++h) {
    out[h] = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(words[h], 8)), scale);
  }
}

// The normals of elements [first, first + count) (eight to a Philox call, as Draws::normal) written
// from `scratch`, which needs count + 48 floats; returns where element `first` lies in it.
AVX2_FN inline const float *normals_of(Key key, uint32_t call, uint32_t stream, uint32_t slot, uint32_t vector,
                                       uint32_t first, uint32_t count, float *scratch) {
  const uint32_t g_first = first >> 3, g_end = (first + count + 7u) >> 3;
  const uint32_t c3 = (stream << 24) | (slot & 0xFFFFFFu);
  const float *table = normal_table.data();
  float *out = scratch;
  for (uint32_t g = g_first; g < g_end; g += 4, out += 32) {
    __m256i words[2];
    philox_x4(g, vector, call, c3, key, words);
    for (uint32_t h = 0; h < 4 && g + h < g_end; ++h) {  // table look-ups of the needed groups only
      const __m128i half = (h & 1u) ? _mm256_extracti128_si256(words[h >> 1], 1) : _mm256_castsi256_si128(words[h >> 1]);
      _mm256_storeu_ps(out + 8 * h, _mm256_i32gather_ps(table, _mm256_cvtepu16_epi32(half), 4));
    }
  }
  return scratch + (first - 8u * g_first);
}

// All-ones lanes where bit `lane` of `bits` is set.
AVX2_FN inline __m256 lanes_of(uint32_t bits) {
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i b = _mm256_and_si256(_mm256_set1_epi32((int)bits), bit);
  return _mm256_castsi256_ps(_mm256_cmpeq_epi32(b, bit));
}

#endif  // ANALOG_TL_X86

// Whether this CPU runs the vector paths (AVX2).
inline bool has_avx2() {
#ifdef ANALOG_TL_X86
  return __builtin_cpu_supports("avx2");
#else
  return false;
#endif
}

// ---------------------------------------------------------------------------------------
// IO model, the elementwise parts (ForwardBackwardPassIOManaged): the products are torch's.

inline float quantise(float value, float res) { return (res <= 0.0f) ? value : rintf(value / res) * res; }

// DAC of one row [n] at scale s, the reference: value * scale, quantise, clip.
inline void prepare_row(const float *row, float s, float res, float bound, float *o, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    float value = quantise(row[j] * s, res);
    value = (value > bound) ? bound : value;
    value = (value < -bound) ? -bound : value;
    o[j] = value;
  }
}

// ADC of one row of products y [p], the reference: + noise * N(0,1), quantise, bound test, clip, times
// scale. Returns whether the row failed the bound test.
inline bool finish_row(const float *y, Draws &draws, float noise, float res, float bound, bool test_negative,
                       float scale, float *o, int64_t p) {
  bool fail = false;
  for (int64_t i = 0; i < p; ++i) {
    float value = y[i];
    if (noise > 0.0f) value += noise * draws.normal((uint32_t)i);
    value = quantise(value, res);
    if (value > bound) {
      value = bound;
      fail = true;
    } else if (value < -bound) {
      value = -bound;
      fail = test_negative;  // aihwkit assigns bound_test_passed = !bm_test_negative_bound here
    }
    o[i] = value * scale;
  }
  return fail;
}

#ifdef ANALOG_TL_X86
// rint(v / res) * res lane by lane (ROUNDPS to nearest is rintf in the default rounding mode).
AVX2_FN inline __m256 quantise8(__m256 v, float res) {
  if (res <= 0.0f) return v;
  const __m256 r = _mm256_set1_ps(res);
  return _mm256_mul_ps(_mm256_round_ps(_mm256_div_ps(v, r), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), r);
}

// prepare_row eight values at a time; MINPS / MAXPS with the bound first are the two conditional clips.
AVX2_FN void prepare_row_avx2(const float *row, float s, float res, float bound, float *o, int64_t n) {
  const __m256 scale = _mm256_set1_ps(s), upper = _mm256_set1_ps(bound), lower = _mm256_set1_ps(-bound);
  for (int64_t j = 0; j < n; j += 8) {
    const int64_t left = n - j;
    const __m256i valid = _mm256_castps_si256(lanes_of(left >= 8 ? 0xFFu : ((1u << left) - 1u)));
    __m256 v = quantise8(_mm256_mul_ps(_mm256_maskload_ps(row + j, valid), scale), res);
    v = _mm256_max_ps(lower, _mm256_min_ps(upper, v));
    _mm256_maskstore_ps(o + j, valid, v);
  }
}

// finish_row eight values at a time; the row's verdict is that of its last saturated value, as the
// reference's sequential assignments give.
AVX2_FN bool finish_row_avx2(const float *y, const float *xi, float noise, float res, float bound, bool test_negative,
                             float scale, float *o, int64_t p) {
  const __m256 upper = _mm256_set1_ps(bound), lower = _mm256_set1_ps(-bound), out_scale = _mm256_set1_ps(scale);
  bool fail = false;
  for (int64_t i = 0; i < p; i += 8) {
    const int64_t left = p - i;
    const uint32_t valid_bits = left >= 8 ? 0xFFu : ((1u << left) - 1u);
    const __m256i valid = _mm256_castps_si256(lanes_of(valid_bits));
    __m256 v = _mm256_maskload_ps(y + i, valid);
    if (xi) v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_set1_ps(noise), _mm256_loadu_ps(xi + i)));
    v = quantise8(v, res);
    const __m256 above = _mm256_cmp_ps(v, upper, _CMP_GT_OQ);
    const __m256 below = _mm256_andnot_ps(above, _mm256_cmp_ps(v, lower, _CMP_LT_OQ));
    v = _mm256_blendv_ps(_mm256_blendv_ps(v, upper, above), lower, below);
    _mm256_maskstore_ps(o + i, valid, _mm256_mul_ps(v, out_scale));
    const uint32_t up_bits = (uint32_t)_mm256_movemask_ps(above) & valid_bits;
    const uint32_t saturated = up_bits | ((uint32_t)_mm256_movemask_ps(below) & valid_bits);
    if (saturated) fail = ((up_bits >> (31 - __builtin_clz(saturated))) & 1u) ? true : test_negative;
  }
  return fail;
}
#endif

// DAC of rows `rows` of inputs [m, n] at per-row scale [len(rows)]: value * scale, quantise, clip.
torch::Tensor prepare_rows(torch::Tensor inputs, torch::Tensor rows, torch::Tensor scale, double res_in,
                           double bound_in, bool vector) {
  auto in = inputs.contiguous();
  auto r = rows.contiguous();
  auto sc = scale.contiguous();
  const int64_t k = r.size(0), n = in.size(1);
  auto out = torch::empty({k, n}, torch::kFloat32);
  const float *x = in.data_ptr<float>();
  const int64_t *ri = r.data_ptr<int64_t>();
  const float *s = sc.data_ptr<float>();
  float *o = out.data_ptr<float>();
  const float res = (float)res_in, bound = (float)bound_in;
  const bool avx2 = vector && has_avx2();
  at::parallel_for(0, k, 16, [&](int64_t begin, int64_t end) {
    for (int64_t a = begin; a < end; ++a) {
#ifdef ANALOG_TL_X86
      if (avx2) {
        prepare_row_avx2(x + ri[a] * n, s[a], res, bound, o + a * n, n);
        continue;
      }
#endif
      prepare_row(x + ri[a] * n, s[a], res, bound, o + a * n, n);
    }
  });
  return out;
}

// ADC of products y [len(rows), p]: + noise * N(0,1) (stream, call, slot = BM round, vector = rows[a]),
// quantise, bound test, clip, times out_scale[a]. Returns (outputs, failed [len(rows)] bool).
std::vector<torch::Tensor> finish_rows(torch::Tensor y_in, torch::Tensor rows, torch::Tensor out_scale,
                                       double noise_in, double res_in, double bound_in, bool test_negative,
                                       int64_t key, int64_t call, int64_t stream, int64_t slot, bool vector) {
  auto y = y_in.contiguous();
  auto r = rows.contiguous();
  auto os = out_scale.contiguous();
  const int64_t k = y.size(0), p = y.size(1);
  auto out = torch::empty({k, p}, torch::kFloat32);
  auto failed = torch::zeros({k}, torch::kBool);
  const float *yv = y.data_ptr<float>();
  const int64_t *ri = r.data_ptr<int64_t>();
  const float *sv = os.data_ptr<float>();
  float *o = out.data_ptr<float>();
  bool *f = failed.data_ptr<bool>();
  const float noise = (float)noise_in, res = (float)res_in, bound = (float)bound_in;
  const Key kk = make_key(key);
  const bool avx2 = vector && has_avx2();
  at::parallel_for(0, k, 16, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch(avx2 ? p + 48 : 0);
    for (int64_t a = begin; a < end; ++a) {
#ifdef ANALOG_TL_X86
      if (avx2) {
        const float *xi = noise > 0.0f ? normals_of(kk, (uint32_t)call, (uint32_t)stream, (uint32_t)slot,
                                                    (uint32_t)ri[a], 0, (uint32_t)p, scratch.data())
                                       : nullptr;
        f[a] = finish_row_avx2(yv + a * p, xi, noise, res, bound, test_negative, sv[a], o + a * p, p);
        continue;
      }
#endif
      Draws draws(kk, (uint32_t)call, (uint32_t)stream, (uint32_t)slot, (uint32_t)ri[a]);
      f[a] = finish_row(yv + a * p, draws, noise, res, bound, test_negative, sv[a], o + a * p, p);
    }
  });
  return {out, failed};
}

torch::Tensor io_prepare(torch::Tensor inputs, torch::Tensor rows, torch::Tensor scale, double res, double bound) {
  return prepare_rows(inputs, rows, scale, res, bound, true);
}

torch::Tensor io_prepare_reference(torch::Tensor inputs, torch::Tensor rows, torch::Tensor scale, double res,
                                   double bound) {
  return prepare_rows(inputs, rows, scale, res, bound, false);
}

std::vector<torch::Tensor> io_finish(torch::Tensor y, torch::Tensor rows, torch::Tensor out_scale, double noise,
                                     double res, double bound, bool test_negative, int64_t key, int64_t call,
                                     int64_t stream, int64_t slot) {
  return finish_rows(y, rows, out_scale, noise, res, bound, test_negative, key, call, stream, slot, true);
}

std::vector<torch::Tensor> io_finish_reference(torch::Tensor y, torch::Tensor rows, torch::Tensor out_scale,
                                               double noise, double res, double bound, bool test_negative, int64_t key,
                                               int64_t call, int64_t stream, int64_t slot) {
  return finish_rows(y, rows, out_scale, noise, res, bound, test_negative, key, call, stream, slot, false);
}

// One pass of the IO model, compiled (io_model.py's analog_mvm and analog_mvm_backward, the same
// operations in the same order; the product is the same ATen matmul): abs-max noise management, then
// per bound-management round the DAC, the product, the ADC, and the next round on the failing vectors
// only. `io` (float64): inp_res, inp_bound, out_res, out_bound, out_noise, noise_management,
// bound_management, bm_test_negative_bound, max_bm_factor, bm_limit (IO_FIELDS in io_model.py).
enum IOField { INP_RES, INP_BOUND, OUT_RES, OUT_BOUND, OUT_NOISE, NOISE_MANAGEMENT, BOUND_MANAGEMENT,
               BM_TEST_NEGATIVE, MAX_BM_FACTOR, BM_LIMIT, N_IO };

// The abs-max of v [size] as torch's amax: NaN if any element is NaN.
inline float abs_max_nan(const float *v, int64_t size) {
  float m = 0.0f;
  for (int64_t k = 0; k < size; ++k) {
    const float a = fabsf(v[k]);
    m = (a > m || std::isnan(a)) ? a : m;
    if (std::isnan(m)) return m;
  }
  return m;
}

// Rows of `values` [m, k] with an abs-max > 0, and 1 / abs-max of each (float32, as torch's 1.0 / t).
static std::pair<torch::Tensor, torch::Tensor> managed_rows(const torch::Tensor &values) {
  const int64_t m = values.size(0), k = values.size(1);
  const float *v = values.data_ptr<float>();
  std::vector<int64_t> rows;
  std::vector<float> inverse;
  for (int64_t a = 0; a < m; ++a) {
    const float nm = abs_max_nan(v + a * k, k);
    if (nm > 0.0f) {
      rows.push_back(a);
      inverse.push_back(1.0f / nm);
    }
  }
  auto r = torch::tensor(rows, torch::kInt64);
  auto s = torch::tensor(inverse, torch::kFloat32);
  return {r.reshape({(int64_t)rows.size()}), s.reshape({(int64_t)inverse.size()})};
}

static void put_rows(torch::Tensor &out, const torch::Tensor &rows, const torch::Tensor &values) {
  const int64_t k = rows.size(0), width = out.size(1);
  const int64_t *r = rows.data_ptr<int64_t>();
  const float *v = values.data_ptr<float>();
  float *o = out.data_ptr<float>();
  for (int64_t a = 0; a < k; ++a) std::copy(v + a * width, v + (a + 1) * width, o + r[a] * width);
}

static const double *io_settings(const torch::Tensor &io) {
  TORCH_CHECK(io.dtype() == torch::kFloat64 && io.numel() == N_IO && io.is_contiguous(), "io must be float64 of size ",
              (int)N_IO);
  return io.data_ptr<double>();
}

// weight @ v for every row v of inputs [m, n_in] (weight [n_out, n_in]): [m, n_out].
torch::Tensor io_forward(torch::Tensor weight, torch::Tensor inputs_in, torch::Tensor io_t, int64_t key, int64_t call) {
  const double *io = io_settings(io_t);
  auto inputs = inputs_in.contiguous();
  TORCH_CHECK(inputs.dtype() == torch::kFloat32 && weight.dtype() == torch::kFloat32, "float32 inputs and weights");
  const int64_t m = inputs.size(0);
  const bool nm = io[NOISE_MANAGEMENT] != 0.0, bm = io[BOUND_MANAGEMENT] != 0.0;
  auto out = torch::zeros({m, weight.size(0)}, torch::kFloat32);
  torch::Tensor rows, inv_nm;
  if (nm) {
    std::tie(rows, inv_nm) = managed_rows(inputs);  // all-zero vectors give 0 and draw nothing
  } else {
    rows = torch::arange(m, torch::kInt64);
    inv_nm = torch::ones({m}, torch::kFloat32);
  }
  const auto weight_t = weight.t();
  double reduction = 1.0;
  for (int64_t bm_round = 0; rows.numel() > 0; ++bm_round) {
    auto scale = bm ? inv_nm / reduction : inv_nm;
    auto u = io_prepare(inputs, rows, scale, io[INP_RES], io[INP_BOUND]);
    auto out_scale = (nm || bm) ? 1.0f / scale : torch::ones_like(scale);
    auto finished = io_finish(at::matmul(u, weight_t), rows, out_scale, io[OUT_NOISE], io[OUT_RES], io[OUT_BOUND],
                              io[BM_TEST_NEGATIVE] != 0.0, key, call, FORWARD, bm_round);
    put_rows(out, rows, finished[0]);
    if (!bm || (int64_t)reduction > (int64_t)io[MAX_BM_FACTOR] || reduction > io[BM_LIMIT]) break;
    rows = rows.index({finished[1]});
    inv_nm = inv_nm.index({finished[1]});
    reduction *= 2.0;
  }
  return out;
}

// weight.T @ d for every row d of grads [m, n_out]: [m, n_in] (aihwkit's backward: no bound management).
torch::Tensor io_backward(torch::Tensor weight, torch::Tensor grads_in, torch::Tensor io_t, int64_t key, int64_t call) {
  const double *io = io_settings(io_t);
  auto grads = grads_in.contiguous();
  TORCH_CHECK(grads.dtype() == torch::kFloat32 && weight.dtype() == torch::kFloat32, "float32 gradients and weights");
  const int64_t m = grads.size(0);
  auto out = torch::zeros({m, weight.size(1)}, torch::kFloat32);
  torch::Tensor rows, scale, out_scale;
  if (io[NOISE_MANAGEMENT] != 0.0 && grads.size(1) > 0) {
    std::tie(rows, scale) = managed_rows(grads);
    out_scale = torch::empty_like(scale);  // the abs-max itself (aihwkit: scale 1/nm in, nm out)
    const float *g = grads.data_ptr<float>();
    const int64_t *r = rows.data_ptr<int64_t>();
    for (int64_t a = 0; a < rows.size(0); ++a) out_scale.data_ptr<float>()[a] = abs_max_nan(g + r[a] * grads.size(1), grads.size(1));
  } else {
    rows = torch::arange(m, torch::kInt64);
    scale = out_scale = torch::ones({m}, torch::kFloat32);
  }
  auto u = io_prepare(grads, rows, scale, io[INP_RES], io[INP_BOUND]);
  auto finished = io_finish(at::matmul(u, weight), rows, out_scale, io[OUT_NOISE], io[OUT_RES], io[OUT_BOUND], false,
                            key, call, BACKWARD, 0);
  put_rows(out, rows, finished[0]);
  return out;
}

// ---------------------------------------------------------------------------------------
// Soft-bounds reference device, one pulse (aihwkit's update_once_add / update_once_mult).

// A tile's device parameters are five planes [5, p, n], one per field, so that neighbouring
// crosspoints' parameters are neighbours in memory (the vector path loads eight at once).
enum DeviceField { STEP_UP, STEP_DOWN, MAX_BOUND, MIN_BOUND, REFERENCE, N_FIELDS };

struct Device {
  const float *params;  // [5, p*n]
  int64_t plane;        // p*n: the distance between two fields of one crosspoint
  float dw_min_std;
  float write_noise;  // write_noise_std * dw_min (aihwkit's getScaledWriteNoise)
  bool mult_noise;
  const float *field(int k) const { return params + k * plane; }
};

// One pulse on weight w (persistent) and its apparent value; `down` is aihwkit's sign > 0.
// Written without branches on `down` (selects instead): pulse signs are random, so branches would
// mispredict. `w -= s * f` is computed as `w += (-s) * f`, which is the same float32 result.
inline void pulse(const Device &dev, int64_t e, bool down, float xi, float xi_write, float &w, float &w_apparent) {
  const float max_bound = dev.field(MAX_BOUND)[e], min_bound = dev.field(MIN_BOUND)[e];
  const float ref = dev.field(REFERENCE)[e];
  const float step = down ? -dev.field(STEP_DOWN)[e] : dev.field(STEP_UP)[e];
  const float bound = down ? min_bound : max_bound;
  const bool scaled = down ? (min_bound < 0.0f) : (max_bound > 0.0f);
  w += ref;
  const float ratio = w / bound;
  const float a = scaled ? ratio : 0.0f;
  if (dev.mult_noise) {
    w += step * (1.0f - a) * (1.0f + dev.dw_min_std * xi);
  } else {
    w += step * (1.0f - a + dev.dw_min_std * xi);
  }
  w = (w > min_bound) ? w : min_bound;
  w = (w < max_bound) ? w : max_bound;
  w -= ref;
  w_apparent = (dev.write_noise > 0.0f) ? w + dev.write_noise * xi_write : w;
}

inline Device device_of(const torch::Tensor &params, float dw_min_std, float write_noise, bool mult_noise) {
  TORCH_CHECK(params.dim() == 3 && params.size(0) == N_FIELDS, "device parameters must be [5, out, in]");
  return Device{params.data_ptr<float>(), params.size(1) * params.size(2), dw_min_std, write_noise, mult_noise};
}

// ---------------------------------------------------------------------------------------
// Settings of the compound, float32 as aihwkit holds them. Layout of `cfg` (float64 tensor). ALGORITHM
// to BUFFER_CAP are AGAD's (DynamicTransferCompound): ALGORITHM 1 selects its transfer (0: c-TTv2's).
// GAMMA: residual learning's weight of A (gamma_vec[0], with gamma_vec[1] = 1).
enum Cfg {
  FAST_LR, DESIRED_BL, DW_MIN_A, DW_MIN_C, AUTO_MOMENTUM, AUTO_GRANULARITY, BUFFER_GRANULARITY, TRANSFER_EVERY,
  TRANSFER_LR, MOMENTUM, FORGET_BUFFER, IN_CHOP_PROB, MAX_STEPS, READ_NOISE, READ_RES, READ_BOUND,
  A_DW_MIN_STD, A_WRITE_NOISE, A_MULT_NOISE, C_DW_MIN_STD, C_WRITE_NOISE, C_MULT_NOISE, AUTO_SCALE,
  ALGORITHM, IN_CHOP_RANDOM, TAIL_WEIGHTENING, BUFFER_CAP, GAMMA, N_CFG
};
enum Algorithm : int { CTTV2 = 0, AGAD = 1 };

// AGAD's chopper period in transfers of a column: aihwkit's getNumInChopSamples.
inline uint32_t agad_samples(float in_chop_prob) {
  int n_samples = 2;
  if (in_chop_prob > 0.0f) n_samples = std::max((int)ceilf(1.0f / in_chop_prob), 2);
  return (uint32_t)n_samples;
}

inline float fabs_max(const float *v, int64_t size) {
  float m = 0.0f;
  for (int64_t k = 0; k < size; ++k) {
    const float a = fabsf(v[k]);
    m = (a > m) ? a : m;
  }
  return m;
}

inline void update_auto_scale(float &m, float value, float auto_momentum, int m_batch) {
  if (m <= 0.0f) {
    m = value;
    return;
  }
  if (value <= 0.0f) {
    return;
  }
  const float tau = (1.0f - auto_momentum) / (float)m_batch;
  m = (1.0f - tau) * m + tau * value;
}

// The per-vector schedule: bit length and the probability scales of the x and d lines.
struct Schedule {
  int bl = 0;
  float x_scale = 0.0f;  // aihwkit's B
  float d_scale = 0.0f;  // aihwkit's A
};

inline Schedule update_management(float lr, float x_abs_max, float d_abs_max, float weight_granularity,
                                  int desired_bl) {
  Schedule s;
  if (lr <= 0.0f || x_abs_max == 0.0f || d_abs_max == 0.0f) {
    return s;  // calculateBlAB gives BL 0 for lr 0; UM gives BL 0 for a zero vector
  }
  const float x_val = x_abs_max;
  float d_val = d_abs_max;
  const float k_val = lr * x_val * d_val / weight_granularity;
  int bl = (int)ceilf(k_val);
  if (bl > desired_bl) {
    bl = desired_bl;
  }
  if (bl == 0) {
    return s;
  }
  const float a = sqrtf(lr / (weight_granularity * (float)bl));
  if (k_val > (float)desired_bl) {
    d_val *= (float)desired_bl / k_val;
  }
  s.bl = bl;
  s.d_scale = a * sqrtf(x_val / d_val);
  s.x_scale = a * sqrtf(d_val / x_val);
  return s;
}

// One update call: its inputs, settings, per-vector schedules and chopper flips, shared by both
// implementations of the pulses (the scalar reference and the vector path).
struct UpdateCall {
  int64_t p = 0, n = 0, m = 0;
  const float *x = nullptr, *d = nullptr;  // [m, n], [m, p]
  Key key{0, 0};
  uint32_t call = 0;
  int desired_bl = 0;
  float transfer_lr = 0.0f, lr_scale = 0.0f, momentum = 0.0f, sub_momentum = 0.0f, max_steps = 0.0f;
  bool forget_buffer = false;
  float read_noise = 0.0f, read_res = 0.0f, read_bound = 0.0f;
  int64_t s0 = 0;                // the pointer before the call
  std::vector<Schedule> sched;   // [m]
  std::vector<uint8_t> flips;    // [m]: the chopper of column (s0 + b) % n flips after vector b's transfer
  Device dev_a{}, dev_c{};
  float *A = nullptr, *A_app = nullptr, *H = nullptr, *C = nullptr, *C_app = nullptr;  // [p, n]
  // AGAD (DynamicTransferRPUDevice): running and past means of the reads [p, n]; per vector, whether its
  // column's chopper switched at that column's previous transfer, and whether C may be written
  // (transfer counter > chopper period); the switched flags [n] and the counter after the call.
  bool agad = false;
  float sample_momentum = 0.0f, buffer_cap = 0.0f;
  float *mean = nullptr, *past = nullptr;
  std::vector<uint8_t> switched_before, write_ok;  // [m]
  std::vector<uint8_t> switched_after;              // [n]
  int64_t counter_after = 0;
};

// AGAD's state besides c-TTv2's: running and past means [p, n] float32, switched flags [n] uint8,
// transfer counter [1] int64 (aihwkit's running_mean_weight, past_mean_weight, in_chopper_switched,
// transfer_counter).
struct AgadState {
  torch::Tensor mean, past, switched, counter;
};

// AGAD's per-vector schedule (DynamicTransferRPUDevice::readAndUpdate, the parts that do not depend on
// the row): the sample within the chopper period, the regular chopper switch at its end (plus a random
// one if in_chop_random), the flag that resets a column's past mean, and the gate on writing C. The
// counter advances after the transfer of the last column; a zero transfer rate returns before any of it.
void agad_schedule(UpdateCall &u, const AgadState &st, float in_chop_prob, bool in_chop_random,
                   float tail_weightening, float buffer_cap) {
  for (const auto *t : {&st.mean, &st.past}) {
    TORCH_CHECK(t->is_contiguous() && t->dtype() == torch::kFloat32 && t->size(0) == u.p && t->size(1) == u.n,
                "AGAD's means must be contiguous float32 [out, in]");
  }
  TORCH_CHECK(st.switched.is_contiguous() && st.switched.dtype() == torch::kUInt8 && st.switched.numel() == u.n,
              "AGAD's switched flags must be contiguous uint8 [in]");
  TORCH_CHECK(st.counter.dtype() == torch::kInt64 && st.counter.numel() == 1, "AGAD's counter must be int64 [1]");
  const int64_t m = u.m, n = u.n;
  const uint32_t n_samples = agad_samples(in_chop_prob);
  u.sample_momentum = fminf(tail_weightening / (float)n_samples, 1.0f);
  u.buffer_cap = (float)(int)u.max_steps * buffer_cap;
  u.mean = st.mean.data_ptr<float>();
  u.past = st.past.data_ptr<float>();
  const uint8_t *switched0 = st.switched.data_ptr<uint8_t>();
  u.switched_after.assign(switched0, switched0 + n);
  u.switched_before.assign(m, 0);
  u.write_ok.assign(m, 0);
  uint64_t counter = (uint64_t)st.counter.data_ptr<int64_t>()[0];
  Draws draws(u.key, u.call, CHOPPER, 0, 0);
  for (int64_t b = 0; b < m && u.transfer_lr != 0.0f; ++b) {
    const int64_t j = (u.s0 + b) % n;
    const uint64_t current_sample = counter % n_samples + 1;
    u.switched_before[b] = u.switched_after[j];
    u.write_ok[b] = counter > n_samples;
    bool flip = current_sample == n_samples;
    if (in_chop_random && draws.uniform((uint32_t)b) < in_chop_prob) flip = true;
    u.flips[b] = flip;
    u.switched_after[j] = flip;
    if (j == n - 1) ++counter;
  }
  u.counter_after = (int64_t)counter;
}

// Checks the tensors and computes the schedule (sequential, cheap): steps 1 of both paths.
UpdateCall prepare_update(torch::Tensor &a, torch::Tensor &a_app, torch::Tensor &h, torch::Tensor &c,
                          torch::Tensor &c_app, torch::Tensor &chopper, torch::Tensor &scalars, torch::Tensor &pointer,
                          torch::Tensor &dev_a, torch::Tensor &dev_c, const torch::Tensor &x_t,
                          const torch::Tensor &d_t, const torch::Tensor &cfg_t, double lr_in, int64_t key_in,
                          int64_t call_in, const AgadState *agad) {
  for (const auto *t : {&a, &a_app, &h, &c, &c_app, &dev_a, &dev_c, &scalars}) {
    TORCH_CHECK(t->is_contiguous() && t->dtype() == torch::kFloat32, "tile state must be contiguous float32");
  }
  TORCH_CHECK(chopper.is_contiguous() && chopper.dtype() == torch::kUInt8, "chopper must be contiguous uint8");
  TORCH_CHECK(pointer.dtype() == torch::kInt64, "pointer must be int64");
  TORCH_CHECK(cfg_t.dtype() == torch::kFloat64 && cfg_t.numel() == N_CFG, "cfg must be float64 of size ", (int)N_CFG);
  UpdateCall u;
  u.p = a.size(0);
  u.n = a.size(1);
  u.m = x_t.size(0);
  const int64_t p = u.p, n = u.n, m = u.m;
  TORCH_CHECK(x_t.size(1) == n && d_t.size(1) == p && d_t.size(0) == m, "X must be [m, in] and D [m, out]");
  TORCH_CHECK(dev_a.size(1) == p && dev_a.size(2) == n && dev_c.size(1) == p && dev_c.size(2) == n,
              "device parameters must be [5, out, in] of the tile's shape");
  const double *cfg = cfg_t.data_ptr<double>();
  u.x = x_t.data_ptr<float>();
  u.d = d_t.data_ptr<float>();
  u.key = make_key(key_in);
  u.call = (uint32_t)call_in;
  const float lr = (float)lr_in;
  u.s0 = pointer.data_ptr<int64_t>()[0];

  const float fast_lr = (float)cfg[FAST_LR];
  u.desired_bl = (int)cfg[DESIRED_BL];
  TORCH_CHECK(u.desired_bl >= 1 && u.desired_bl <= 8, "desired_bl must be 1 to 8");
  const int desired_bl = u.desired_bl;
  const float dw_min_a = (float)cfg[DW_MIN_A];
  const float dw_min_c = (float)cfg[DW_MIN_C];
  const float auto_momentum = (float)cfg[AUTO_MOMENTUM];
  const bool auto_scale = cfg[AUTO_SCALE] != 0.0;
  const float weight_granularity = (0.0f + dw_min_a + dw_min_c) / 2.0f;  // VectorRPUDevice::populate
  u.momentum = (float)cfg[MOMENTUM];
  u.sub_momentum = 1.0f - fmaxf(fminf(u.momentum, 1.0f), 0.0f);
  u.forget_buffer = cfg[FORGET_BUFFER] != 0.0;
  const float in_chop_prob = (float)cfg[IN_CHOP_PROB];
  u.max_steps = (float)cfg[MAX_STEPS];
  u.read_noise = (float)cfg[READ_NOISE];
  u.read_res = (float)cfg[READ_RES];
  u.read_bound = (float)cfg[READ_BOUND];

  // transfer gain: getTransferLR, then getTransferLRScale / getBufferGranularity
  u.transfer_lr = (float)cfg[TRANSFER_LR] * lr;
  const float gamma = (float)cfg[GAMMA];
  if (gamma > 0.0f) u.transfer_lr *= gamma / 1.0f;  // BufferedTransfer getTransferLR: gamma_from / gamma_to
  float buffer_gran = (float)cfg[BUFFER_GRANULARITY] > 0.0f ? (float)cfg[BUFFER_GRANULARITY] : 1.0f;
  if ((float)cfg[AUTO_GRANULARITY] > 0.0f) {
    const float period = (float)n * fabsf((float)cfg[TRANSFER_EVERY]);
    buffer_gran *= dw_min_a * (float)cfg[AUTO_GRANULARITY] / period;
  } else {
    buffer_gran *= dw_min_a;
  }
  u.lr_scale = fabsf(u.transfer_lr) / buffer_gran;

  // the scalar schedule and the chopper flips
  u.sched.resize(m);
  float *sc = scalars.data_ptr<float>();
  float m_x = sc[0], m_d = sc[1];
  for (int64_t b = 0; b < m; ++b) {
    const float xa = fabs_max(u.x + b * n, n);
    const float da = fabs_max(u.d + b * p, p);
    if (auto_scale) {
      update_auto_scale(m_x, xa, auto_momentum, (int)m);
      update_auto_scale(m_d, da, auto_momentum, (int)m);
    }
    float count_lr = fast_lr * ((float)desired_bl * dw_min_a);
    if (m_x > 0.0f && m_d > 0.0f) {
      count_lr /= m_x * m_d;
    }
    u.sched[b] = update_management(fabsf(count_lr), xa, da, weight_granularity, desired_bl);
  }
  sc[0] = m_x;
  sc[1] = m_d;
  u.flips.assign(m, 0);
  u.agad = (int)cfg[ALGORITHM] == AGAD;
  TORCH_CHECK(u.agad == (agad != nullptr), "AGAD's state must be given exactly when cfg selects AGAD");
  if (u.agad) {
    agad_schedule(u, *agad, in_chop_prob, cfg[IN_CHOP_RANDOM] != 0.0, (float)cfg[TAIL_WEIGHTENING],
                  (float)cfg[BUFFER_CAP]);
  } else if (u.transfer_lr != 0.0f && in_chop_prob > 0.0f) {
    Draws draws(u.key, u.call, CHOPPER, 0, 0);
    for (int64_t b = 0; b < m; ++b) {
      u.flips[b] = draws.uniform((uint32_t)b) < in_chop_prob;  // element = vector here
    }
  }
  u.dev_a = device_of(dev_a, (float)cfg[A_DW_MIN_STD], (float)cfg[A_WRITE_NOISE], cfg[A_MULT_NOISE] != 0.0);
  u.dev_c = device_of(dev_c, (float)cfg[C_DW_MIN_STD], (float)cfg[C_WRITE_NOISE], cfg[C_MULT_NOISE] != 0.0);
  u.A = a.data_ptr<float>();
  u.A_app = a_app.data_ptr<float>();
  u.H = h.data_ptr<float>();
  u.C = c.data_ptr<float>();
  u.C_app = c_app.data_ptr<float>();
  return u;
}

// The random streams of the transfer after vector b: the read noise and the C pulses' noises, by row.
struct TransferDraws {
  Draws read, c_pulse, c_write;
  TransferDraws(const UpdateCall &u, int64_t b)
      : read(u.key, u.call, READ, 0, (uint32_t)b), c_pulse(u.key, u.call, C_PULSE, 0, (uint32_t)b),
        c_write(u.key, u.call, C_WRITE, 0, (uint32_t)b) {}
};

// The read of crosspoint e (row i) of A: one-hot, so the DAC maps 1 to exactly 1 and the gemv adds exact
// zeros; then read noise, the ADC step and the bound.
inline float read_of(const UpdateCall &u, TransferDraws &draws, int64_t e, int64_t i) {
  float r = u.A_app[e];
  if (u.read_noise > 0.0f) r += u.read_noise * draws.read.normal((uint32_t)i);
  if (u.read_res > 0.0f) r = rintf(r / u.read_res) * u.read_res;
  r = (r > u.read_bound) ? u.read_bound : r;
  r = (r < -u.read_bound) ? -u.read_bound : r;
  return r;
}

// One pulse on C at crosspoint e (row i): up for a positive step.
inline void pulse_c(const UpdateCall &u, TransferDraws &draws, int64_t e, int64_t i, float n_steps) {
  const float xi = draws.c_pulse.normal((uint32_t)i);
  const float xw = u.dev_c.write_noise > 0.0f ? draws.c_write.normal((uint32_t)i) : 0.0f;
  pulse(u.dev_c, e, n_steps < 0.0f, xi, xw, u.C[e], u.C_app[e]);
}

// The threshold of buffer value omega: the steps to C (0 below |omega| = 1, else truncated and clipped
// to max_steps), omega reduced (times momentum with forget_buffer, else by the steps times 1 - momentum,
// then clipped to +-cap if cap > 0: AGAD's buffer_cap; 0 for c-TTv2).
inline float take_steps(const UpdateCall &u, float &omega, float cap) {
  float n_steps = 0.0f;
  if (fabsf(omega) >= 1.0f) {
    n_steps = fmaxf(fminf(truncf(omega), u.max_steps), -u.max_steps);
    if (u.forget_buffer) {
      omega *= u.momentum;
    } else {
      omega -= u.sub_momentum * n_steps;
      if (cap > 0.0f) omega = fminf(fmaxf(omega, -cap), cap);
    }
  }
  return n_steps;
}

// The transfer after vector b on rows [i0, i1): read column j of A, accumulate into H with the
// chopper's sign, one pulse on C per threshold crossing. Returns the C pulses. Shared by both paths.
inline int64_t transfer_rows(const UpdateCall &u, int64_t b, int64_t j, bool in_chop, int64_t i0, int64_t i1) {
  const int64_t n = u.n;
  TransferDraws draws(u, b);
  int64_t pulses = 0;
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t e = i * n + j;
    const float r = read_of(u, draws, e, i);
    const float val = r * u.lr_scale;
    float omega = u.H[e] + (in_chop ? -val : val);
    const float n_steps = take_steps(u, omega, 0.0f);
    u.H[e] = omega;
    if (n_steps != 0.0f) {
      pulse_c(u, draws, e, i, n_steps);
      ++pulses;
    }
  }
  return pulses;
}

// AGAD's transfer after vector b on rows [i0, i1) (DynamicTransferRPUDevice::readAndUpdate): read
// column j of A as c-TTv2 does; where the column's chopper switched at its previous transfer, the past
// mean takes the running mean; H accumulates the read minus the past mean, with the chopper's sign; a
// threshold crossing gives one pulse on C once the counter has passed the first chopper period; the
// running mean follows the read. Returns the C pulses. Shared by both paths.
inline int64_t transfer_rows_agad(const UpdateCall &u, int64_t b, int64_t j, bool in_chop, int64_t i0, int64_t i1) {
  const int64_t n = u.n;
  const bool switched = u.switched_before[b] != 0, write = u.write_ok[b] != 0;
  const float keep = 1.0f - u.sample_momentum;
  TransferDraws draws(u, b);
  int64_t pulses = 0;
  for (int64_t i = i0; i < i1; ++i) {
    const int64_t e = i * n + j;
    const float r = read_of(u, draws, e, i);
    float mu_past = u.past[e];
    if (switched) {
      mu_past = u.mean[e];
      u.past[e] = mu_past;
    }
    float dw = r - mu_past;
    dw = in_chop ? -dw : dw;
    float omega = u.H[e] + dw * u.lr_scale;
    const float n_steps = take_steps(u, omega, u.buffer_cap);  // 1 - momentum: the scope keeps it in [0, 1]
    u.H[e] = omega;
    u.mean[e] = u.mean[e] * keep + r * u.sample_momentum;
    if (n_steps != 0.0f && write) {
      pulse_c(u, draws, e, i, n_steps);
      ++pulses;
    }
  }
  return pulses;
}

// Rows are independent given the shared pulse lines, so each block of ROW_BLOCK rows runs through all
// vectors while its A, H, C and device parameters stay in cache; the chopper is replayed per block.
constexpr int64_t ROW_BLOCK = 16;

// The scalar reference: pulse by pulse, the active x columns of each slot as a list.
// Returns the A and C pulses; A, A_app, H, C, C_app in place.
std::pair<int64_t, int64_t> pulses_reference(const UpdateCall &u, const uint8_t *chop0) {
  const int64_t p = u.p, n = u.n, m = u.m;
  const int desired_bl = u.desired_bl;
  const float *x = u.x, *d = u.d;
  // pulse trains: active x columns per (vector, slot), signed j+1 (at most n each, in one flat buffer);
  // d bits as masks per (vector, row)
  std::unique_ptr<int32_t[]> x_active(new int32_t[(size_t)m * desired_bl * n]);
  std::vector<int32_t> x_count((size_t)m * desired_bl, 0);
  std::vector<uint8_t> d_bits((size_t)m * p, 0);
  at::parallel_for(0, m, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const Schedule &s = u.sched[b];
      for (int t = 0; t < s.bl; ++t) {
        Draws x_draws(u.key, u.call, X_BITS, (uint32_t)t, (uint32_t)b);
        Draws d_draws(u.key, u.call, D_BITS, (uint32_t)t, (uint32_t)b);
        int32_t *active = &x_active[((size_t)b * desired_bl + t) * n];
        int32_t count = 0;
        for (int64_t j = 0; j < n; ++j) {
          const float v = x[b * n + j];
          const float pp = fabsf(v) * s.x_scale;
          if (pp == 0.0f) continue;
          if (pp > x_draws.uniform((uint32_t)j)) active[count++] = (v > 0.0f) ? (int32_t)(j + 1) : -(int32_t)(j + 1);
        }
        x_count[(size_t)b * desired_bl + t] = count;
        for (int64_t i = 0; i < p; ++i) {
          const float pp = fabsf(d[b * p + i]) * s.d_scale;
          if (pp == 0.0f) continue;
          if (pp > d_draws.uniform((uint32_t)i)) d_bits[(size_t)b * p + i] |= (uint8_t)(1u << t);
        }
      }
    }
  });

  const bool a_noise = u.dev_a.write_noise > 0.0f;
  std::atomic<int64_t> a_pulses{0}, c_pulses{0};
  at::parallel_for(0, p, ROW_BLOCK, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> chop(n);
    int64_t my_a = 0, my_c = 0;
    for (int64_t i0 = begin; i0 < end; i0 += ROW_BLOCK) {
      const int64_t i1 = std::min(end, i0 + ROW_BLOCK);
      std::copy(chop0, chop0 + n, chop.begin());
      for (int64_t b = 0; b < m; ++b) {
        const Schedule &s = u.sched[b];
        for (int t = 0; t < s.bl; ++t) {
          const int32_t n_cols = x_count[(size_t)b * desired_bl + t];
          if (n_cols == 0) continue;
          const int32_t *cols = &x_active[((size_t)b * desired_bl + t) * n];
          Draws pulse_noise(u.key, u.call, A_PULSE, (uint32_t)t, (uint32_t)b);
          Draws write_noise(u.key, u.call, A_WRITE, (uint32_t)t, (uint32_t)b);
          for (int64_t i = i0; i < i1; ++i) {
            if (!((d_bits[(size_t)b * p + i] >> t) & 1u)) continue;
            const int d_sign = (d[b * p + i] < 0.0f) ? -1 : 1;  // lr_sign +1, out chopper +1
            for (int32_t c = 0; c < n_cols; ++c) {
              const int32_t signed_j = cols[c];
              const int64_t j = (signed_j < 0) ? -(int64_t)signed_j - 1 : (int64_t)signed_j - 1;
              int sign = (signed_j < 0) ? -d_sign : d_sign;
              if (chop[j]) sign = -sign;
              const int64_t e = i * n + j;
              // noise indexed by the pulse's place in the slot's x list: 8 pulses to a Philox call
              const uint32_t draw_index = (uint32_t)(i * n + c);
              const float xi = pulse_noise.normal(draw_index);
              const float xw = a_noise ? write_noise.normal(draw_index) : 0.0f;
              pulse(u.dev_a, e, sign > 0, xi, xw, u.A[e], u.A_app[e]);
              ++my_a;
            }
          }
        }
        if (u.transfer_lr == 0.0f) continue;  // readAndUpdate returns at lr 0 (the pointer still moves)
        const int64_t j = (u.s0 + b) % n;
        my_c += u.agad ? transfer_rows_agad(u, b, j, chop[j] != 0, i0, i1) : transfer_rows(u, b, j, chop[j] != 0, i0, i1);
        if (u.flips[b]) chop[j] ^= 1u;
      }
    }
    a_pulses += my_a;
    c_pulses += my_c;
  });
  return {a_pulses.load(), c_pulses.load()};
}

// ---------------------------------------------------------------------------------------
// The vector path (AVX2, chosen at run time): the same float32 operations on eight crosspoints of a
// row at once, the same random numbers (Philox on four counters at once), so the same results bit
// for bit. Each slot's active x columns are a bit mask per group of eight columns with the rank of
// the group's first active column: the pulse noise of column j is the normal at the column's place
// in the slot's list, as in the reference, moved into its lane by a permutation.

#ifdef ANALOG_TL_X86
// `pulse` on eight crosspoints, the same float32 operations lane by lane: selects by blend, MAXPS /
// MINPS for the two clips (they return the second operand unless the first is greater / smaller,
// exactly the reference's conditionals), the sign flip of the down step by xor. The five device
// fields and w come in; w (persistent) and w as read go out.
struct Lanes8 {
  __m256 up_step, down_step, max_bound, min_bound, ref, w;
};

AVX2_INLINE void pulse_math8(const Device &dev, const Lanes8 &in, __m256 down, __m256 xi, __m256 xw, __m256 &w_out,
                                __m256 &w_app_out) {
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 step = _mm256_blendv_ps(in.up_step, _mm256_xor_ps(in.down_step, _mm256_set1_ps(-0.0f)), down);
  const __m256 bound = _mm256_blendv_ps(in.max_bound, in.min_bound, down);
  const __m256 scaled = _mm256_blendv_ps(_mm256_cmp_ps(in.max_bound, zero, _CMP_GT_OQ),
                                         _mm256_cmp_ps(in.min_bound, zero, _CMP_LT_OQ), down);
  __m256 w = _mm256_add_ps(in.w, in.ref);
  const __m256 a = _mm256_and_ps(scaled, _mm256_div_ps(w, bound));
  const __m256 noise = _mm256_mul_ps(_mm256_set1_ps(dev.dw_min_std), xi);
  if (dev.mult_noise) {
    w = _mm256_add_ps(w, _mm256_mul_ps(_mm256_mul_ps(step, _mm256_sub_ps(one, a)), _mm256_add_ps(one, noise)));
  } else {
    w = _mm256_add_ps(w, _mm256_mul_ps(step, _mm256_add_ps(_mm256_sub_ps(one, a), noise)));
  }
  w = _mm256_max_ps(w, in.min_bound);
  w = _mm256_min_ps(w, in.max_bound);
  w_out = _mm256_sub_ps(w, in.ref);
  w_app_out = dev.write_noise > 0.0f ? _mm256_add_ps(w_out, _mm256_mul_ps(_mm256_set1_ps(dev.write_noise), xw)) : w_out;
}

// pulse_math8 on the active lanes of the contiguous crosspoints e .. e + 7 (masked loads and stores).
AVX2_INLINE void pulse_dense8(const Device &dev, int64_t e, __m256 active, __m256 down, __m256 xi, __m256 xw,
                                 float *W, float *W_app) {
  const __m256i mask = _mm256_castps_si256(active);
  const Lanes8 in{_mm256_maskload_ps(dev.field(STEP_UP) + e, mask), _mm256_maskload_ps(dev.field(STEP_DOWN) + e, mask),
                  _mm256_maskload_ps(dev.field(MAX_BOUND) + e, mask), _mm256_maskload_ps(dev.field(MIN_BOUND) + e, mask),
                  _mm256_maskload_ps(dev.field(REFERENCE) + e, mask), _mm256_maskload_ps(W + e, mask)};
  __m256 w, w_app;
  pulse_math8(dev, in, down, xi, xw, w, w_app);
  _mm256_maskstore_ps(W + e, mask, w);
  _mm256_maskstore_ps(W_app + e, mask, w_app);
}

// pulse_math8 on crosspoints row + cols[0..k) (gathered; k <= 8, the other lanes' columns are valid
// indices that are neither read into a result nor written).
AVX2_INLINE void pulse_gather8(const Device &dev, int64_t row, __m256i cols, int k, __m256 down, __m256 xi,
                                  __m256 xw, float *W, float *W_app) {
  const Lanes8 in{_mm256_i32gather_ps(dev.field(STEP_UP) + row, cols, 4),
                  _mm256_i32gather_ps(dev.field(STEP_DOWN) + row, cols, 4),
                  _mm256_i32gather_ps(dev.field(MAX_BOUND) + row, cols, 4),
                  _mm256_i32gather_ps(dev.field(MIN_BOUND) + row, cols, 4),
                  _mm256_i32gather_ps(dev.field(REFERENCE) + row, cols, 4), _mm256_i32gather_ps(W + row, cols, 4)};
  __m256 w, w_app;
  pulse_math8(dev, in, down, xi, xw, w, w_app);
  alignas(32) float w_out[8], w_app_out[8];
  alignas(32) int32_t j[8];
  _mm256_store_ps(w_out, w);
  _mm256_store_ps(w_app_out, w_app);
  _mm256_store_si256((__m256i *)j, cols);
  for (int lane = 0; lane < k; ++lane) {
    W[row + j[lane]] = w_out[lane];
    W_app[row + j[lane]] = w_app_out[lane];
  }
}

// The pulse trains of vector b: per slot the x masks (8 columns a byte), the ranks of each byte's
// first active column, the list of active columns (signed j + 1, as the reference's) and the count;
// the d bits per row (bit t for slot t); the signs of x. Each slot is pulsed densely (eight
// neighbouring columns a step, masked) or sparsely (eight listed columns a step, gathered),
// whichever costs less for its density; the results are the same.
struct Trains {
  int64_t groups = 0;            // column groups of eight: ceil(n / 8)
  std::vector<uint8_t> x_mask;   // [m, desired_bl, groups]
  std::vector<int32_t> x_rank;   // [m, desired_bl, groups]
  std::vector<int32_t> x_list;   // [m, desired_bl, n + 8]: signed j + 1, padded with 1 (column 0)
  std::vector<int32_t> x_count;  // [m, desired_bl]
  std::vector<uint8_t> x_dense;  // [m, desired_bl]: 1 = dense, 0 = sparse (DENSE_COST)
  std::vector<uint8_t> x_neg;    // [m, groups]: bit set where x < 0
  std::vector<uint8_t> d_bits;   // [m, p]
};

// Path choice: dense when its steps (column groups with an active column) cost less than the sparse
// path's steps (eight listed columns each), one sparse step costing this many dense steps (measured).
constexpr int32_t DENSE_STEPS_PER_SPARSE_STEP = 1;
// 0: choose by cost; 1: always dense; 2: always sparse (cttv2_update_vector, for tests)
enum VectorMode : int64_t { CHOOSE = 0, ALWAYS_DENSE = 1, ALWAYS_SPARSE = 2 };

AVX2_FN void trains_of_vector(const UpdateCall &u, Trains &tr, int64_t b, int64_t mode) {
  const int64_t n = u.n, p = u.p, G = tr.groups;
  const Schedule &s = u.sched[b];
  const float *xb = u.x + b * n, *db = u.d + b * p;
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  auto tail_mask = [](int64_t left) { return left >= 8 ? 0xFFu : ((1u << left) - 1u); };
  for (int64_t g = 0; g < G; ++g) {
    const __m256i valid = _mm256_castps_si256(lanes_of(tail_mask(n - 8 * g)));
    const __m256 v = _mm256_maskload_ps(xb + 8 * g, valid);
    tr.x_neg[b * G + g] = (uint8_t)_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ));
  }
  for (int t = 0; t < s.bl; ++t) {
    const size_t slot = (size_t)b * u.desired_bl + t;
    uint8_t *mask = &tr.x_mask[slot * G];
    int32_t *rank = &tr.x_rank[slot * G];
    const __m256 xs = _mm256_set1_ps(s.x_scale), ds = _mm256_set1_ps(s.d_scale);
    int32_t count = 0;
    int32_t *list = &tr.x_list[slot * (n + 8)];
    int32_t busy_groups = 0;
    for (int64_t g = 0; g < G; g += 2) {  // 16 columns, 4 Philox calls
      __m256 uni[2];
      uniforms16(u.key, u.call, X_BITS, (uint32_t)t, (uint32_t)b, (uint32_t)(g / 2), uni);
      for (int64_t h = 0; h < 2 && g + h < G; ++h) {
        const int64_t j0 = 8 * (g + h);
        const uint32_t valid_bits = tail_mask(n - j0);
        const __m256 v = _mm256_maskload_ps(xb + j0, _mm256_castps_si256(lanes_of(valid_bits)));
        const __m256 pp = _mm256_mul_ps(_mm256_and_ps(v, abs_mask), xs);
        const uint32_t bits = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(pp, uni[h], _CMP_GT_OQ)) & valid_bits;
        mask[g + h] = (uint8_t)bits;
        rank[g + h] = count;
        busy_groups += bits != 0;
        const uint32_t neg = tr.x_neg[b * G + g + h];
        for (uint32_t rest = bits; rest; rest &= rest - 1) {
          const int lane = __builtin_ctz(rest);
          list[count++] = ((neg >> lane) & 1u) ? -(int32_t)(j0 + lane + 1) : (int32_t)(j0 + lane + 1);
        }
      }
    }
    std::fill(list + count, list + count + 8, 1);
    tr.x_count[slot] = count;
    const int32_t sparse_steps = (count + 7) / 8;
    tr.x_dense[slot] = mode == ALWAYS_DENSE ||
                       (mode == CHOOSE && busy_groups <= DENSE_STEPS_PER_SPARSE_STEP * sparse_steps);
    uint8_t *dbits = &tr.d_bits[(size_t)b * u.p];
    for (int64_t i0 = 0; i0 < u.p; i0 += 16) {
      __m256 uni[2];
      uniforms16(u.key, u.call, D_BITS, (uint32_t)t, (uint32_t)b, (uint32_t)(i0 / 16), uni);
      for (int64_t h = 0; h < 2 && i0 + 8 * h < u.p; ++h) {
        const int64_t r0 = i0 + 8 * h;
        const uint32_t valid_bits = tail_mask(u.p - r0);
        const __m256 v = _mm256_maskload_ps(db + r0, _mm256_castps_si256(lanes_of(valid_bits)));
        const __m256 pp = _mm256_mul_ps(_mm256_and_ps(v, abs_mask), ds);
        uint32_t bits = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(pp, uni[h], _CMP_GT_OQ)) & valid_bits;
        while (bits) {
          const int lane = __builtin_ctz(bits);
          dbits[r0 + lane] |= (uint8_t)(1u << t);
          bits &= bits - 1;
        }
      }
    }
  }
}

// A's pulses of slot t of vector b on row i (whose d bit is set), eight columns at a time.
AVX2_FN void pulses_of_row(const UpdateCall &u, const Trains &tr, const uint8_t *chop_bits, int64_t b, int t,
                           int64_t i, const float *xi, const float *xw) {
  const int64_t n = u.n, G = tr.groups;
  const size_t slot = (size_t)b * u.desired_bl + t;
  const int32_t n_cols = tr.x_count[slot];
  const uint8_t *mask = &tr.x_mask[slot * G];
  const int32_t *rank = &tr.x_rank[slot * G];
  const uint8_t *neg = &tr.x_neg[b * G];
  const bool a_noise = xw != nullptr;
  const uint32_t d_pos = (u.d[b * u.p + i] < 0.0f) ? 0u : 0xFFu;  // d_sign +1
  for (int64_t g = 0; g < G; ++g) {
    const uint32_t bits = mask[g];
    if (!bits) continue;
    const __m256i lanes = _mm256_load_si256((const __m256i *)expand_table.lanes[bits]);
    const __m256 xi8 = _mm256_permutevar8x32_ps(_mm256_loadu_ps(xi + rank[g]), lanes);
    const __m256 xw8 = a_noise ? _mm256_permutevar8x32_ps(_mm256_loadu_ps(xw + rank[g]), lanes) : _mm256_setzero_ps();
    const uint32_t down = (d_pos ^ neg[g] ^ chop_bits[g]) & 0xFFu;  // sign > 0
    pulse_dense8(u.dev_a, i * n + 8 * g, lanes_of(bits), lanes_of(down), xi8, xw8, u.A, u.A_app);
  }
}

// A's pulses of slot t of vector b on row i, eight listed columns at a time (gathered).
AVX2_FN void pulses_of_row_sparse(const UpdateCall &u, const Trains &tr, const int32_t *chop_words, int64_t b, int t,
                                  int64_t i, const float *xi, const float *xw) {
  const int64_t n = u.n;
  const size_t slot = (size_t)b * u.desired_bl + t;
  const int32_t n_cols = tr.x_count[slot];
  const int32_t *list = &tr.x_list[slot * (n + 8)];
  const bool a_noise = xw != nullptr;
  const __m256i d_pos = _mm256_set1_epi32((u.d[b * u.p + i] < 0.0f) ? 0 : -1);  // d_sign +1
  const __m256i one = _mm256_set1_epi32(1);
  for (int32_t c0 = 0; c0 < n_cols; c0 += 8) {
    const __m256i signed_j = _mm256_loadu_si256((const __m256i *)(list + c0));
    const __m256i cols = _mm256_sub_epi32(_mm256_abs_epi32(signed_j), one);
    const __m256i neg = _mm256_srai_epi32(signed_j, 31);
    const __m256i chop = _mm256_i32gather_epi32(chop_words, cols, 4);
    const __m256 down = _mm256_castsi256_ps(_mm256_xor_si256(_mm256_xor_si256(d_pos, neg), chop));  // sign > 0
    const __m256 xw8 = a_noise ? _mm256_loadu_ps(xw + c0) : _mm256_setzero_ps();
    pulse_gather8(u.dev_a, i * n, cols, std::min<int32_t>(8, n_cols - c0), down, _mm256_loadu_ps(xi + c0), xw8, u.A,
                  u.A_app);
  }
}

// transfer_rows on eight rows at a time: column j of A (as read) and of H gathered, the read, the
// accumulation and the threshold test lane by lane in the reference's float32 operations (MINPS /
// MAXPS with the bound first are its conditional clips, also for NaN); the rare C pulses one by one.
AVX2_FN int64_t transfer_rows_avx2(const UpdateCall &u, int64_t b, int64_t j, bool in_chop, int64_t i0, int64_t i1,
                                   float *scratch) {
  const int64_t n = u.n;
  const bool c_noise = u.dev_c.write_noise > 0.0f;
  const float *read_xi = u.read_noise > 0.0f ? normals_of(u.key, u.call, READ, 0, (uint32_t)b, (uint32_t)i0,
                                                          (uint32_t)(i1 - i0), scratch)
                                             : nullptr;
  Draws c_pulse_noise(u.key, u.call, C_PULSE, 0, (uint32_t)b);
  Draws c_write_noise(u.key, u.call, C_WRITE, 0, (uint32_t)b);
  const __m256i stride = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)n));
  const __m256 sign_bit = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
  const __m256 read_bound = _mm256_set1_ps(u.read_bound), neg_read_bound = _mm256_set1_ps(-u.read_bound);
  const __m256 max_steps = _mm256_set1_ps(u.max_steps), neg_max_steps = _mm256_set1_ps(-u.max_steps);
  int64_t pulses = 0;
  for (int64_t r0 = i0; r0 < i1; r0 += 8) {
    const int64_t left = i1 - r0;
    const uint32_t valid_bits = left >= 8 ? 0xFFu : ((1u << left) - 1u);
    const __m256 valid = lanes_of(valid_bits);
    const int64_t base = r0 * n + j;
    __m256 r = _mm256_mask_i32gather_ps(zero, u.A_app + base, stride, valid, 4);
    if (read_xi) r = _mm256_add_ps(r, _mm256_mul_ps(_mm256_set1_ps(u.read_noise), _mm256_loadu_ps(read_xi + (r0 - i0))));
    if (u.read_res > 0.0f) {
      const __m256 res = _mm256_set1_ps(u.read_res);
      r = _mm256_mul_ps(_mm256_round_ps(_mm256_div_ps(r, res), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), res);
    }
    r = _mm256_min_ps(read_bound, r);      // (r > bound) ? bound : r
    r = _mm256_max_ps(neg_read_bound, r);  // (r < -bound) ? -bound : r
    __m256 val = _mm256_mul_ps(r, _mm256_set1_ps(u.lr_scale));
    if (in_chop) val = _mm256_xor_ps(val, sign_bit);
    __m256 omega = _mm256_add_ps(_mm256_mask_i32gather_ps(zero, u.H + base, stride, valid, 4), val);
    const __m256 cross = _mm256_cmp_ps(_mm256_andnot_ps(sign_bit, omega), one, _CMP_GE_OQ);
    __m256 steps = _mm256_round_ps(omega, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    steps = _mm256_and_ps(cross, _mm256_max_ps(_mm256_min_ps(steps, max_steps), neg_max_steps));
    const __m256 reduced = u.forget_buffer ? _mm256_mul_ps(omega, _mm256_set1_ps(u.momentum))
                                           : _mm256_sub_ps(omega, _mm256_mul_ps(_mm256_set1_ps(u.sub_momentum), steps));
    omega = _mm256_blendv_ps(omega, reduced, cross);
    alignas(32) float omega_out[8], steps_out[8];
    _mm256_store_ps(omega_out, omega);
    _mm256_store_ps(steps_out, steps);
    for (int64_t lane = 0; lane < std::min<int64_t>(left, 8); ++lane) u.H[base + lane * n] = omega_out[lane];
    uint32_t fire = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(steps, zero, _CMP_NEQ_OQ)) & valid_bits;
    while (fire) {  // one pulse on C: up for a positive step
      const int lane = __builtin_ctz(fire);
      fire &= fire - 1;
      const int64_t i = r0 + lane, e = base + lane * n;
      const float xi = c_pulse_noise.normal((uint32_t)i);
      const float xw = c_noise ? c_write_noise.normal((uint32_t)i) : 0.0f;
      pulse(u.dev_c, e, steps_out[lane] < 0.0f, xi, xw, u.C[e], u.C_app[e]);
      ++pulses;
    }
  }
  return pulses;
}

// Rows per block of the vector path: a block's A, A as read and device planes stay in the L1 cache
// while all vectors pass (4 and 32 rows measured no faster; fewer blocks than threads would idle a core).
constexpr int64_t VECTOR_ROW_BLOCK = 16;

std::pair<int64_t, int64_t> pulses_avx2(const UpdateCall &u, const uint8_t *chop0, int64_t mode) {
  const int64_t p = u.p, n = u.n, m = u.m;
  Trains tr;
  tr.groups = (n + 7) / 8;
  const int64_t G = tr.groups;
  tr.x_mask.assign((size_t)m * u.desired_bl * G, 0);
  tr.x_rank.assign((size_t)m * u.desired_bl * G, 0);
  tr.x_list.assign((size_t)m * u.desired_bl * (n + 8), 1);
  tr.x_count.assign((size_t)m * u.desired_bl, 0);
  tr.x_dense.assign((size_t)m * u.desired_bl, 0);
  tr.x_neg.assign((size_t)m * G, 0);
  tr.d_bits.assign((size_t)m * p, 0);
  at::parallel_for(0, m, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) trains_of_vector(u, tr, b, mode);
  });

  std::atomic<int64_t> a_pulses{0}, c_pulses{0};
  at::parallel_for(0, p, VECTOR_ROW_BLOCK, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> chop_bits(G);
    std::vector<int32_t> chop_words(n);  // -1 where the column's chopper is -1 (for the sparse path)
    // the pulse noise of a slot's rows is drawn for all of them before any pulse (independent Philox chains)
    const size_t row_stride = (size_t)n + 48;
    std::vector<float> scratch_xi(VECTOR_ROW_BLOCK * row_stride), scratch_xw(VECTOR_ROW_BLOCK * row_stride);
    std::vector<float> scratch_read(VECTOR_ROW_BLOCK + 48);
    int64_t rows[VECTOR_ROW_BLOCK];
    const float *row_xi[VECTOR_ROW_BLOCK], *row_xw[VECTOR_ROW_BLOCK];
    const bool a_noise = u.dev_a.write_noise > 0.0f;
    int64_t my_a = 0, my_c = 0;
    for (int64_t i0 = begin; i0 < end; i0 += VECTOR_ROW_BLOCK) {
      const int64_t i1 = std::min(end, i0 + VECTOR_ROW_BLOCK);
      std::fill(chop_bits.begin(), chop_bits.end(), 0);
      for (int64_t j = 0; j < n; ++j) {
        chop_bits[j >> 3] |= (uint8_t)((chop0[j] ? 1u : 0u) << (j & 7));
        chop_words[j] = chop0[j] ? -1 : 0;
      }
      for (int64_t b = 0; b < m; ++b) {
        const Schedule &s = u.sched[b];
        for (int t = 0; t < s.bl; ++t) {
          const int32_t n_cols = tr.x_count[(size_t)b * u.desired_bl + t];
          if (n_cols == 0) continue;
          int64_t k = 0;
          for (int64_t i = i0; i < i1; ++i) {
            if ((tr.d_bits[(size_t)b * p + i] >> t) & 1u) rows[k++] = i;
          }
          for (int64_t r = 0; r < k; ++r) {
            const uint32_t first = (uint32_t)(rows[r] * n);
            row_xi[r] = normals_of(u.key, u.call, A_PULSE, (uint32_t)t, (uint32_t)b, first, (uint32_t)n_cols,
                                   &scratch_xi[r * row_stride]);
            row_xw[r] = a_noise ? normals_of(u.key, u.call, A_WRITE, (uint32_t)t, (uint32_t)b, first, (uint32_t)n_cols,
                                             &scratch_xw[r * row_stride])
                                : nullptr;
          }
          const bool dense = tr.x_dense[(size_t)b * u.desired_bl + t];
          for (int64_t r = 0; r < k; ++r) {
            if (dense) {
              pulses_of_row(u, tr, chop_bits.data(), b, t, rows[r], row_xi[r], row_xw[r]);
            } else {
              pulses_of_row_sparse(u, tr, chop_words.data(), b, t, rows[r], row_xi[r], row_xw[r]);
            }
          }
          my_a += k * n_cols;
        }
        if (u.transfer_lr == 0.0f) continue;  // readAndUpdate returns at lr 0 (the pointer still moves)
        const int64_t j = (u.s0 + b) % n;
        const bool in_chop = (chop_bits[j >> 3] >> (j & 7)) & 1u;
        // AGAD's transfer is the scalar one: one column per vector, a small part of the step
        my_c += u.agad ? transfer_rows_agad(u, b, j, in_chop, i0, i1)
                       : transfer_rows_avx2(u, b, j, in_chop, i0, i1, scratch_read.data());
        if (u.flips[b]) {
          chop_bits[j >> 3] ^= (uint8_t)(1u << (j & 7));
          chop_words[j] = ~chop_words[j];
        }
      }
    }
    a_pulses += my_a;
    c_pulses += my_c;
  });
  return {a_pulses.load(), c_pulses.load()};
}
#endif

// Which implementation cttv2_update runs on this CPU: "avx2" or "scalar" (the reference).
std::string update_isa() { return has_avx2() ? "avx2" : "scalar"; }

// One AnalogSGD step of one tile: vectors X [m, n], gradients D [m, p], learning rate lr.
// In place: a, a_app, h, c, c_app [p, n]; chopper [n] (uint8, 1 = sign -1);
// scalars [2] (m_x, m_d); pointer [1] (next column to transfer).
// dev_a, dev_c: [5, p, n] float (planes: scale_up, scale_down, max_bound, min_bound, reference).
// Returns counts [3] int64: A pulses, C pulses, transfers. `vector` chooses the vector path where the
// CPU has it (the results are the same bit for bit), else the scalar reference runs.
torch::Tensor update(torch::Tensor a, torch::Tensor a_app, torch::Tensor h, torch::Tensor c, torch::Tensor c_app,
                     torch::Tensor chopper, torch::Tensor scalars, torch::Tensor pointer, torch::Tensor dev_a,
                     torch::Tensor dev_c, torch::Tensor x_in, torch::Tensor d_in, torch::Tensor cfg_t, double lr_in,
                     int64_t key_in, int64_t call_in, bool vector, int64_t mode, const AgadState *agad = nullptr) {
  auto x_t = x_in.contiguous().to(torch::kFloat32);
  auto d_t = d_in.contiguous().to(torch::kFloat32);
  const UpdateCall u = prepare_update(a, a_app, h, c, c_app, chopper, scalars, pointer, dev_a, dev_c, x_t, d_t, cfg_t,
                                      lr_in, key_in, call_in, agad);
  const uint8_t *chop0 = chopper.data_ptr<uint8_t>();
  std::pair<int64_t, int64_t> pulses;
#ifdef ANALOG_TL_X86
  if (vector && has_avx2()) {
    pulses = pulses_avx2(u, chop0, mode);
  } else {
    pulses = pulses_reference(u, chop0);
  }
#else
  pulses = pulses_reference(u, chop0);
#endif

  // the chopper and the pointer after the batch
  const int64_t n = u.n, m = u.m;
  uint8_t *chop_out = chopper.data_ptr<uint8_t>();
  for (int64_t b = 0; b < m; ++b) {
    if (u.flips[b]) chop_out[(u.s0 + b) % n] ^= 1u;
  }
  pointer.data_ptr<int64_t>()[0] = (u.s0 + m) % n;
  if (agad != nullptr) {
    std::copy(u.switched_after.begin(), u.switched_after.end(), agad->switched.data_ptr<uint8_t>());
    agad->counter.data_ptr<int64_t>()[0] = u.counter_after;
  }
  auto counts = torch::empty({3}, torch::kInt64);
  counts[0] = pulses.first;
  counts[1] = pulses.second;
  counts[2] = u.transfer_lr != 0.0f ? m : 0;
  return counts;
}

torch::Tensor cttv2_update(torch::Tensor a, torch::Tensor a_app, torch::Tensor h, torch::Tensor c, torch::Tensor c_app,
                           torch::Tensor chopper, torch::Tensor scalars, torch::Tensor pointer, torch::Tensor dev_a,
                           torch::Tensor dev_c, torch::Tensor x_in, torch::Tensor d_in, torch::Tensor cfg_t, double lr_in,
                           int64_t key_in, int64_t call_in) {
  return update(a, a_app, h, c, c_app, chopper, scalars, pointer, dev_a, dev_c, x_in, d_in, cfg_t, lr_in, key_in,
                call_in, true, CHOOSE);
}

torch::Tensor cttv2_update_reference(torch::Tensor a, torch::Tensor a_app, torch::Tensor h, torch::Tensor c,
                                     torch::Tensor c_app, torch::Tensor chopper, torch::Tensor scalars,
                                     torch::Tensor pointer, torch::Tensor dev_a, torch::Tensor dev_c, torch::Tensor x_in,
                                     torch::Tensor d_in, torch::Tensor cfg_t, double lr_in, int64_t key_in,
                                     int64_t call_in) {
  return update(a, a_app, h, c, c_app, chopper, scalars, pointer, dev_a, dev_c, x_in, d_in, cfg_t, lr_in, key_in,
                call_in, false, CHOOSE);
}

// cttv2_update on the vector path with every slot pulsed densely (mode 1) or sparsely (mode 2), or
// chosen by cost (0): for the tests, which compare each with the reference.
torch::Tensor cttv2_update_vector(torch::Tensor a, torch::Tensor a_app, torch::Tensor h, torch::Tensor c,
                                  torch::Tensor c_app, torch::Tensor chopper, torch::Tensor scalars, torch::Tensor pointer,
                                  torch::Tensor dev_a, torch::Tensor dev_c, torch::Tensor x_in, torch::Tensor d_in,
                                  torch::Tensor cfg_t, double lr_in, int64_t key_in, int64_t call_in, int64_t mode) {
  TORCH_CHECK(mode >= CHOOSE && mode <= ALWAYS_SPARSE, "mode must be 0 (choose), 1 (dense) or 2 (sparse)");
  TORCH_CHECK(has_avx2(), "this CPU has no vector path (no AVX2)");
  return update(a, a_app, h, c, c_app, chopper, scalars, pointer, dev_a, dev_c, x_in, d_in, cfg_t, lr_in, key_in,
                call_in, true, mode);
}

// AGAD (aihwkit's DynamicTransferCompound): cttv2_update's arguments and AGAD's state, in place: running
// and past means [p, n] float32, switched flags [n] uint8, transfer counter [1] int64. `path`: 0 the
// vector path where the CPU has AVX2 (slots chosen by cost), 1 the scalar reference, 2 and 3 the vector
// path with every slot dense or sparse (for the tests).
torch::Tensor agad_update(torch::Tensor a, torch::Tensor a_app, torch::Tensor h, torch::Tensor c, torch::Tensor c_app,
                          torch::Tensor chopper, torch::Tensor scalars, torch::Tensor pointer, torch::Tensor dev_a,
                          torch::Tensor dev_c, torch::Tensor x_in, torch::Tensor d_in, torch::Tensor cfg_t, double lr_in,
                          int64_t key_in, int64_t call_in, torch::Tensor mean, torch::Tensor past,
                          torch::Tensor switched, torch::Tensor counter, int64_t path) {
  TORCH_CHECK(path >= 0 && path <= 3, "path must be 0 (auto), 1 (reference), 2 (dense) or 3 (sparse)");
  TORCH_CHECK(path < 2 || has_avx2(), "this CPU has no vector path (no AVX2)");
  const AgadState state{mean, past, switched, counter};
  const bool vector = path != 1;
  const int64_t mode = path == 2 ? ALWAYS_DENSE : (path == 3 ? ALWAYS_SPARSE : CHOOSE);
  return update(a, a_app, h, c, c_app, chopper, scalars, pointer, dev_a, dev_c, x_in, d_in, cfg_t, lr_in, key_in,
                call_in, vector, mode, &state);
}

}  // namespace analog_tl

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.doc() = "c-TTv2 tile update (aihwkit 1.2.0 CPU semantics) with Philox random streams";
  module.def("cttv2_update", &analog_tl::cttv2_update,
             "One AnalogSGD step of one c-TTv2 tile, in place (the vector path where the CPU has AVX2)");
  module.def("cttv2_update_reference", &analog_tl::cttv2_update_reference,
             "cttv2_update by the scalar reference implementation (the same results, bit for bit)");
  module.def("cttv2_update_vector", &analog_tl::cttv2_update_vector,
             "cttv2_update on the vector path, slots pulsed densely (mode 1), sparsely (2) or by cost (0)");
  module.def("agad_update", &analog_tl::agad_update,
             "One AnalogSGD step of one AGAD tile, in place (path 0 auto, 1 scalar reference, 2 dense, 3 sparse)");
  module.def("update_isa", &analog_tl::update_isa, "The path cttv2_update takes on this CPU: avx2 or scalar");
  module.def("set_normal_table", &analog_tl::set_normal_table, "Set the 65536-entry normal table (once)");
  module.def("io_prepare", &analog_tl::io_prepare, "DAC: scale, quantise and clip rows of the input");
  module.def("io_forward", &analog_tl::io_forward, "The forward IO pass: weight @ v per row, bound management");
  module.def("io_backward", &analog_tl::io_backward, "The backward IO pass: weight.T @ d per row");
  module.def("io_prepare_reference", &analog_tl::io_prepare_reference, "io_prepare, scalar reference");
  module.def("io_finish_reference", &analog_tl::io_finish_reference, "io_finish, scalar reference");
  module.def("io_finish", &analog_tl::io_finish, "ADC: noise, quantise, bound test, clip and scale the products");
  module.def("philox_draws", &analog_tl::philox_draws, "Normals or uniforms [len(rows), cols] of one stream");
  module.def("philox_words", &analog_tl::philox_words, "Philox4x32-10 of counters [k, 4] (known-answer tests)");
}
