"""A fast, seedable simulator of aihwkit 1.2.0's CPU c-TTv2 (and TTv2 and AGAD) training step.

It computes what aihwkit's CPU simulator computes for a ``ChoppedTransferCompound``
(c-TTv2; TTv2 is its chopper-free setting) or a ``DynamicTransferCompound`` (AGAD,
whose transfer reads A against a past mean of its reads) over two
``SoftBoundsReferenceDevice`` on linear layers with digital bias: the forward and backward passes through aihwkit's IO model (abs-max
noise management, DAC/ADC, output noise, iterative bound management), and
per vector the auto-scaled update management, stochastic pulse trains with
shared lines, per-pulse soft-bounds response with cycle-to-cycle and write
noise, and the column transfer through the chopped buffer to C. Every random
number comes from Philox streams keyed by (seed, tile, call, vector, element),
so runs are bit-reproducible and independent of thread counts. On the CPU the
update runs as a compiled C++ kernel, parallel over rows and sequential over
vectors per row; on a GPU as Triton kernels, parallel over blocks of
crosspoints and sequential over vectors per crosspoint; both are exact (a
row's, or a crosspoint's, state depends only on the shared pulse lines and
the per-vector schedule) and give the same float32 results from the same
random numbers. The CPU kernel has a scalar reference and an AVX2 path with
the same results bit for bit (docs/simulator.md, "CPU kernels").

Layout: :mod:`.settings` (what is simulated, scope check), :mod:`.tile`
(tile state and operations), :mod:`.io_model` (forward/backward IO),
``csrc/cttv2.cpp`` and :mod:`.kernel` (the CPU kernel, built once and
cached), :mod:`.gpu_kernels` and :mod:`.gpu_ops` (the GPU kernels and their
launchers), :mod:`.backend` (which of the two runs), :mod:`.layers`
(``AnalogLinear``), :mod:`.optim` (``AnalogSGD``), :mod:`.convert` (from an
aihwkit model, same devices and state), :mod:`.bundle` (a converted model as
one file), :mod:`.population` (device populations drawn with torch as aihwkit
draws them, for machines without aihwkit).

Example (aihwkit builds the devices; training then needs torch only)::

    from aihwkit.nn.conversion import convert_to_analog
    from analog_tl.simulator import AnalogSGD, from_aihwkit

    analog = convert_to_analog(digital, rpu_config)       # c-TTv2 rpu_config
    model = from_aihwkit(analog, digital, rpu_config, seed=0)
    optimizer = AnalogSGD(model, lr=0.01)
    loss = loss_fn(model(x), y); loss.backward(); optimizer.step()
"""

from analog_tl.simulator.convert import describe, from_aihwkit, simulated_layers, tile_key
from analog_tl.simulator.layers import AnalogLinear
from analog_tl.simulator.optim import AnalogSGD
from analog_tl.simulator.settings import SimulatorScopeError, TileSettings, check_scope, tile_settings
from analog_tl.simulator.tile import SimTile

__all__ = [
    "AnalogLinear", "AnalogSGD", "SimTile", "SimulatorScopeError", "TileSettings", "check_scope", "describe",
    "from_aihwkit", "simulated_layers", "tile_key", "tile_settings",
]
