"""One c-TTv2 tile: its state (as buffers) and its three operations, forward, backward and update.

State, for a tile of ``in_size`` n and ``out_size`` p (all float32 unless said):

========================  ===========  ====================================================
buffer                    shape        meaning
========================  ===========  ====================================================
``fast``                  [p, n]       A, the fast device's weight (noise-free)
``fast_apparent``         [p, n]       A as read (with write noise; equal to ``fast`` without)
``slow``                  [p, n]       C, the slow device's weight (noise-free)
``slow_apparent``         [p, n]       C as read: the visible weight of forward and backward
``transfer_buffer``       [p, n]       H, the digital transfer buffer
``in_chopper``            [n] uint8    1 where the column's chopper is -1
``running_max``           [2]          m_x, m_d: running abs-max of x and d (auto-scale)
``pointer``               [1] int64    next column to transfer
``device_fast``           [5, p, n]    A's devices, one plane per field: step up, step down, max bound,
                                       min bound, reference (``DEVICE_FIELDS``)
``device_slow``           [5, p, n]    the same for C
``key``                   [] int64     the tile's random key (Philox)
``calls``                 [3] int64    forward, backward and update calls so far (random counters)
========================  ===========  ====================================================

With residual learning (``settings.compound.gamma`` != 0) the visible weight of forward and backward
is ``gamma * chi * A + C`` as read, computed as aihwkit 1.2.0's ``ChoppedTransferRPUDevice::
reduceToWeights`` computes it (:meth:`SimTile.visible_weights`), where ``chi`` is -1 where a chopper
is set. aihwkit 1.2.0 takes crosspoint (i, j)'s chopper from column ``(i * in_size + j) // out_size``
(its loop reads the row-major weights as column-major), not from column j; the simulator does the
same, so that it stays exact.

With weight mapping (``settings.mapping.weight_scaling_omega`` > 0) a tile holds aihwkit's
``mapping_scales`` alpha ([1], or [p] per output row with ``columnwise``) and ``mapping_lr_scale``
([1] float64, on the host as ``key`` and ``calls``): forward outputs and backward inputs are multiplied
by alpha, update gradients divided by alpha times the learning-rate scale and the learning rate
multiplied by it, as aihwkit's
``TileWithPeriphery`` does (``MappingSettings``).

AGAD tiles (``settings.compound.algorithm == "agad"``) hold four more, as aihwkit's
``DynamicTransferRPUDevice``:

========================  ===========  ====================================================
``running_mean``          [p, n]       running mean of the reads of A
``past_mean``             [p, n]       the running mean at the last chopper switch (the reference)
``in_chopper_switched``   [n] uint8    1 where the column's chopper switched at its last transfer
``transfer_counter``      [1] int64    full passes over the columns so far
========================  ===========  ====================================================

Every random number is drawn from Philox4x32-10 at (``key``, call counter,
stream, vector, element), so a tile's results depend only on its state and
inputs, not on threads, on other tiles or on the device: on the CPU the
compiled C++ kernel computes, on a GPU the Triton kernels (:mod:`.backend`).
``key`` and ``calls`` stay on the CPU when the tile moves to a GPU (they are
read on every call; a device copy would synchronise each time).
"""

from __future__ import annotations

import torch
from torch import nn

from analog_tl.simulator.backend import agad_update_for, update_for
from analog_tl.simulator.io_model import analog_mvm, analog_mvm_backward, io_vector
from analog_tl.simulator.settings import TileSettings

FORWARD, BACKWARD, UPDATE = 0, 1, 2  # indices into ``calls``
DEVICE_FIELDS = ("dwmin_up", "dwmin_down", "max_bound", "min_bound", "reference")  # aihwkit's hidden names, by plane


class SimTile(nn.Module):
    """A c-TTv2 or AGAD tile of ``out_size`` x ``in_size`` crosspoints; see the module docstring for its state."""

    def __init__(self, out_size: int, in_size: int, settings: TileSettings, key: int = 0) -> None:
        super().__init__()
        self.out_size, self.in_size, self.settings = out_size, in_size, settings
        shape = (out_size, in_size)
        for name in ("fast", "fast_apparent", "slow", "slow_apparent", "transfer_buffer"):
            self.register_buffer(name, torch.zeros(shape))
        self.register_buffer("in_chopper", torch.zeros(in_size, dtype=torch.uint8))
        self.register_buffer("running_max", torch.zeros(2))
        self.register_buffer("pointer", torch.zeros(1, dtype=torch.int64))
        self.register_buffer("device_fast", torch.zeros(len(DEVICE_FIELDS), *shape))
        self.register_buffer("device_slow", torch.zeros(len(DEVICE_FIELDS), *shape))
        self.register_buffer("key", torch.tensor(key, dtype=torch.int64))
        self.register_buffer("calls", torch.zeros(3, dtype=torch.int64))
        if self.mapped:
            self.register_buffer("mapping_scales", torch.ones(out_size if settings.mapping.columnwise else 1))
            self.register_buffer("mapping_lr_scale", torch.ones(1, dtype=torch.float64))
        if self.agad:
            self.register_buffer("running_mean", torch.zeros(shape))
            self.register_buffer("past_mean", torch.zeros(shape))
            self.register_buffer("in_chopper_switched", torch.zeros(in_size, dtype=torch.uint8))
            self.register_buffer("transfer_counter", torch.zeros(1, dtype=torch.int64))
        self._kernel_config = settings.kernel_config()
        if settings.compound.gamma != 0:
            # residual learning: the column whose chopper de-chops crosspoint (i, j) in aihwkit 1.2.0 (docstring)
            element = torch.arange(out_size * in_size).reshape(shape)
            self.register_buffer("chopper_column", torch.div(element, out_size, rounding_mode="floor"),
                                 persistent=False)
        self._io_forward, self._io_backward = io_vector(settings.forward), io_vector(settings.backward)
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # (x, d) of backward passes since the last update

    @property
    def agad(self) -> bool:
        """Whether the tile is an AGAD tile (its state has AGAD's means, switched flags and counter)."""
        return self.settings.compound.algorithm == "agad"

    @property
    def mapped(self) -> bool:
        """Whether the tile maps its weights (its state has mapping scales and a learning-rate scale)."""
        return self.settings.mapping.weight_scaling_omega > 0

    def extra_repr(self) -> str:
        return f"out_size={self.out_size}, in_size={self.in_size}"

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - torch's signature
        # read on every call, so kept on the host (a device copy would synchronise each time): the random
        # counters, and a mapped tile's learning-rate scale
        host = [name for name in ("key", "calls", "mapping_lr_scale") if hasattr(self, name)]
        kept = {name: getattr(self, name) for name in host}
        super()._apply(fn, recurse)
        for name, value in kept.items():
            setattr(self, name, value)
        return self

    def _next_call(self, which: int) -> int:
        counters = self.calls.numpy()  # a view of the host buffer: no tensor operations per call
        call = int(counters[which])
        counters[which] += 1
        return call

    def visible_weights(self) -> torch.Tensor:
        """The weights forward and backward compute with [out, in]: C as read, plus gamma * chi * A as read
        with residual learning, in aihwkit's float32 operations (a gemv ``gamma * A + C``, then
        ``(gamma * (chi - 1)) * A`` added)."""
        gamma = self.settings.compound.gamma
        if gamma == 0:
            return self.slow_apparent
        chi = 1.0 - 2.0 * self.in_chopper[self.chopper_column].float()
        reduced = gamma * self.fast_apparent + self.slow_apparent
        return reduced + (gamma * (chi - 1.0)) * self.fast_apparent

    def weights(self) -> torch.Tensor:
        """The weights [out, in] the tile stands for: :meth:`visible_weights` times the mapping scales (a copy)."""
        weights = self.visible_weights().detach().clone()
        return weights * self.mapping_scales.view(-1, 1) if self.mapped else weights

    def forward_mvm(self, x: torch.Tensor) -> torch.Tensor:
        """Analog forward of x [m, in] -> [m, out] (noise on, as in aihwkit's train and eval modes)."""
        call = self._next_call(FORWARD)
        y = analog_mvm(self.visible_weights(), x.detach().float().contiguous(), self.settings.forward,
                       int(self.key), call, self._io_forward)
        return y * self.mapping_scales.view(1, -1) if self.mapped else y

    def backward_mvm(self, d: torch.Tensor) -> torch.Tensor:
        """Analog backward of d [m, out] -> [m, in] (d times the mapping scales first, as aihwkit's pre_backward)."""
        call = self._next_call(BACKWARD)
        d = d.detach().float()
        if self.mapped:
            d = d * self.mapping_scales.view(1, -1)
        return analog_mvm_backward(self.visible_weights(), d.contiguous(), self.settings.backward,
                                   int(self.key), call, self._io_backward)

    @torch.no_grad()
    def update(self, x: torch.Tensor, d: torch.Tensor, lr: float) -> torch.Tensor:
        """One c-TTv2 (or AGAD) update with vectors x [m, in], gradients d [m, out] at learning rate ``lr``.

        Returns the counts [3] of A pulses, C pulses and transfers (on the tile's device). ``lr`` 0 does
        nothing (as aihwkit).
        """
        if lr == 0 or x.shape[0] == 0:
            return torch.zeros(3, dtype=torch.int64)
        if self.mapped:  # aihwkit's pre_update and set_learning_rate
            lr_scale = float(self.mapping_lr_scale)
            d = d.detach().float() / (self.mapping_scales.view(1, -1) * lr_scale)
            lr = lr * lr_scale
        call = self._next_call(UPDATE)
        state = (self.fast, self.fast_apparent, self.transfer_buffer, self.slow, self.slow_apparent, self.in_chopper,
                 self.running_max, self.pointer, self.device_fast, self.device_slow)
        inputs = (x.detach().float(), d.detach().float(), self._kernel_config, float(lr), int(self.key), call)
        if self.agad:
            agad_state = (self.running_mean, self.past_mean, self.in_chopper_switched, self.transfer_counter)
            return agad_update_for(self.fast.device)(*state, *inputs, *agad_state)
        return update_for(self.fast.device)(*state, *inputs)

    def apply_pending(self, lr: float) -> torch.Tensor | None:
        """Update with every (x, d) stored since the last update, concatenated in order (AnalogSGD's step)."""
        if not self.pending:
            return None
        x = torch.cat([x for x, _ in self.pending])
        d = torch.cat([d for _, d in self.pending])
        self.pending.clear()
        return self.update(x, d, lr)
