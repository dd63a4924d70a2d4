"""From an aihwkit model to the simulator: same devices, same state, plain torch afterwards.

:func:`from_aihwkit` takes a converted aihwkit model (its tiles already hold
their device populations and programmed weights) and the digital model it was
converted from (for the module structure), and returns a plain ``nn.Module``
in which every aihwkit ``AnalogLinear`` is an :class:`~analog_tl.simulator.layers.AnalogLinear`
holding the same A, C, H, choppers, running maxima, pointer and per-crosspoint
device parameters, and every digital parameter and buffer is copied. The
result needs torch and this package only.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import torch
from torch import nn

from analog_tl.simulator.layers import AnalogLinear
from analog_tl.simulator.settings import TileSettings, tile_settings
from analog_tl.simulator.tile import DEVICE_FIELDS, SimTile

_KEY_MODULUS = 2**63 - 1


def tile_key(seed: int, layer: str, tile: int) -> int:
    """Philox key of tile ``tile`` of layer ``layer`` for run seed ``seed``: SHA-256 of the three, 63 bits."""
    digest = hashlib.sha256(f"simulator\x00{seed}\x00{layer}\x00{tile}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _KEY_MODULUS


def load_aihwkit_tile(target: SimTile, tile: Any) -> None:
    """Copy an aihwkit c-TTv2 or AGAD tile's state into ``target`` (shapes and algorithm must agree)."""
    hidden = tile.get_hidden_parameters()
    extra = tile.tile.dump_extra()

    def grab(name: str) -> torch.Tensor:
        return hidden[name].detach().to(torch.float32).reshape(target.out_size, target.in_size)

    with torch.no_grad():
        for role, (weights, device) in enumerate(((target.fast, target.device_fast), (target.slow, target.device_slow))):
            apparent = target.fast_apparent if role == 0 else target.slow_apparent
            apparent.copy_(grab(f"hidden_weights_{role}"))
            persistent = f"persistent_weights_{role}"
            weights.copy_(grab(persistent) if persistent in hidden else apparent)
            for k, field in enumerate(DEVICE_FIELDS):
                device[k].copy_(grab(f"{field}_{role}"))
        if target.mapped:
            scales = tile.get_mapping_scales()
            target.mapping_scales.copy_(scales.detach().to(torch.float32).view(-1))
            target.mapping_lr_scale.fill_(float(tile.mapping_lr_scale))
        target.transfer_buffer.copy_(grab("buffered_FP_weight" if target.agad else "buffered_FP_weight_0"))
        prefix = "rpu.rpu_device."
        if target.agad:
            target.running_mean.copy_(grab("running_mean_weight"))
            target.past_mean.copy_(grab("past_mean_weight"))
            target.in_chopper_switched.copy_(torch.tensor(extra[prefix + "in_chopper_switched"]).to(torch.uint8))
            target.transfer_counter.fill_(int(extra[prefix + "transfer_counter"][0]))
            if extra[prefix + "count_lr_scale"][0] != 1.0:
                raise ValueError("the tile's count_lr_scale is not 1; the simulator has no fast-lr feedback")
        target.in_chopper.copy_(torch.tensor(extra[prefix + "in_chopper"]).to(torch.uint8))
        if any(extra[prefix + "out_chopper"]):
            raise ValueError("the tile's output choppers are set; the simulator has out_chop_prob 0")
        target.running_max.copy_(torch.tensor([extra[prefix + "m_x"][0], extra[prefix + "m_d"][0]]))
        target.pointer.fill_(int(extra[prefix + "current_slice_indices"][0]))


def _simulated_layer(name: str, layer: Any, settings: TileSettings, seed: int) -> AnalogLinear:
    weight, bias = layer.get_weights()
    sim = AnalogLinear(weight.shape[1], weight.shape[0], bias is not None, settings)
    tiles = list(layer.analog_tiles())
    if len(tiles) != len(sim.tiles):
        raise ValueError(f"{name}: aihwkit has {len(tiles)} tiles, the simulator split gives {len(sim.tiles)}")
    for index, (target, tile) in enumerate(zip(sim.tiles, tiles)):
        if (tile.out_size, tile.in_size) != (target.out_size, target.in_size):
            raise ValueError(f"{name} tile {index}: aihwkit {tile.out_size}x{tile.in_size}, "
                             f"simulator {target.out_size}x{target.in_size}")
        load_aihwkit_tile(target, tile)
        target.key.fill_(tile_key(seed, name, index))
    if bias is not None:
        with torch.no_grad():
            sim.bias.copy_(bias.detach())
    return sim


def _copy_digital(source: nn.Module, target: nn.Module) -> None:
    """Copy every parameter and buffer of the non-analog modules of ``target`` from ``source``."""
    analog = [name for name, module in target.named_modules() if isinstance(module, AnalogLinear)]
    with torch.no_grad():
        for name, module in target.named_modules():
            if any(name == a or name.startswith(f"{a}.") for a in analog):
                continue
            origin = source.get_submodule(name) if name else source
            for key, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
                tensor.copy_(getattr(origin, key))
            for key, parameter in module.named_parameters(recurse=False):
                parameter.requires_grad_(getattr(origin, key).requires_grad)


def from_aihwkit(analog: nn.Module, template: nn.Module, rpu_config: Any, seed: int) -> nn.Module:
    """The simulator's copy of aihwkit model ``analog`` (converted from ``template`` with ``rpu_config``).

    ``seed`` keys the tiles' random streams (:func:`tile_key`). Raises
    :class:`~analog_tl.errors.SimulatorScopeError` if ``rpu_config``
    asks for something the simulator does not compute.
    """
    settings = tile_settings(rpu_config)
    model = copy.deepcopy(template)
    for name, layer in analog.named_analog_layers():
        if type(layer).__name__ != "AnalogLinear":
            raise ValueError(f"{name}: the simulator has linear layers only, not {type(layer).__name__}")
        model.set_submodule(name, _simulated_layer(name, layer, settings, seed))
    _copy_digital(analog, model)
    return model.to(torch.device("cpu"))


def simulated_layers(model: nn.Module) -> list[tuple[str, AnalogLinear]]:
    """The simulator's analog layers of ``model``, by module name."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, AnalogLinear)]


def describe(model: nn.Module, seed: int) -> dict[str, Any]:
    """What a run record says about the simulator: settings, kernel build, random streams, tile keys."""
    from analog_tl.simulator import kernel

    layers = simulated_layers(model)
    settings = layers[0][1].tiles[0].settings.as_dict() if layers else {}
    try:
        build_key = kernel.build_key()
    except kernel.KernelBuildError as error:  # a GPU node without a compiler runs the Triton kernels only
        build_key = f"unavailable: {error}"
    return {
        "name": "fast",
        "implementation": "analog_tl.simulator (aihwkit 1.2.0 CPU c-TTv2, TTv2 and AGAD step): compiled C++ kernel "
                          "csrc/cttv2.cpp "
                          "on the CPU, Triton kernels simulator/gpu_kernels.py on CUDA ('kernel' says which ran)",
        "kernel_build_key": build_key,
        "settings": settings,
        "runtime_noise": "Philox4x32-10 streams keyed by tile key, call counter, stream, vector and element; "
                         "normals from a 2^16-entry quantile table: bit-reproducible",
        "seed": seed,
        "tile_key_rule": "analog_tl.simulator.convert.tile_key(seed, layer, tile)",
        "tiles": [{"layer": name, "tile": index, "key": int(tile.key)}
                  for name, layer in layers for index, tile in enumerate(layer.tiles)],
    }
