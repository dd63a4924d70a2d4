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

from analog_tl.simulator.backend import update_for
from analog_tl.simulator.io_model import analog_mvm, analog_mvm_backward, io_vector
from analog_tl.simulator.settings import TileSettings

FORWARD, BACKWARD, UPDATE = 0, 1, 2  # indices into ``calls``
DEVICE_FIELDS = ("dwmin_up", "dwmin_down", "max_bound", "min_bound", "reference")  # aihwkit's hidden names, by plane


class SimTile(nn.Module):
    """A c-TTv2 tile of ``out_size`` x ``in_size`` crosspoints; see the module docstring for its state."""

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
        self._kernel_config = settings.kernel_config()
        self._io_forward, self._io_backward = io_vector(settings.forward), io_vector(settings.backward)
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # (x, d) of backward passes since the last update

    def extra_repr(self) -> str:
        return f"out_size={self.out_size}, in_size={self.in_size}"

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - torch's signature
        key, calls = self.key, self.calls
        super()._apply(fn, recurse)
        self.key, self.calls = key, calls  # the random counters stay on the host (module docstring)
        return self

    def _next_call(self, which: int) -> int:
        counters = self.calls.numpy()  # a view of the host buffer: no tensor operations per call
        call = int(counters[which])
        counters[which] += 1
        return call

    def weights(self) -> torch.Tensor:
        """The visible weights [out, in] (C as read)."""
        return self.slow_apparent.detach().clone()

    def forward_mvm(self, x: torch.Tensor) -> torch.Tensor:
        """Analog forward of x [m, in] -> [m, out] (noise on, as in aihwkit's train and eval modes)."""
        call = self._next_call(FORWARD)
        return analog_mvm(self.slow_apparent, x.detach().float().contiguous(), self.settings.forward, int(self.key), call,
                          self._io_forward)

    def backward_mvm(self, d: torch.Tensor) -> torch.Tensor:
        """Analog backward of d [m, out] -> [m, in]."""
        call = self._next_call(BACKWARD)
        return analog_mvm_backward(self.slow_apparent, d.detach().float().contiguous(), self.settings.backward,
                                   int(self.key), call, self._io_backward)

    @torch.no_grad()
    def update(self, x: torch.Tensor, d: torch.Tensor, lr: float) -> torch.Tensor:
        """One c-TTv2 update with vectors x [m, in], gradients d [m, out] at learning rate ``lr``.

        Returns the counts [3] of A pulses, C pulses and transfers (on the tile's device). ``lr`` 0 does
        nothing (as aihwkit).
        """
        if lr == 0 or x.shape[0] == 0:
            return torch.zeros(3, dtype=torch.int64)
        call = self._next_call(UPDATE)
        return update_for(self.fast.device)(
            self.fast, self.fast_apparent, self.transfer_buffer, self.slow, self.slow_apparent, self.in_chopper,
            self.running_max, self.pointer, self.device_fast, self.device_slow, x.detach().float(),
            d.detach().float(), self._kernel_config, float(lr), int(self.key), call,
        )

    def apply_pending(self, lr: float) -> torch.Tensor | None:
        """Update with every (x, d) stored since the last update, concatenated in order (AnalogSGD's step)."""
        if not self.pending:
            return None
        x = torch.cat([x for x, _ in self.pending])
        d = torch.cat([d for _, d in self.pending])
        self.pending.clear()
        return self.update(x, d, lr)
