"""The IO model of aihwkit's analog matrix-vector product, batched (``ForwardBackwardPassIOManaged``).

Per vector: abs-max noise management, DAC (quantise to the input step, clip
to the input bound), the product, additive output noise, ADC (quantise to the
output step), the bound test and clip; with iterative bound management a
vector whose output saturates is computed again at half the input scale, with
fresh noise, up to aihwkit's limits. All vectors are computed at once as one
matrix product per round; only the vectors that fail the bound test go on to
the next round. The elementwise DAC and ADC steps run in the kernels of the
weight's device (float32, in aihwkit's order; :mod:`.backend`); the sums of
the product are BLAS's (cuBLAS's on a GPU, in full float32 unless TF32 is
switched on), so an output can land one ADC step from aihwkit's where the
float32 sum order differs.
"""

from __future__ import annotations

import numpy as np
import torch

from analog_tl.simulator.backend import kernel_name, ops_for
from analog_tl.simulator.settings import IOSettings

FORWARD_STREAM, BACKWARD_STREAM = 1, 2  # csrc/cttv2.cpp ``enum Stream``


def _bm_limit(io: IOSettings) -> float:
    """aihwkit stops bound management after the round whose reduction exceeds ``max_bm_res / inp_res`` (float32)."""
    return float(np.float32(io.max_bm_res) / np.float32(io.inp_res)) if io.inp_res > 0 else float("inf")


def io_vector(io: IOSettings) -> torch.Tensor:
    """The float64 vector the compiled pass reads (layout: ``enum IOField`` in ``csrc/cttv2.cpp``)."""
    return torch.tensor([io.inp_res, io.inp_bound, io.out_res, io.out_bound, io.out_noise, float(io.noise_management),
                         float(io.bound_management), float(io.bm_test_negative_bound), float(io.max_bm_factor),
                         _bm_limit(io)], dtype=torch.float64)


def analog_mvm(weight: torch.Tensor, inputs: torch.Tensor, io: IOSettings, key: int, call: int,
               compiled: torch.Tensor | None = None) -> torch.Tensor:
    """``weight @ v`` for every row ``v`` of ``inputs`` through the forward IO model.

    On the CPU one compiled call (``compiled``: :func:`io_vector` of ``io``, made once by the caller),
    else :func:`analog_mvm_composed`; the same results.
    """
    if kernel_name(weight.device) == "cpp":
        return ops_for(weight.device).io_forward(weight, inputs, io_vector(io) if compiled is None else compiled,
                                                 key, call)
    return analog_mvm_composed(weight, inputs, io, key, call)


def analog_mvm_backward(weight: torch.Tensor, grads: torch.Tensor, io: IOSettings, key: int, call: int,
                        compiled: torch.Tensor | None = None) -> torch.Tensor:
    """``weight.T @ d`` for every row ``d`` of ``grads``; compiled on the CPU as :func:`analog_mvm`."""
    if kernel_name(weight.device) == "cpp":
        return ops_for(weight.device).io_backward(weight, grads, io_vector(io) if compiled is None else compiled,
                                                  key, call)
    return analog_mvm_backward_composed(weight, grads, io, key, call)


def analog_mvm_composed(weight: torch.Tensor, inputs: torch.Tensor, io: IOSettings, key: int,
                        call: int) -> torch.Tensor:
    """``weight @ v`` for every row ``v`` of ``inputs`` through the forward IO model, step by step.

    Args:
        weight: [n_out, n_in] float32 (the visible, programmed weights).
        inputs: [m, n_in] float32.
        io: the pass's IO settings; key, call: the tile's random key and this call's counter.
    Returns:
        [m, n_out] float32.
    """
    module, device = ops_for(weight.device), weight.device
    m, n_out = inputs.shape[0], weight.shape[0]
    out = torch.zeros(m, n_out, dtype=torch.float32, device=device)
    if io.noise_management:
        nm = inputs.abs().amax(dim=1) if inputs.shape[1] else torch.zeros(m, device=device)
        rows = torch.nonzero(nm > 0).flatten()  # all-zero vectors give 0 and draw nothing
        inv_nm = 1.0 / nm[rows]
    else:
        rows, inv_nm = torch.arange(m, device=device), torch.ones(m, dtype=torch.float32, device=device)
    one = torch.tensor(1.0, dtype=torch.float32, device=device)
    reduction, bm_round, limit = 1.0, 0, _bm_limit(io)
    while rows.numel():
        scale = inv_nm / reduction if io.bound_management else inv_nm
        u = module.io_prepare(inputs, rows, scale, io.inp_res, io.inp_bound)
        out_scale = one / scale if (io.noise_management or io.bound_management) else torch.ones_like(scale)
        y, failed = module.io_finish(u @ weight.t(), rows, out_scale, io.out_noise, io.out_res, io.out_bound,
                                     io.bm_test_negative_bound, key, call, FORWARD_STREAM, bm_round)
        out[rows] = y
        if not io.bound_management or int(reduction) > io.max_bm_factor or reduction > limit:
            break
        rows, inv_nm = rows[failed], inv_nm[failed]
        reduction *= 2.0
        bm_round += 1
    return out


def analog_mvm_backward_composed(weight: torch.Tensor, grads: torch.Tensor, io: IOSettings, key: int,
                                 call: int) -> torch.Tensor:
    """``weight.T @ d`` for every row ``d`` of ``grads`` (aihwkit's ``backwardVector``: no bound management).

    Args:
        weight: [n_out, n_in]; grads: [m, n_out]. Returns [m, n_in].
    """
    module, device = ops_for(weight.device), weight.device
    m, n_in = grads.shape[0], weight.shape[1]
    out = torch.zeros(m, n_in, dtype=torch.float32, device=device)
    if io.noise_management and grads.shape[1]:
        nm = grads.abs().amax(dim=1)
        rows = torch.nonzero(nm > 0).flatten()
        scale, out_scale = 1.0 / nm[rows], nm[rows]  # aihwkit: scale 1/nm in, scal(out_scale * nm) out
    else:
        rows = torch.arange(m, device=device)
        scale = out_scale = torch.ones(m, dtype=torch.float32, device=device)
    u = module.io_prepare(grads, rows, scale, io.inp_res, io.inp_bound)
    y, _ = module.io_finish(u @ weight, rows, out_scale, io.out_noise, io.out_res, io.out_bound, False, key, call,
                            BACKWARD_STREAM, 0)
    out[rows] = y
    return out
