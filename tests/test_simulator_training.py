"""The simulator in training: curves against aihwkit (V4), bit-reproducibility, resume, self-containment, scope.

V4: a two-layer analog MLP (tile splitting and digital bias included) trained
by aihwkit and by the simulator on the same data stream and devices, many
seeds each; the mean training loss agrees at every checkpoint within
|z| < 4.5 (10 checkpoints: a correct simulator fails far less than once in
10^4 runs; aihwkit's side is clock-seeded, so the test is random), and both
learn clearly (so a simulator that does not learn cannot pass).
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from analog_tl.simulator import AnalogSGD, SimulatorScopeError, check_scope, from_aihwkit
from simulator_helpers import rpu_config


def _mlp(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 3))


def _teacher_stream(seed: int, steps: int, batch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1000 + seed)
    teacher = torch.randn(3, 12, generator=g) * 0.5
    batches = []
    for _ in range(steps):
        x = torch.randn(batch, 12, generator=g)
        batches.append((x, x @ teacher.t()))
    return batches


def _config(construction_seed: int, algorithm: str = "c-ttv2", gamma: float = 0.0):
    """Table I c-TTv2 (or AGAD) on a 100-state soft-bounds device, transfer gain raised so that 120 steps learn
    visibly; ``gamma`` > 0: residual learning."""
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    device = SoftBoundsReferenceDevice(w_max=1.0, w_min=-1.0, dw_min=0.02)
    config = rpu_config(device, construction_seed=construction_seed, fast_lr=1.0, auto_granularity=100.0,
                        algorithm=algorithm)
    config.mapping.max_input_size = 8  # the 12-input layer becomes two tiles, summed in digital
    config.device.gamma = gamma
    return config


def _train(model: nn.Module, optimizer, stream, every: int) -> list[float]:
    losses, running = [], 0.0
    for step, (x, y) in enumerate(stream, 1):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        running += loss.item()
        if step % every == 0:
            losses.append(running / every)
            running = 0.0
    return losses


def _both(seed: int, algorithm: str, gamma: float, steps: int = 120, every: int = 12,
          lr: float = 0.5) -> tuple[list[float], list[float]]:
    from aihwkit.nn.conversion import convert_to_analog
    from aihwkit.optim import AnalogSGD as AihwkitSGD

    config = _config(construction_seed=1 + seed, algorithm=algorithm, gamma=gamma)
    digital = _mlp(seed)
    analog = convert_to_analog(digital, config)
    simulated = from_aihwkit(analog, digital, config, seed=seed)
    stream = _teacher_stream(seed, steps, 8)
    optimizer = AihwkitSGD(analog.parameters(), lr=lr)
    optimizer.regroup_param_groups(analog)
    return _train(analog, optimizer, stream, every), _train(simulated, AnalogSGD(simulated, lr=lr), stream, every)


@pytest.mark.parametrize("algorithm, gamma", [("c-ttv2", 0.0), ("agad", 0.0), ("c-ttv2", 0.3), ("agad", 0.3)],
                         ids=["c-ttv2", "agad", "c-ttv2 residual", "agad residual"])
def test_training_curves_match_aihwkit(algorithm: str, gamma: float) -> None:
    seeds = range(16)
    curves = [_both(seed, algorithm, gamma) for seed in seeds]
    theirs = torch.tensor([c[0] for c in curves])
    ours = torch.tensor([c[1] for c in curves])
    se = ((theirs.var(0) + ours.var(0)) / len(seeds)).sqrt()
    z = (ours.mean(0) - theirs.mean(0)) / se
    print(f"{algorithm}, gamma {gamma}: start {theirs[:, 0].mean():.3f}; mean loss z per checkpoint: {[round(v, 2) for v in z.tolist()]}; final loss aihwkit "
          f"{theirs[:, -1].mean():.4f} +- {theirs[:, -1].std() / len(seeds) ** 0.5:.4f}, fast {ours[:, -1].mean():.4f} +- "
          f"{ours[:, -1].std() / len(seeds) ** 0.5:.4f}")
    assert z.abs().max() < 4.5, f"mean loss differs: z = {z.tolist()}"
    # residual learning scales the transfer by gamma (aihwkit's getTransferLR), so it learns more slowly here
    learned = 0.5 if gamma == 0 else 0.7
    for side in (theirs, ours):
        assert side[:, -1].mean() < learned * side[:, 0].mean(), "no clear learning: the test would not see a difference"


def _sim_run(seed: int, steps: int = 30) -> tuple[nn.Module, list[float]]:
    from aihwkit.nn.conversion import convert_to_analog

    config = _config(construction_seed=3)
    digital = _mlp(0)
    model = from_aihwkit(convert_to_analog(digital, config), digital, config, seed=seed)
    return model, _train(model, AnalogSGD(model, lr=0.5), _teacher_stream(0, steps, 8), every=1)


def test_same_seed_is_bit_identical_and_seeds_differ() -> None:
    first, losses_a = _sim_run(seed=5)
    second, losses_b = _sim_run(seed=5)
    other, losses_c = _sim_run(seed=6)
    assert losses_a == losses_b
    for key, value in first.state_dict().items():
        assert torch.equal(value, second.state_dict()[key]), key
    assert losses_a != losses_c
    torch.set_num_threads(2)
    try:
        threaded, losses_d = _sim_run(seed=5)
    finally:
        torch.set_num_threads(1)
    assert losses_d == losses_a, "results depend on the thread count"


def test_resume_from_a_state_dict_is_bit_identical() -> None:
    from aihwkit.nn.conversion import convert_to_analog

    config = _config(construction_seed=3)
    digital = _mlp(0)
    stream = _teacher_stream(0, 40, 8)
    model = from_aihwkit(convert_to_analog(digital, config), digital, config, seed=2)
    uninterrupted = _train(model, AnalogSGD(model, lr=0.5), stream, every=1)

    model = from_aihwkit(convert_to_analog(digital, config), digital, config, seed=2)
    first = _train(model, AnalogSGD(model, lr=0.5), stream[:25], every=1)
    state = copy.deepcopy(model.state_dict())
    fresh = from_aihwkit(convert_to_analog(_mlp(9), _config(construction_seed=4)), digital, config, seed=99)
    fresh.load_state_dict(state)  # every tile's state, keys and random counters come back
    second = _train(fresh, AnalogSGD(fresh, lr=0.5), stream[25:], every=1)
    assert first + second == uninterrupted


def test_a_converted_model_trains_without_aihwkit(tmp_path) -> None:
    """After conversion the simulator needs torch and this package only: train it with aihwkit made unimportable."""
    from aihwkit.nn.conversion import convert_to_analog

    config = _config(construction_seed=3)
    digital = _mlp(0)
    model = from_aihwkit(convert_to_analog(digital, config), digital, config, seed=1)
    torch.save(model, tmp_path / "model.pt")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["aihwkit"] = None  # any import of aihwkit now fails
        import torch
        from analog_tl.simulator import AnalogSGD
        model = torch.load({str(tmp_path / "model.pt")!r}, weights_only=False)
        optimizer = AnalogSGD(model, lr=0.5)
        x = torch.randn(8, 12)
        before = model[2].get_weights().clone()
        for _ in range(20):
            optimizer.zero_grad()
            model(x).pow(2).mean().backward()
            optimizer.step()
        assert not torch.equal(before, model[2].get_weights())
        print("trained without aihwkit")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "trained without aihwkit" in result.stdout


@pytest.mark.parametrize(
    "change, setting",
    [
        (lambda c: setattr(c.device, "transfer_every", 2.0), "rpu_config.device.transfer_every"),
        (lambda c: setattr(c.device, "out_chop_prob", 0.1), "rpu_config.device.out_chop_prob"),
        (lambda c: setattr(c.mapping, "digital_bias", False), "rpu_config.mapping.digital_bias"),
        (lambda c: setattr(c.forward, "w_noise", 0.01), "rpu_config.forward.w_noise"),
        (lambda c: setattr(c.device.unit_cell_devices[1], "lifetime", 100.0), "unit_cell_devices[1].lifetime"),
        (lambda c: setattr(c.update, "pulse_type", type(c.update.pulse_type).STOCHASTIC), "rpu_config.update.pulse_type"),
    ],
    ids=["transfer_every", "out_chop_prob", "digital_bias", "w_noise", "lifetime", "pulse_type"],
)
def test_settings_outside_the_scope_are_refused_by_name(change, setting) -> None:
    config = rpu_config()
    check_scope(config)  # Table I on the nominal device is in scope
    change(config)
    with pytest.raises(SimulatorScopeError, match=re.escape(setting)) as error:
        check_scope(config)
    assert "use analog.simulator: aihwkit" in str(error.value) and "\n" not in str(error.value)


def test_soft_bounds_reram_presets_are_in_scope_and_other_devices_are_refused() -> None:
    from aihwkit.simulator.configs.devices import ConstantStepDevice
    from aihwkit.simulator.presets import devices as presets

    for name in ("ReRamSBPresetDevice", "ReRamArrayOMPresetDevice", "ReRamArrayHfO2PresetDevice"):
        check_scope(rpu_config(getattr(presets, name)()))
    with pytest.raises(SimulatorScopeError, match=r"unit_cell_devices\[0\] = EcRamPresetDevice"):
        check_scope(rpu_config(presets.EcRamPresetDevice()))

    with pytest.raises(SimulatorScopeError, match=r"unit_cell_devices\[0\].*SoftBoundsReferenceDevice"):
        check_scope(rpu_config(ConstantStepDevice()))

