"""Triton kernels of the c-TTv2 step: the update of ``csrc/cttv2.cpp``, exactly, for CUDA tensors.

The same arithmetic and the same random streams as the C++ kernel, element by
element: float32 expressions in the C++ order, divisions and square roots
correctly rounded (``div_rn``, ``sqrt_rn``), no fused multiply-add (the
launchers pass ``enable_fp_fusion=False``), rounding to nearest-even by the
2^23 trick (exact for float32, no libdevice, so the kernels also run in
Triton's interpreter), and every random number from Philox4x32-10 at the C++
kernel's (key, call, stream, slot, vector, element) counter. The C++ kernel is
the reference; its layout and stream numbers are ``csrc/cttv2.cpp``'s.

The update of one tile (a fused per-crosspoint scheme: each crosspoint runs through the vectors in order):

1. :func:`scan_kernel`: the running abs-maxima m_x(b), m_d(b), a sequential
   float32 recursion over the batch's vectors (one program);
2. :func:`bits_kernel`: per vector, the update management, the pulse trains
   (x columns active per slot with their place in the slot's list, d row bit
   masks) and the chopper flip;
3. :func:`fast_update_kernel`: one program per block of crosspoints, looping
   over the vectors in order: coincidences, signs with the choppers as they
   are at each vector, one soft-bounds pulse per coincidence on A, and the
   value of A that each transfer reads, at its read time;
4. :func:`transfer_kernel`: the reads through H to C, parallel over rows and
   over the columns of distinct transfers (a column read twice in a batch is
   handled in order by one program); for AGAD (``AGAD``) against the past mean
   of the reads, with the running mean updated and C written only once the
   first chopper period has passed (the per-vector flags come from the launcher).
"""

from __future__ import annotations

import triton
import triton.language as tl

# Streams, as ``enum Stream`` in csrc/cttv2.cpp
FORWARD, BACKWARD, X_BITS, D_BITS, A_PULSE, A_WRITE, READ, C_PULSE, C_WRITE, CHOPPER = range(1, 11)


@triton.jit
def _philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1), all uint32."""
    for _ in tl.static_range(10):
        hi0 = tl.umulhi(c0, 0xD2511F53)
        lo0 = c0 * 0xD2511F53
        hi1 = tl.umulhi(c2, 0xCD9E8D57)
        lo1 = c2 * 0xCD9E8D57
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = k0 + 0x9E3779B9
        k1 = k1 + 0xBB67AE85
    return c0, c1, c2, c3


@triton.jit
def _words(k0, k1, call, stream, slot, vector, group):
    """The four words of draw group ``group`` of (stream, call, slot, vector): the C++ ``draw``."""
    c0 = group.to(tl.uint32)
    c1 = (vector + 0 * group).to(tl.uint32)
    c2 = (call + 0 * group).to(tl.uint32)
    c3 = ((stream << 24) | (slot & 0xFFFFFF)) + 0 * group
    return _philox(c0, c1, c2, c3.to(tl.uint32), k0, k1)


@triton.jit
def _pick(w0, w1, w2, w3, index):
    return tl.where(index == 0, w0, tl.where(index == 1, w1, tl.where(index == 2, w2, w3)))


@triton.jit
def _uniform(k0, k1, call, stream, slot, vector, element):
    """Uniform in [0, 1) with 24 bits of element ``element`` (int32 tensor): 4 to a Philox call."""
    w0, w1, w2, w3 = _words(k0, k1, call, stream, slot, vector, element >> 2)
    word = _pick(w0, w1, w2, w3, element & 3)
    return (word >> 8).to(tl.float32) * 5.9604644775390625e-08  # 2^-24


@triton.jit
def _normal(table, k0, k1, call, stream, slot, vector, element):
    """Standard normal of element ``element`` from the 2^16-entry table: 8 to a Philox call."""
    w0, w1, w2, w3 = _words(k0, k1, call, stream, slot, vector, element >> 3)
    lane = element & 7
    word = _pick(w0, w1, w2, w3, lane >> 1)
    index = (word >> ((lane & 1) * 16).to(tl.uint32)) & 0xFFFF
    return tl.load(table + index.to(tl.int32))


@triton.jit
def _rint(v):
    """Round to nearest, ties to even (C ``rintf``), exact for every float32."""
    big = tl.abs(v) >= 8388608.0  # 2^23: already an integer
    magnitude = (tl.abs(v) + 8388608.0) - 8388608.0
    return tl.where(big, v, tl.where(v < 0, -magnitude, magnitude))


@triton.jit
def _trunc(v):
    """Round towards zero (C ``truncf``), through :func:`_rint` (the GPU's floor flushes subnormals)."""
    r = _rint(v)
    return tl.where((v > 0) & (r > v), r - 1.0, tl.where((v < 0) & (r < v), r + 1.0, r))


@triton.jit
def _ceil(v):
    """Round up (C ``ceilf``), through :func:`_rint`: the GPU's ceil flushes subnormals (ceil of one is 1)."""
    r = _rint(v)
    return tl.where(r < v, r + 1.0, r)


@triton.jit
def _quantise(value, res):
    """The nearest multiple of ``res`` (C ``quantise``); ``res`` <= 0: unchanged."""
    step = tl.where(res <= 0.0, 1.0, res)
    return tl.where(res <= 0.0, value, _rint(tl.math.div_rn(value, step)) * step)


@triton.jit
def _device(params, element, mask, plane):
    """The five device parameters of crosspoints ``element`` ([5, p, n] layout, ``plane`` = p n); harmless values
    where masked."""
    step_up = tl.load(params + element, mask=mask, other=0.0)
    step_down = tl.load(params + plane + element, mask=mask, other=0.0)
    max_bound = tl.load(params + 2 * plane + element, mask=mask, other=1.0)
    min_bound = tl.load(params + 3 * plane + element, mask=mask, other=-1.0)
    ref = tl.load(params + 4 * plane + element, mask=mask, other=0.0)
    return step_up, step_down, max_bound, min_bound, ref


@triton.jit
def _pulse(w, down, xi, xi_write, step_up, step_down, max_bound, min_bound, ref, dw_min_std, write_noise,
           MULT_NOISE: tl.constexpr, WRITE_NOISE: tl.constexpr):
    """One soft-bounds pulse (the C++ ``pulse``): the new persistent and apparent weights."""
    step = tl.where(down, -step_down, step_up)
    bound = tl.where(down, min_bound, max_bound)
    scaled = tl.where(down, min_bound < 0.0, max_bound > 0.0)
    w = w + ref
    ratio = tl.math.div_rn(w, bound)
    a = tl.where(scaled, ratio, 0.0)
    if MULT_NOISE:
        w = w + step * (1.0 - a) * (1.0 + dw_min_std * xi)
    else:
        w = w + step * ((1.0 - a) + dw_min_std * xi)
    w = tl.where(w > min_bound, w, min_bound)
    w = tl.where(w < max_bound, w, max_bound)
    w = w - ref
    if WRITE_NOISE:
        apparent = w + write_noise * xi_write
    else:
        apparent = w
    return w, apparent


@triton.jit(do_not_specialize=["m"])
def scan_kernel(x_max, d_max, running, m_x_out, m_d_out, m, tau, AUTO_SCALE: tl.constexpr):
    """m_x(b), m_d(b) for every vector b (after its own abs-max) and the final pair into ``running`` [2]."""
    m_x = tl.load(running)
    m_d = tl.load(running + 1)
    for b in range(m):
        if AUTO_SCALE:
            xa = tl.load(x_max + b)
            da = tl.load(d_max + b)
            m_x = tl.where(m_x <= 0.0, xa, tl.where(xa <= 0.0, m_x, (1.0 - tau) * m_x + tau * xa))
            m_d = tl.where(m_d <= 0.0, da, tl.where(da <= 0.0, m_d, (1.0 - tau) * m_d + tau * da))
        tl.store(m_x_out + b, m_x)
        tl.store(m_d_out + b, m_d)
    tl.store(running, m_x)
    tl.store(running + 1, m_d)


@triton.jit(do_not_specialize=["m", "n", "p", "k0", "k1", "call"])
def bits_kernel(
    x, d, x_max, d_max, m_x, m_d, x_place, d_bits, n_slots, flips,
    m, n, p, k0, k1, call, pulse_lr, weight_granularity, in_chop_prob,
    DESIRED_BL: tl.constexpr, CHOP: tl.constexpr, BLOCK_V: tl.constexpr, BLOCK: tl.constexpr,
):
    """A block of vectors b: update management, pulse trains and chopper flips.

    Writes ``n_slots[b]`` (BL), ``x_place[b, t, j]`` (the place of column j in
    slot t's list of active x columns, -1 if inactive), ``d_bits[b, i]`` (bit t
    set if row i is active in slot t), ``flips[b]``.
    """
    b = tl.program_id(0) * BLOCK_V + tl.arange(0, BLOCK_V)
    vec_in = b < m
    xa = tl.load(x_max + b, mask=vec_in, other=0.0)
    da = tl.load(d_max + b, mask=vec_in, other=0.0)
    mx = tl.load(m_x + b, mask=vec_in, other=0.0)
    md = tl.load(m_d + b, mask=vec_in, other=0.0)
    scaled = (mx > 0.0) & (md > 0.0)
    count_lr = tl.where(scaled, tl.math.div_rn(pulse_lr + 0.0 * mx, tl.where(scaled, mx * md, 1.0)), pulse_lr)
    lr = tl.abs(count_lr)
    live = vec_in & (lr > 0.0) & (xa != 0.0) & (da != 0.0)
    xa = tl.where(live, xa, 1.0)  # vectors without pulses: any finite values (BL is 0)
    da = tl.where(live, da, 1.0)
    lr = tl.where(live, lr, 1.0)
    # update_management: k = lr x d / granularity; BL = min(ceil k, desired); line scales
    k_val = tl.math.div_rn(lr * xa * da, weight_granularity + 0.0 * lr)
    bl = tl.minimum(_ceil(k_val), DESIRED_BL * 1.0).to(tl.int32)
    bl = tl.where(live, bl, 0)
    safe_bl = tl.maximum(bl, 1).to(tl.float32)
    a = tl.math.sqrt_rn(tl.math.div_rn(lr, weight_granularity * safe_bl))
    d_val = tl.where(k_val > DESIRED_BL * 1.0, da * tl.math.div_rn(DESIRED_BL * 1.0 + 0.0 * k_val, k_val), da)
    d_scale = a * tl.math.sqrt_rn(tl.math.div_rn(xa, d_val))
    x_scale = a * tl.math.sqrt_rn(tl.math.div_rn(d_val, xa))
    tl.store(n_slots + b, bl, mask=vec_in)
    key0 = k0.to(tl.uint32)
    key1 = k1.to(tl.uint32)
    if CHOP:
        u_flip = _uniform(key0, key1, call, 10, 0, 0, b)
        tl.store(flips + b, (u_flip < in_chop_prob).to(tl.uint8), mask=vec_in)
    max_bl = tl.max(bl, 0)
    offsets = tl.arange(0, BLOCK)
    for t in tl.static_range(DESIRED_BL):
        on = (t < bl)[:, None]
        count = tl.zeros([BLOCK_V], tl.int32)
        for j0 in range(0, n, BLOCK):
            j = j0 + offsets
            inside = vec_in[:, None] & (j < n)[None, :]
            where = (b * DESIRED_BL + t)[:, None] * n + j[None, :]
            if t < max_bl:
                v = tl.load(x + b[:, None] * n + j[None, :], mask=inside, other=0.0)
                prob = tl.abs(v) * x_scale[:, None]
                u = _uniform(key0, key1, call, 3, t, b[:, None], j[None, :] + 0 * b[:, None])
                active = on & inside & (prob != 0.0) & (prob > u)
                place = tl.cumsum(active.to(tl.int32), 1) - 1 + count[:, None]
                tl.store(x_place + where, tl.where(active, place, -1), mask=inside)
                count += tl.sum(active.to(tl.int32), 1)
            else:
                tl.store(x_place + where, tl.full([BLOCK_V, BLOCK], -1, tl.int32), mask=inside)
    for i0 in range(0, p, BLOCK):
        i = i0 + offsets
        inside = vec_in[:, None] & (i < p)[None, :]
        v = tl.load(d + b[:, None] * p + i[None, :], mask=inside, other=0.0)
        prob = tl.abs(v) * d_scale[:, None]
        mask = tl.zeros([BLOCK_V, BLOCK], tl.int32)
        for t in tl.static_range(DESIRED_BL):
            if t < max_bl:
                u = _uniform(key0, key1, call, 4, t, b[:, None], i[None, :] + 0 * b[:, None])
                active = (t < bl)[:, None] & inside & (prob != 0.0) & (prob > u)
                mask = mask | (active.to(tl.int32) << t)
        tl.store(d_bits + b[:, None] * p + i[None, :], mask.to(tl.uint8), mask=inside)


@triton.jit(do_not_specialize=["m", "n", "p", "k0", "k1", "call"])
def fast_update_kernel(
    a_w, a_app, dev_a, chopper, pointer, x, d, n_slots, x_place, d_bits, flips, reads, read_chop, counts,
    table, m, n, p, k0, k1, call, dw_min_std, write_noise,
    DESIRED_BL: tl.constexpr, MULT_NOISE: tl.constexpr, WRITE_NOISE: tl.constexpr, TRANSFER: tl.constexpr,
    CHOP: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_J: tl.constexpr,
):
    """A's pulses of every vector in order on a block of crosspoints; the transfer reads at their read times.

    ``reads[b, i]`` gets A (as read) at row i of the column vector b transfers,
    after b's pulses; ``read_chop[b]`` that column's chopper before b's flip.
    The programs of the first row block write the choppers after the batch.
    """
    pid_i = tl.program_id(0)
    pid_j = tl.program_id(1)
    rows = pid_i * BLOCK_I + tl.arange(0, BLOCK_I)
    cols = pid_j * BLOCK_J + tl.arange(0, BLOCK_J)
    row_in = rows < p
    col_in = cols < n
    inside = row_in[:, None] & col_in[None, :]
    element = rows[:, None] * n + cols[None, :]
    w = tl.load(a_w + element, mask=inside, other=0.0)
    w_app = tl.load(a_app + element, mask=inside, other=0.0)
    step_up, step_down, max_bound, min_bound, ref = _device(dev_a, element, inside, n * p)
    chop = tl.load(chopper + cols, mask=col_in, other=0).to(tl.int32)
    s0 = tl.load(pointer).to(tl.int32)
    key0 = k0.to(tl.uint32)
    key1 = k1.to(tl.uint32)
    pulses = tl.zeros([BLOCK_I, BLOCK_J], tl.int32)
    for b in range(m):
        bl = tl.load(n_slots + b)
        if bl > 0:
            xv = tl.load(x + b * n + cols, mask=col_in, other=0.0)
            dv = tl.load(d + b * p + rows, mask=row_in, other=0.0)
            dmask = tl.load(d_bits + b * p + rows, mask=row_in, other=0).to(tl.int32)
            d_sign = tl.where(dv < 0.0, -1, 1)
            x_sign = tl.where(xv > 0.0, 1, -1)
            sign = d_sign[:, None] * tl.where(chop != 0, -x_sign, x_sign)[None, :]
            down = sign > 0
            for t in tl.static_range(DESIRED_BL):
                place = tl.load(x_place + (b * DESIRED_BL + t) * n + cols, mask=col_in & (t < bl), other=-1)
                hit = (place[None, :] >= 0) & (((dmask >> t) & 1) != 0)[:, None] & inside
                if tl.max(tl.max(hit.to(tl.int32), 1), 0) > 0:
                    draw = rows[:, None] * n + place[None, :]
                    xi = _normal(table, key0, key1, call, 5, t, b, draw)
                    if WRITE_NOISE:
                        xw = _normal(table, key0, key1, call, 6, t, b, draw)
                    else:
                        xw = xi
                    new_w, new_app = _pulse(w, down, xi, xw, step_up, step_down, max_bound, min_bound, ref,
                                            dw_min_std, write_noise, MULT_NOISE, WRITE_NOISE)
                    w = tl.where(hit, new_w, w)
                    w_app = tl.where(hit, new_app, w_app)
                    pulses += hit.to(tl.int32)
        if TRANSFER:
            j_b = (s0 + b) % n
            here = cols == j_b
            tl.store(reads + b * p + rows[:, None] + 0 * cols[None, :], w_app, mask=inside & here[None, :])
            if pid_i == 0:
                tl.store(read_chop + b + 0 * cols, chop.to(tl.uint8), mask=here)
            if CHOP:
                flip = tl.load(flips + b).to(tl.int32)
                chop = chop ^ (here.to(tl.int32) * flip)
    tl.store(a_w + element, w, mask=inside)
    tl.store(a_app + element, w_app, mask=inside)
    if pid_i == 0:
        tl.store(chopper + cols, chop.to(tl.uint8), mask=col_in)
    tl.atomic_add(counts, tl.sum(tl.sum(pulses, 1), 0).to(tl.int64))


@triton.jit(do_not_specialize=["m", "n", "p", "k0", "k1", "call"])
def transfer_kernel(
    h, c_w, c_app, dev_c, pointer, reads, read_chop, counts, table, m, n, p, k0, k1, call,
    read_noise, read_res, read_bound, lr_scale, max_steps, momentum, sub_momentum, dw_min_std, write_noise,
    mean, past, switched_before, write_ok, mean_keep, sample_momentum, buffer_cap,
    FORGET_BUFFER: tl.constexpr, MULT_NOISE: tl.constexpr, WRITE_NOISE: tl.constexpr, READ_NOISE: tl.constexpr,
    READ_STEPS: tl.constexpr, AGAD: tl.constexpr, BUFFER_CAP: tl.constexpr, BLOCK_I: tl.constexpr,
    BLOCK_K: tl.constexpr,
):
    """The transfers of vectors b = k, k + n, k + 2n, ... (one column each, in order) for a block of rows.

    Per transfer and row: read (noise, ADC step, clip), scale, accumulate into
    H with the chopper's sign; a crossing of |H| >= 1 gives one pulse on C and
    resets (forget) or reduces H. AGAD accumulates the read minus the past mean
    (which takes the running mean where ``switched_before[b]``), caps H at
    ``buffer_cap`` (no forget), updates the running mean by ``sample_momentum``
    and pulses C only where ``write_ok[b]``.
    """
    pid_i = tl.program_id(0)
    pid_k = tl.program_id(1)
    rows = pid_i * BLOCK_I + tl.arange(0, BLOCK_I)
    ks = pid_k * BLOCK_K + tl.arange(0, BLOCK_K)
    row_in = rows < p
    s0 = tl.load(pointer).to(tl.int32)
    key0 = k0.to(tl.uint32)
    key1 = k1.to(tl.uint32)
    pulses = tl.zeros([BLOCK_I, BLOCK_K], tl.int32)
    for b0 in range(0, m, n):
        b = b0 + ks
        live = (ks < n) & (b < m)
        mask = row_in[:, None] & live[None, :]
        j = (s0 + b) % n
        element = rows[:, None] * n + j[None, :]
        r = tl.load(reads + b[None, :] * p + rows[:, None], mask=mask, other=0.0)
        if READ_NOISE:
            r = r + read_noise * _normal(table, key0, key1, call, 7, 0, b[None, :], rows[:, None] + 0 * b[None, :])
        if READ_STEPS:
            r = _rint(tl.math.div_rn(r, read_res)) * read_res
        r = tl.where(r > read_bound, read_bound, r)
        r = tl.where(r < -read_bound, -read_bound, r)
        in_chop = tl.load(read_chop + b, mask=live, other=0) != 0
        if AGAD:
            reset = tl.load(switched_before + b, mask=live, other=0) != 0
            running = tl.load(mean + element, mask=mask, other=0.0)
            mu_past = tl.where(reset[None, :], running, tl.load(past + element, mask=mask, other=0.0))
            tl.store(past + element, mu_past, mask=mask)
            dw = r - mu_past
            dw = tl.where(in_chop[None, :], -dw, dw)
            omega = tl.load(h + element, mask=mask, other=0.0) + dw * lr_scale
        else:
            val = r * lr_scale
            omega = tl.load(h + element, mask=mask, other=0.0) + tl.where(in_chop[None, :], -val, val)
        crossing = tl.abs(omega) >= 1.0
        n_steps = tl.maximum(tl.minimum(_trunc(omega), max_steps), -max_steps)
        n_steps = tl.where(crossing, n_steps, 0.0)
        if FORGET_BUFFER:
            omega = tl.where(crossing, omega * momentum, omega)
        else:
            omega = tl.where(crossing, omega - sub_momentum * n_steps, omega)
            if BUFFER_CAP:
                omega = tl.where(crossing, tl.minimum(tl.maximum(omega, -buffer_cap), buffer_cap), omega)
        tl.store(h + element, omega, mask=mask)
        pulse = mask & (n_steps != 0.0)
        if AGAD:
            tl.store(mean + element, running * mean_keep + r * sample_momentum, mask=mask)
            pulse = pulse & (tl.load(write_ok + b, mask=live, other=0) != 0)[None, :]
        if tl.max(tl.max(pulse.to(tl.int32), 1), 0) > 0:
            draw = rows[:, None] + 0 * b[None, :]
            xi = _normal(table, key0, key1, call, 8, 0, b[None, :], draw)
            if WRITE_NOISE:
                xw = _normal(table, key0, key1, call, 9, 0, b[None, :], draw)
            else:
                xw = xi
            w = tl.load(c_w + element, mask=pulse, other=0.0)
            step_up, step_down, max_bound, min_bound, ref = _device(dev_c, element, pulse, n * p)
            new_w, new_app = _pulse(w, n_steps < 0.0, xi, xw, step_up, step_down, max_bound, min_bound, ref,
                                    dw_min_std, write_noise, MULT_NOISE, WRITE_NOISE)
            tl.store(c_w + element, new_w, mask=pulse)
            tl.store(c_app + element, new_app, mask=pulse)
            pulses += pulse.to(tl.int32)
    tl.atomic_add(counts + 1, tl.sum(tl.sum(pulses, 1), 0).to(tl.int64))


@triton.jit(do_not_specialize=["n"])
def io_prepare_kernel(inputs, rows, scale, out, n, res, bound, BLOCK: tl.constexpr):
    """DAC of row ``rows[a]`` (program a): value * scale[a], quantise to ``res``, clip to +-``bound``."""
    a = tl.program_id(0)
    row = tl.load(rows + a)
    s = tl.load(scale + a)
    for j0 in range(0, n, BLOCK):
        j = j0 + tl.arange(0, BLOCK)
        inside = j < n
        value = _quantise(tl.load(inputs + row * n + j, mask=inside, other=0.0) * s, res)
        value = tl.where(value > bound, bound, value)
        value = tl.where(value < -bound, -bound, value)
        tl.store(out + a * n + j, value, mask=inside)


@triton.jit(do_not_specialize=["p", "k0", "k1", "call", "slot"])
def io_finish_kernel(
    y, rows, out_scale, out, failed, table, p, noise, res, bound, k0, k1, call, stream, slot,
    TEST_NEGATIVE: tl.constexpr, NOISE: tl.constexpr, BLOCK: tl.constexpr,
):
    """ADC of product row a (program a): + noise N(0,1), quantise, bound test, clip, times ``out_scale[a]``.

    ``failed[a]``, as aihwkit sets it: decided by the last saturated output
    (positive: failed; negative: ``TEST_NEGATIVE``), False if none saturated.
    """
    a = tl.program_id(0)
    row = tl.load(rows + a).to(tl.int32)
    scale = tl.load(out_scale + a)
    key0 = k0.to(tl.uint32)
    key1 = k1.to(tl.uint32)
    last = tl.full([], -1, tl.int32)
    last_high = tl.full([], 0, tl.int32)
    for i0 in range(0, p, BLOCK):
        i = i0 + tl.arange(0, BLOCK)
        inside = i < p
        value = tl.load(y + a * p + i, mask=inside, other=0.0)
        if NOISE:
            value = value + noise * _normal(table, key0, key1, call, stream, slot, row, i)
        value = _quantise(value, res)
        high = value > bound
        low = value < -bound
        value = tl.where(high, bound, tl.where(low, -bound, value))
        tl.store(out + a * p + i, value * scale, mask=inside)
        index = tl.max(tl.where((high | low) & inside, i, -1), 0)
        block_high = tl.max(tl.where((i == index) & high, 1, 0), 0)
        last_high = tl.where(index >= 0, block_high, last_high)
        last = tl.maximum(last, index)
    if TEST_NEGATIVE:
        fail = last >= 0
    else:
        fail = (last >= 0) & (last_high != 0)
    tl.store(failed + a, fail.to(tl.int8))


@triton.jit(do_not_specialize=["cols", "k0", "k1", "call", "stream", "slot"])
def draws_kernel(out, rows, cols, table, k0, k1, call, stream, slot, NORMAL: tl.constexpr, BLOCK: tl.constexpr):
    """Normals or uniforms of one stream, [len(rows), cols] (the C++ ``philox_draws``; for tests)."""
    a = tl.program_id(0)
    vector = tl.load(rows + a).to(tl.int32)
    key0 = k0.to(tl.uint32)
    key1 = k1.to(tl.uint32)
    for c0 in range(0, cols, BLOCK):
        c = c0 + tl.arange(0, BLOCK)
        if NORMAL:
            value = _normal(table, key0, key1, call, stream, slot, vector, c)
        else:
            value = _uniform(key0, key1, call, stream, slot, vector, c)
        tl.store(out + a * cols + c, value, mask=c < cols)
