// The c-TTv2 update of one analog tile, as aihwkit 1.2.0's CPU simulator computes it,
// parallel over rows and sequential over vectors per row (cttv2-engine note, section 9.2).
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
#include <vector>

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
// IO model, the elementwise parts (ForwardBackwardPassIOManaged): the products are torch's.

inline float quantise(float value, float res) { return (res <= 0.0f) ? value : rintf(value / res) * res; }

// DAC of rows `rows` of inputs [m, n] at per-row scale [len(rows)]: value * scale, quantise, clip.
torch::Tensor io_prepare(torch::Tensor inputs, torch::Tensor rows, torch::Tensor scale, double res_in, double bound_in) {
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
  at::parallel_for(0, k, 16, [&](int64_t begin, int64_t end) {
    for (int64_t a = begin; a < end; ++a) {
      const float *row = x + ri[a] * n;
      for (int64_t j = 0; j < n; ++j) {
        float value = quantise(row[j] * s[a], res);
        value = (value > bound) ? bound : value;
        value = (value < -bound) ? -bound : value;
        o[a * n + j] = value;
      }
    }
  });
  return out;
}

// ADC of products y [len(rows), p]: + noise * N(0,1) (stream, call, slot = BM round, vector = rows[a]),
// quantise, bound test, clip, times out_scale[a]. Returns (outputs, failed [len(rows)] bool).
std::vector<torch::Tensor> io_finish(torch::Tensor y_in, torch::Tensor rows, torch::Tensor out_scale, double noise_in,
                                     double res_in, double bound_in, bool test_negative, int64_t key, int64_t call,
                                     int64_t stream, int64_t slot) {
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
  at::parallel_for(0, k, 16, [&](int64_t begin, int64_t end) {
    for (int64_t a = begin; a < end; ++a) {
      Draws draws(kk, (uint32_t)call, (uint32_t)stream, (uint32_t)slot, (uint32_t)ri[a]);
      bool fail = false;
      for (int64_t i = 0; i < p; ++i) {
        float value = yv[a * p + i];
        if (noise > 0.0f) value += noise * draws.normal((uint32_t)i);
        value = quantise(value, res);
        if (value > bound) {
          value = bound;
          fail = true;
        } else if (value < -bound) {
          value = -bound;
          fail = test_negative;  // aihwkit assigns bound_test_passed = !bm_test_negative_bound here
        }
        o[a * p + i] = value * sv[a];
      }
      f[a] = fail;
    }
  });
  return {out, failed};
}

// ---------------------------------------------------------------------------------------
// Soft-bounds reference device, one pulse (aihwkit's update_once_add / update_once_mult).

struct Device {
  const float *params;  // [p*n, 5]: step up, step down, max bound, min bound, reference (one cache line a pulse)
  float dw_min_std;
  float write_noise;  // write_noise_std * dw_min (aihwkit's getScaledWriteNoise)
  bool mult_noise;
};

// One pulse on weight w (persistent) and its apparent value; `down` is aihwkit's sign > 0.
// Written without branches on `down` (selects instead): pulse signs are random, so branches would
// mispredict. `w -= s * f` is computed as `w += (-s) * f`, which is the same float32 result.
inline void pulse(const Device &dev, int64_t e, bool down, float xi, float xi_write, float &w, float &w_apparent) {
  const float *q = dev.params + 5 * e;
  const float max_bound = q[2], min_bound = q[3], ref = q[4];
  const float step = down ? -q[1] : q[0];
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
  TORCH_CHECK(params.dim() == 3 && params.size(2) == 5, "device parameters must be [out, in, 5]");
  return Device{params.data_ptr<float>(), dw_min_std, write_noise, mult_noise};
}

// ---------------------------------------------------------------------------------------
// Settings of the compound, float32 as aihwkit holds them. Layout of `cfg` (float64 tensor):
enum Cfg {
  FAST_LR, DESIRED_BL, DW_MIN_A, DW_MIN_C, AUTO_MOMENTUM, AUTO_GRANULARITY, BUFFER_GRANULARITY, TRANSFER_EVERY,
  TRANSFER_LR, MOMENTUM, FORGET_BUFFER, IN_CHOP_PROB, MAX_STEPS, READ_NOISE, READ_RES, READ_BOUND,
  A_DW_MIN_STD, A_WRITE_NOISE, A_MULT_NOISE, C_DW_MIN_STD, C_WRITE_NOISE, C_MULT_NOISE, AUTO_SCALE, N_CFG
};

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

// One AnalogSGD step of one tile: vectors X [m, n], gradients D [m, p], learning rate lr.
// In place: a, a_app, h, c, c_app [p, n]; chopper [n] (uint8, 1 = sign -1);
// scalars [2] (m_x, m_d); pointer [1] (next column to transfer).
// dev_a, dev_c: [p, n, 5] float (scale_up, scale_down, max_bound, min_bound, reference).
// Returns counts [3] int64: A pulses, C pulses, transfers.
torch::Tensor cttv2_update(torch::Tensor a, torch::Tensor a_app, torch::Tensor h, torch::Tensor c, torch::Tensor c_app,
                           torch::Tensor chopper, torch::Tensor scalars, torch::Tensor pointer, torch::Tensor dev_a,
                           torch::Tensor dev_c, torch::Tensor x_in, torch::Tensor d_in, torch::Tensor cfg_t, double lr_in,
                           int64_t key_in, int64_t call_in) {
  for (const auto *t : {&a, &a_app, &h, &c, &c_app, &dev_a, &dev_c, &scalars}) {
    TORCH_CHECK(t->is_contiguous() && t->dtype() == torch::kFloat32, "tile state must be contiguous float32");
  }
  TORCH_CHECK(chopper.is_contiguous() && chopper.dtype() == torch::kUInt8, "chopper must be contiguous uint8");
  TORCH_CHECK(pointer.dtype() == torch::kInt64, "pointer must be int64");
  TORCH_CHECK(cfg_t.dtype() == torch::kFloat64 && cfg_t.numel() == N_CFG, "cfg must be float64 of size ", (int)N_CFG);
  auto x_t = x_in.contiguous().to(torch::kFloat32);
  auto d_t = d_in.contiguous().to(torch::kFloat32);
  const int64_t p = a.size(0), n = a.size(1), m = x_t.size(0);
  TORCH_CHECK(x_t.size(1) == n && d_t.size(1) == p && d_t.size(0) == m, "X must be [m, in] and D [m, out]");
  const double *cfg = cfg_t.data_ptr<double>();
  const float *x = x_t.data_ptr<float>();
  const float *d = d_t.data_ptr<float>();
  const Key key = make_key(key_in);
  const uint32_t call = (uint32_t)call_in;
  const float lr = (float)lr_in;

  const float fast_lr = (float)cfg[FAST_LR];
  const int desired_bl = (int)cfg[DESIRED_BL];
  const float dw_min_a = (float)cfg[DW_MIN_A];
  const float dw_min_c = (float)cfg[DW_MIN_C];
  const float auto_momentum = (float)cfg[AUTO_MOMENTUM];
  const bool auto_scale = cfg[AUTO_SCALE] != 0.0;
  const float weight_granularity = (0.0f + dw_min_a + dw_min_c) / 2.0f;  // VectorRPUDevice::populate
  const float momentum = (float)cfg[MOMENTUM];
  const float sub_momentum = 1.0f - fmaxf(fminf(momentum, 1.0f), 0.0f);
  const bool forget_buffer = cfg[FORGET_BUFFER] != 0.0;
  const float in_chop_prob = (float)cfg[IN_CHOP_PROB];
  const float max_steps = (float)cfg[MAX_STEPS];
  const float read_noise = (float)cfg[READ_NOISE];
  const float read_res = (float)cfg[READ_RES];
  const float read_bound = (float)cfg[READ_BOUND];

  // transfer gain: getTransferLR, then getTransferLRScale / getBufferGranularity
  const float transfer_lr = (float)cfg[TRANSFER_LR] * lr;
  float buffer_gran = (float)cfg[BUFFER_GRANULARITY] > 0.0f ? (float)cfg[BUFFER_GRANULARITY] : 1.0f;
  if ((float)cfg[AUTO_GRANULARITY] > 0.0f) {
    const float period = (float)n * fabsf((float)cfg[TRANSFER_EVERY]);
    buffer_gran *= dw_min_a * (float)cfg[AUTO_GRANULARITY] / period;
  } else {
    buffer_gran *= dw_min_a;
  }
  const float lr_scale = fabsf(transfer_lr) / buffer_gran;

  // 1. scalar schedule (sequential, cheap) and chopper flips
  std::vector<Schedule> sched(m);
  float *sc = scalars.data_ptr<float>();
  float m_x = sc[0], m_d = sc[1];
  for (int64_t b = 0; b < m; ++b) {
    const float xa = fabs_max(x + b * n, n);
    const float da = fabs_max(d + b * p, p);
    if (auto_scale) {
      update_auto_scale(m_x, xa, auto_momentum, (int)m);
      update_auto_scale(m_d, da, auto_momentum, (int)m);
    }
    float count_lr = fast_lr * ((float)desired_bl * dw_min_a);
    if (m_x > 0.0f && m_d > 0.0f) {
      count_lr /= m_x * m_d;
    }
    sched[b] = update_management(fabsf(count_lr), xa, da, weight_granularity, desired_bl);
  }
  sc[0] = m_x;
  sc[1] = m_d;
  const int64_t s0 = pointer.data_ptr<int64_t>()[0];
  std::vector<uint8_t> flips(m, 0);
  if (transfer_lr != 0.0f && in_chop_prob > 0.0f) {
    Draws draws(key, call, CHOPPER, 0, 0);
    for (int64_t b = 0; b < m; ++b) {
      flips[b] = draws.uniform((uint32_t)b) < in_chop_prob;  // element = vector here
    }
  }

  // 2. pulse trains: active x columns per (vector, slot), signed j+1 (at most n each, in one flat buffer);
  //    d bits as masks per (vector, row)
  std::unique_ptr<int32_t[]> x_active(new int32_t[(size_t)m * desired_bl * n]);
  std::vector<int32_t> x_count((size_t)m * desired_bl, 0);
  std::vector<uint8_t> d_bits((size_t)m * p, 0);
  at::parallel_for(0, m, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const Schedule &s = sched[b];
      for (int t = 0; t < s.bl; ++t) {
        Draws x_draws(key, call, X_BITS, (uint32_t)t, (uint32_t)b);
        Draws d_draws(key, call, D_BITS, (uint32_t)t, (uint32_t)b);
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

  // 3. per block of rows: pulses on A vector by vector, then the transfer of column s0 + b
  const Device da_dev = device_of(dev_a, (float)cfg[A_DW_MIN_STD], (float)cfg[A_WRITE_NOISE], cfg[A_MULT_NOISE] != 0.0);
  const Device dc_dev = device_of(dev_c, (float)cfg[C_DW_MIN_STD], (float)cfg[C_WRITE_NOISE], cfg[C_MULT_NOISE] != 0.0);
  float *A = a.data_ptr<float>();
  float *A_app = a_app.data_ptr<float>();
  float *H = h.data_ptr<float>();
  float *C = c.data_ptr<float>();
  float *C_app = c_app.data_ptr<float>();
  const uint8_t *chop0 = chopper.data_ptr<uint8_t>();
  const bool a_noise = da_dev.write_noise > 0.0f;
  const bool c_noise = dc_dev.write_noise > 0.0f;
  std::atomic<int64_t> a_pulses{0}, c_pulses{0};

  // Rows are independent given the shared pulse lines, so each block of ROW_BLOCK rows runs through all
  // vectors while its A, H, C and device parameters stay in cache; the chopper is replayed per block.
  constexpr int64_t ROW_BLOCK = 16;
  at::parallel_for(0, p, ROW_BLOCK, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> chop(n);
    int64_t my_a = 0, my_c = 0;
    for (int64_t i0 = begin; i0 < end; i0 += ROW_BLOCK) {
      const int64_t i1 = std::min(end, i0 + ROW_BLOCK);
      std::copy(chop0, chop0 + n, chop.begin());
      for (int64_t b = 0; b < m; ++b) {
        const Schedule &s = sched[b];
        for (int t = 0; t < s.bl; ++t) {
          const int32_t n_cols = x_count[(size_t)b * desired_bl + t];
          if (n_cols == 0) continue;
          const int32_t *cols = &x_active[((size_t)b * desired_bl + t) * n];
          Draws pulse_noise(key, call, A_PULSE, (uint32_t)t, (uint32_t)b);
          Draws write_noise(key, call, A_WRITE, (uint32_t)t, (uint32_t)b);
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
              pulse(da_dev, e, sign > 0, xi, xw, A[e], A_app[e]);
              ++my_a;
            }
          }
        }
        if (transfer_lr == 0.0f) continue;  // readAndUpdate returns at lr 0 (the pointer still moves)
        const int64_t j = (s0 + b) % n;
        const bool in_chop = chop[j] != 0;
        Draws read_noise_draws(key, call, READ, 0, (uint32_t)b);
        Draws c_pulse_noise(key, call, C_PULSE, 0, (uint32_t)b);
        Draws c_write_noise(key, call, C_WRITE, 0, (uint32_t)b);
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t e = i * n + j;
          float r = A_app[e];  // one-hot read: the DAC maps 1 to exactly 1, the gemv adds exact zeros
          if (read_noise > 0.0f) r += read_noise * read_noise_draws.normal((uint32_t)i);
          if (read_res > 0.0f) r = rintf(r / read_res) * read_res;
          r = (r > read_bound) ? read_bound : r;
          r = (r < -read_bound) ? -read_bound : r;
          const float val = r * lr_scale;
          float omega = H[e] + (in_chop ? -val : val);
          float n_steps = 0.0f;
          if (fabsf(omega) >= 1.0f) {
            n_steps = fmaxf(fminf(truncf(omega), max_steps), -max_steps);
            if (forget_buffer) {
              omega *= momentum;
            } else {
              omega -= sub_momentum * n_steps;
            }
          }
          H[e] = omega;
          if (n_steps != 0.0f) {  // one pulse on C: up for a positive step
            const float xi = c_pulse_noise.normal((uint32_t)i);
            const float xw = c_noise ? c_write_noise.normal((uint32_t)i) : 0.0f;
            pulse(dc_dev, e, n_steps < 0.0f, xi, xw, C[e], C_app[e]);
            ++my_c;
          }
        }
        if (flips[b]) chop[j] ^= 1u;
      }
    }
    a_pulses += my_a;
    c_pulses += my_c;
  });

  // 4. the chopper and the pointer after the batch
  uint8_t *chop_out = chopper.data_ptr<uint8_t>();
  for (int64_t b = 0; b < m; ++b) {
    if (flips[b]) chop_out[(s0 + b) % n] ^= 1u;
  }
  pointer.data_ptr<int64_t>()[0] = (s0 + m) % n;
  auto counts = torch::empty({3}, torch::kInt64);
  counts[0] = a_pulses.load();
  counts[1] = c_pulses.load();
  counts[2] = transfer_lr != 0.0f ? m : 0;
  return counts;
}

}  // namespace analog_tl

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
  module.doc() = "c-TTv2 tile update (aihwkit 1.2.0 CPU semantics) with Philox random streams";
  module.def("cttv2_update", &analog_tl::cttv2_update, "One AnalogSGD step of one c-TTv2 tile, in place");
  module.def("set_normal_table", &analog_tl::set_normal_table, "Set the 65536-entry normal table (once)");
  module.def("io_prepare", &analog_tl::io_prepare, "DAC: scale, quantise and clip rows of the input");
  module.def("io_finish", &analog_tl::io_finish, "ADC: noise, quantise, bound test, clip and scale the products");
  module.def("philox_draws", &analog_tl::philox_draws, "Normals or uniforms [len(rows), cols] of one stream");
  module.def("philox_words", &analog_tl::philox_words, "Philox4x32-10 of counters [k, 4] (known-answer tests)");
}
