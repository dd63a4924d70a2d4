"""Launchers of the Triton kernels (:mod:`.gpu_kernels`), with the C++ kernel's functions and arguments.

``cttv2_update``, ``io_prepare``, ``io_finish`` and ``philox_draws`` take and
return what the compiled module of :mod:`.kernel` takes and returns, for
tensors on a CUDA device (or, in Triton's interpreter, ``TRITON_INTERPRET=1``,
on the CPU: that is how the test suite runs them). The scalars the C++ kernel
derives from its settings are derived here in float32 (numpy), in the same
order, and passed to the kernels as float32. Nothing here synchronises with
the device: the tile's pointer, choppers and running maxima stay on it.
"""

from __future__ import annotations

import functools
import numpy as np
import torch

from analog_tl.simulator import gpu_kernels as k
from analog_tl.simulator.kernel import normal_table

# csrc/cttv2.cpp ``enum Cfg``
(FAST_LR, DESIRED_BL, DW_MIN_A, DW_MIN_C, AUTO_MOMENTUM, AUTO_GRANULARITY, BUFFER_GRANULARITY, TRANSFER_EVERY,
 TRANSFER_LR, MOMENTUM, FORGET_BUFFER, IN_CHOP_PROB, MAX_STEPS, READ_NOISE, READ_RES, READ_BOUND,
 A_DW_MIN_STD, A_WRITE_NOISE, A_MULT_NOISE, C_DW_MIN_STD, C_WRITE_NOISE, C_MULT_NOISE, AUTO_SCALE,
 ALGORITHM, IN_CHOP_RANDOM, TAIL_WEIGHTENING, BUFFER_CAP, GAMMA, N_CFG) = range(29)
AGAD = 1  # ``enum Algorithm``

BLOCK = 128  # elements per program step of the DAC and ADC kernels
BLOCK_VECTORS, BLOCK_LINES = 16, 64  # vectors x lines per program step of the pulse-train kernel
BLOCK_ROWS, BLOCK_COLS = 16, 32  # crosspoints per program of the A update
BLOCK_EVENTS = 32  # transfers per program of the transfer kernel
LAUNCH = {"enable_fp_fusion": False}  # no multiply-add fusion: float32 results as the C++ kernel's


@functools.lru_cache(maxsize=None)
def _table(device: str) -> torch.Tensor:
    """The 2^16 normals of :func:`.kernel.normal_table` on ``device`` (once per device)."""
    return normal_table().to(device)


def _key(key: int) -> tuple[int, int]:
    """The two 32-bit words of a 64-bit Philox key (low, high), as the C++ ``make_key``."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned & 0xFFFFFFFF, unsigned >> 32


def _f32(value: float) -> np.float32:
    return np.float32(value)


def _transfer_scale(cfg: list[float], lr: float, n: int) -> tuple[float, float]:
    """(transfer_lr, lr_scale): getTransferLR and getTransferLRScale / getBufferGranularity, float32 as the C++."""
    transfer_lr = _f32(cfg[TRANSFER_LR]) * _f32(lr)
    if _f32(cfg[GAMMA]) > 0:  # BufferedTransfer getTransferLR: times gamma_from / gamma_to (gamma, 1)
        transfer_lr = transfer_lr * (_f32(cfg[GAMMA]) / _f32(1.0))
    buffer_gran = _f32(cfg[BUFFER_GRANULARITY]) if _f32(cfg[BUFFER_GRANULARITY]) > 0 else _f32(1.0)
    dw_min_a = _f32(cfg[DW_MIN_A])
    if _f32(cfg[AUTO_GRANULARITY]) > 0:
        period = _f32(n) * abs(_f32(cfg[TRANSFER_EVERY]))
        buffer_gran = buffer_gran * (dw_min_a * _f32(cfg[AUTO_GRANULARITY]) / period)
    else:
        buffer_gran = buffer_gran * dw_min_a
    return float(transfer_lr), float(abs(transfer_lr) / buffer_gran)


def _abs_max(v: torch.Tensor) -> torch.Tensor:
    """Row-wise abs-max [m] (0 for empty rows)."""
    if v.shape[1] == 0:
        return torch.zeros(v.shape[0], dtype=torch.float32, device=v.device)
    return v.abs().amax(dim=1)


def agad_samples(in_chop_prob: float) -> int:
    """AGAD's chopper period in transfers of a column (aihwkit's ``getNumInChopSamples``, float32)."""
    prob = _f32(in_chop_prob)
    return max(int(np.ceil(_f32(1.0) / prob)), 2) if prob > 0 else 2


def _agad_schedule(flips: torch.Tensor, pointer: torch.Tensor, agad: tuple[torch.Tensor, ...], m: int, n: int,
                   cfg: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """AGAD's per-vector flags on the device (the C++ ``agad_schedule``), and its state after the batch.

    ``flips`` [m] holds the random switches (zeros unless ``in_chop_random``); the regular switch at the end
    of each chopper period is added in place. Returns ``switched_before`` and ``write_ok`` [m] uint8; the
    switched flags and the counter of ``agad`` are advanced.
    """
    _, _, switched, counter = agad
    n_samples = agad_samples(cfg[IN_CHOP_PROB])
    position = pointer + torch.arange(m, device=flips.device)  # [m]: s0 + b
    column = position % n
    passes = counter + torch.div(position, n, rounding_mode="floor")  # the counter at vector b's transfer
    flips |= (passes % n_samples + 1 == n_samples).to(torch.uint8)
    switched_before = torch.empty(m, dtype=torch.uint8, device=flips.device)
    first = min(m, n)  # a column's first transfer in the batch reads the stored flag, later ones the previous flip
    switched_before[:first] = switched[column[:first]]
    switched_before[first:] = flips[: m - first]
    write_ok = (passes > n_samples).to(torch.uint8)
    last = slice(max(0, m - n), m)  # distinct columns: each one's last transfer
    switched[column[last]] = flips[last]
    counter += torch.div(pointer + m, n, rounding_mode="floor")
    return switched_before, write_ok


def cttv2_update(a: torch.Tensor, a_app: torch.Tensor, h: torch.Tensor, c: torch.Tensor, c_app: torch.Tensor,
                 chopper: torch.Tensor, scalars: torch.Tensor, pointer: torch.Tensor, dev_a: torch.Tensor,
                 dev_c: torch.Tensor, x_in: torch.Tensor, d_in: torch.Tensor, cfg_t: torch.Tensor, lr: float,
                 key: int, call: int) -> torch.Tensor:
    """One AnalogSGD step of one c-TTv2 tile, in place (the C++ ``cttv2_update``; shapes and state there).

    Returns the counts [3] int64 on the tile's device: A pulses, C pulses, transfers.
    """
    return _update(a, a_app, h, c, c_app, chopper, scalars, pointer, dev_a, dev_c, x_in, d_in, cfg_t, lr, key, call)


def agad_update(a: torch.Tensor, a_app: torch.Tensor, h: torch.Tensor, c: torch.Tensor, c_app: torch.Tensor,
                chopper: torch.Tensor, scalars: torch.Tensor, pointer: torch.Tensor, dev_a: torch.Tensor,
                dev_c: torch.Tensor, x_in: torch.Tensor, d_in: torch.Tensor, cfg_t: torch.Tensor, lr: float,
                key: int, call: int, mean: torch.Tensor, past: torch.Tensor, switched: torch.Tensor,
                counter: torch.Tensor) -> torch.Tensor:
    """One AnalogSGD step of one AGAD tile, in place (the C++ ``agad_update`` on the CPU; its state there)."""
    for name, t in (("mean", mean), ("past", past)):
        if not t.is_contiguous() or t.dtype != torch.float32 or t.shape != a.shape:
            raise ValueError(f"AGAD's {name} must be contiguous float32 of the tile's shape")
    return _update(a, a_app, h, c, c_app, chopper, scalars, pointer, dev_a, dev_c, x_in, d_in, cfg_t, lr, key, call,
                   (mean, past, switched, counter))


def _update(a: torch.Tensor, a_app: torch.Tensor, h: torch.Tensor, c: torch.Tensor, c_app: torch.Tensor,
            chopper: torch.Tensor, scalars: torch.Tensor, pointer: torch.Tensor, dev_a: torch.Tensor,
            dev_c: torch.Tensor, x_in: torch.Tensor, d_in: torch.Tensor, cfg_t: torch.Tensor, lr: float,
            key: int, call: int, agad: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """The update of both algorithms; ``agad`` is AGAD's state (running and past means, switched flags, counter)."""
    for name, t in (("a", a), ("a_app", a_app), ("h", h), ("c", c), ("c_app", c_app), ("dev_a", dev_a),
                    ("dev_c", dev_c), ("scalars", scalars)):
        if not t.is_contiguous() or t.dtype != torch.float32:
            raise ValueError(f"tile state {name} must be contiguous float32")
    device = a.device
    x = x_in.contiguous().to(device=device, dtype=torch.float32)
    d = d_in.contiguous().to(device=device, dtype=torch.float32)
    p, n = a.shape
    m = x.shape[0]
    if x.shape[1] != n or d.shape != (m, p):
        raise ValueError("X must be [m, in] and D [m, out]")
    cfg = cfg_t.tolist()
    if len(cfg) != N_CFG:
        raise ValueError(f"cfg must have {N_CFG} values")
    desired_bl = int(cfg[DESIRED_BL])
    dw_min_a, dw_min_c = _f32(cfg[DW_MIN_A]), _f32(cfg[DW_MIN_C])
    weight_granularity = (_f32(0.0) + dw_min_a + dw_min_c) / _f32(2.0)  # VectorRPUDevice::populate
    pulse_lr = _f32(cfg[FAST_LR]) * (_f32(desired_bl) * dw_min_a)
    tau = (_f32(1.0) - _f32(cfg[AUTO_MOMENTUM])) / _f32(m)
    transfer_lr, lr_scale = _transfer_scale(cfg, lr, n)
    transfer = transfer_lr != 0.0
    if (int(cfg[ALGORITHM]) == AGAD) != (agad is not None):
        raise ValueError("AGAD's state must be given exactly when cfg selects AGAD")
    random_chop = bool(transfer and _f32(cfg[IN_CHOP_PROB]) > 0 and (agad is None or cfg[IN_CHOP_RANDOM] != 0.0))
    chop = random_chop or (transfer and agad is not None)  # AGAD's chopper also switches at each period's end
    k0, k1 = _key(key)
    table = _table(str(device))

    def buffer(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.empty(shape, dtype=dtype, device=device)

    x_max, d_max = _abs_max(x), _abs_max(d)
    m_x, m_d = buffer(m), buffer(m)
    k.scan_kernel[(1,)](x_max, d_max, scalars, m_x, m_d, m, float(tau), AUTO_SCALE=bool(cfg[AUTO_SCALE] != 0.0),
                        num_warps=1, **LAUNCH)
    n_slots, x_place = buffer(m, dtype=torch.int32), buffer(m, desired_bl, n, dtype=torch.int32)
    d_bits, flips = buffer(m, p, dtype=torch.uint8), torch.zeros(m, dtype=torch.uint8, device=device)
    k.bits_kernel[(triton_cdiv(m, BLOCK_VECTORS),)](
        x, d, x_max, d_max, m_x, m_d, x_place, d_bits, n_slots, flips, m, n, p, k0, k1, call, float(pulse_lr),
        float(weight_granularity), float(_f32(cfg[IN_CHOP_PROB])), DESIRED_BL=desired_bl, CHOP=random_chop,
        BLOCK_V=BLOCK_VECTORS, BLOCK=BLOCK_LINES, **LAUNCH,
    )
    agad_flags = _agad_schedule(flips, pointer, agad, m, n, cfg) if agad is not None and transfer else None
    reads, read_chop = buffer(m, p), buffer(m, dtype=torch.uint8)
    counts = torch.zeros(3, dtype=torch.int64, device=device)
    a_write = float(_f32(cfg[A_WRITE_NOISE]))
    grid = (triton_cdiv(p, BLOCK_ROWS), triton_cdiv(n, BLOCK_COLS))
    k.fast_update_kernel[grid](
        a, a_app, dev_a, chopper, pointer, x, d, n_slots, x_place, d_bits, flips, reads, read_chop, counts, table,
        m, n, p, k0, k1, call, float(_f32(cfg[A_DW_MIN_STD])), a_write, DESIRED_BL=desired_bl,
        MULT_NOISE=cfg[A_MULT_NOISE] != 0.0, WRITE_NOISE=a_write > 0.0, TRANSFER=transfer, CHOP=chop,
        BLOCK_I=BLOCK_ROWS, BLOCK_J=BLOCK_COLS, **LAUNCH,
    )
    if transfer:
        momentum = _f32(cfg[MOMENTUM])
        sub_momentum = _f32(1.0) - max(min(momentum, _f32(1.0)), _f32(0.0))
        c_write = float(_f32(cfg[C_WRITE_NOISE]))
        read_noise = float(_f32(cfg[READ_NOISE]))
        grid = (triton_cdiv(p, BLOCK_ROWS), triton_cdiv(min(m, n), BLOCK_EVENTS))
        if agad_flags is None:
            mean = past = h  # not read: AGAD is off
            switched_before = write_ok = read_chop
            sample_momentum = keep = buffer_cap = _f32(0.0)
        else:
            mean, past = agad[0], agad[1]
            switched_before, write_ok = agad_flags
            sample_momentum = min(_f32(cfg[TAIL_WEIGHTENING]) / _f32(agad_samples(cfg[IN_CHOP_PROB])), _f32(1.0))
            keep = _f32(1.0) - sample_momentum
            buffer_cap = _f32(int(cfg[MAX_STEPS])) * _f32(cfg[BUFFER_CAP])
        k.transfer_kernel[grid](
            h, c, c_app, dev_c, pointer, reads, read_chop, counts, table, m, n, p, k0, k1, call, read_noise,
            float(_f32(cfg[READ_RES])), float(_f32(cfg[READ_BOUND])), lr_scale, float(_f32(cfg[MAX_STEPS])),
            float(momentum), float(sub_momentum), float(_f32(cfg[C_DW_MIN_STD])), c_write,
            mean, past, switched_before, write_ok, float(keep), float(sample_momentum), float(buffer_cap),
            FORGET_BUFFER=cfg[FORGET_BUFFER] != 0.0, MULT_NOISE=cfg[C_MULT_NOISE] != 0.0, WRITE_NOISE=c_write > 0.0,
            READ_NOISE=read_noise > 0.0, READ_STEPS=bool(_f32(cfg[READ_RES]) > 0), AGAD=agad_flags is not None,
            BUFFER_CAP=bool(agad_flags is not None and buffer_cap > 0), BLOCK_I=BLOCK_ROWS, BLOCK_K=BLOCK_EVENTS,
            **LAUNCH,
        )
        counts[2] = m
    pointer.add_(m).remainder_(n)
    return counts


def triton_cdiv(a: int, b: int) -> int:
    """ceil(a / b) for grids (at least 1 program)."""
    return max(1, -(-a // b))


def io_prepare(inputs: torch.Tensor, rows: torch.Tensor, scale: torch.Tensor, res: float, bound: float) -> torch.Tensor:
    """DAC of rows ``rows`` of inputs [m, n] at per-row scale [len(rows)] (the C++ ``io_prepare``)."""
    inputs = inputs.contiguous()
    k_rows, n = rows.shape[0], inputs.shape[1]
    out = torch.empty(k_rows, n, dtype=torch.float32, device=inputs.device)
    if k_rows and n:
        k.io_prepare_kernel[(k_rows,)](inputs, rows.contiguous(), scale.contiguous().float(), out, n, float(res),
                                      float(bound), BLOCK=BLOCK, **LAUNCH)
    return out


def io_finish(y: torch.Tensor, rows: torch.Tensor, out_scale: torch.Tensor, noise: float, res: float, bound: float,
              test_negative: bool, key: int, call: int, stream: int, slot: int) -> list[torch.Tensor]:
    """ADC of products y [len(rows), p] (the C++ ``io_finish``): (outputs, failed [len(rows)] bool)."""
    y = y.contiguous()
    k_rows, p = y.shape
    out = torch.empty(k_rows, p, dtype=torch.float32, device=y.device)
    failed = torch.zeros(k_rows, dtype=torch.int8, device=y.device)
    if k_rows:
        k0, k1 = _key(key)
        k.io_finish_kernel[(k_rows,)](
            y, rows.contiguous(), out_scale.contiguous().float(), out, failed, _table(str(y.device)), p,
            float(_f32(noise)), float(_f32(res)), float(_f32(bound)), k0, k1, call, stream, slot,
            TEST_NEGATIVE=bool(test_negative), NOISE=bool(_f32(noise) > 0), BLOCK=BLOCK, **LAUNCH,
        )
    return [out, failed.bool()]


def philox_draws(key: int, call: int, stream: int, slot: int, rows: torch.Tensor, cols: int, normal: bool) -> torch.Tensor:
    """Normals or uniforms [len(rows), cols] of one stream (the C++ ``philox_draws``), on ``rows``' device."""
    out = torch.empty(rows.shape[0], cols, dtype=torch.float32, device=rows.device)
    if rows.shape[0] and cols:
        k0, k1 = _key(key)
        k.draws_kernel[(rows.shape[0],)](out, rows.contiguous(), cols, _table(str(rows.device)), k0, k1, call, stream,
                                         slot, NORMAL=bool(normal), BLOCK=BLOCK, **LAUNCH)
    return out
