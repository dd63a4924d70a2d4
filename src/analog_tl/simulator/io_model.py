"""The IO model of aihwkit's analog matrix-vector product, batched (``ForwardBackwardPassIOManaged``).

Per vector: abs-max noise management, DAC (quantise to the input step, clip
to the input bound), the product, additive output noise, ADC (quantise to the
output step), the bound test and clip; with iterative bound management a
vector whose output saturates is computed again at half the input scale, with
fresh noise, up to aihwkit's limits. All vectors are computed at once as one
matrix product per round; only the vectors that fail the bound test go on to
the next round. Float32 operations follow aihwkit's order; the sums of the
product are BLAS's, so an output can land one ADC step from aihwkit's where
the float32 sum order differs.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from analog_tl.simulator.settings import IOSettings

# noise(rows, round) -> standard normals [len(rows), n_out], a pure function of its arguments
NoiseSource = Callable[[torch.Tensor, int], torch.Tensor]


def _quantise(values: torch.Tensor, step: float) -> torch.Tensor:
    """aihwkit's ``getDiscretizedValue``: ``rint(value / step) * step`` (half to even); step 0 leaves values."""
    if step <= 0:
        return values
    return torch.round(values / step) * step


def _stops(reduction: float, io: IOSettings) -> bool:
    """aihwkit's stop rule of iterative bound management, after the round at ``reduction``."""
    if int(reduction) > io.max_bm_factor:
        return True
    return io.inp_res > 0 and reduction > float(torch.tensor(io.max_bm_res, dtype=torch.float32)
                                                / torch.tensor(io.inp_res, dtype=torch.float32))


def analog_mvm(weight: torch.Tensor, inputs: torch.Tensor, io: IOSettings, noise: NoiseSource) -> torch.Tensor:
    """``weight @ v`` for every row ``v`` of ``inputs`` through the IO model.

    Args:
        weight: [n_out, n_in] float32 (the visible, programmed weights).
        inputs: [m, n_in] float32.
        io: the pass's IO settings.
        noise: source of the output noise.
    Returns:
        [m, n_out] float32.
    """
    m, n_out = inputs.shape[0], weight.shape[0]
    out = torch.zeros(m, n_out, dtype=torch.float32)
    if io.noise_management:
        nm = inputs.abs().amax(dim=1) if inputs.shape[1] else torch.zeros(m)
        rows = torch.nonzero(nm > 0).flatten()  # all-zero vectors give 0 and draw nothing
        inv_nm = 1.0 / nm[rows]
    else:
        rows = torch.arange(m)
        inv_nm = torch.ones(m, dtype=torch.float32)
    one = torch.tensor(1.0, dtype=torch.float32)
    reduction, bm_round = 1.0, 0
    while rows.numel():
        scale = inv_nm / reduction if io.bound_management else inv_nm
        u = _quantise(inputs[rows] * scale[:, None], io.inp_res).clamp(-io.inp_bound, io.inp_bound)
        y = u @ weight.t()
        if io.out_noise > 0:
            y = y + io.out_noise * noise(rows, bm_round)
        y = _quantise(y, io.out_res)
        failed = y > io.out_bound
        if io.bm_test_negative_bound:
            failed = failed | (y < -io.out_bound)
        y = y.clamp(-io.out_bound, io.out_bound)
        if io.bound_management:
            out[rows] = y * (one / scale)[:, None]  # aihwkit: scal(out_scale / scale)
        else:
            out[rows] = y * (one / inv_nm)[:, None] if io.noise_management else y
        if not io.bound_management or _stops(reduction, io):
            break
        again = failed.any(dim=1)
        rows, inv_nm = rows[again], inv_nm[again]
        reduction *= 2.0
        bm_round += 1
    return out


def analog_mvm_backward(weight: torch.Tensor, grads: torch.Tensor, io: IOSettings, noise: NoiseSource) -> torch.Tensor:
    """``weight.T @ d`` for every row ``d`` of ``grads`` (aihwkit's ``backwardVector``: no bound management).

    Args:
        weight: [n_out, n_in]; grads: [m, n_out]. Returns [m, n_in].
    """
    m, n_in = grads.shape[0], weight.shape[1]
    out = torch.zeros(m, n_in, dtype=torch.float32)
    nm = grads.abs().amax(dim=1) if (io.noise_management and grads.shape[1]) else None
    if nm is not None:
        rows = torch.nonzero(nm > 0).flatten()
        scale = 1.0 / nm[rows]
        u = grads[rows] * scale[:, None]
    else:
        rows = torch.arange(m)
        u = grads
    u = _quantise(u, io.inp_res).clamp(-io.inp_bound, io.inp_bound)
    y = u @ weight
    if io.out_noise > 0:
        y = y + io.out_noise * noise(rows, 0)
    y = _quantise(y, io.out_res).clamp(-io.out_bound, io.out_bound)
    out[rows] = y * nm[rows][:, None] if nm is not None else y  # aihwkit: scal(out_scale * nm)
    return out
