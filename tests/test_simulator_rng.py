"""The simulator's random streams: Philox4x32-10 known answers, the distributions, independence of streams and threads."""

from __future__ import annotations

import pytest
import torch

from analog_tl.simulator import kernel

# Known-answer vectors of Philox4x32-10 (Random123's kat_vectors): counter, key -> output words.
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


def test_philox_matches_the_known_answers() -> None:
    module = kernel.load()
    for counter, key, expected in KNOWN_ANSWERS:
        words = module.philox_words(torch.tensor([counter], dtype=torch.int64), *key)
        assert tuple(int(w) for w in words[0]) == expected


def test_normals_and_uniforms_have_the_right_distribution() -> None:
    module = kernel.load()
    rows = torch.arange(2000)
    normal = module.philox_draws(7, 0, 5, 0, rows, 500, True).double()  # 10^6 draws
    uniform = module.philox_draws(7, 0, 3, 0, rows, 500, False).double()
    n = normal.numel()
    assert abs(normal.mean()) < 5 / n**0.5 and abs(normal.var() - 1) < 5 * (2 / n) ** 0.5
    assert abs((normal**4).mean() - 3) < 5 * (96 / n) ** 0.5  # kurtosis of N(0, 1) is 3 (var of x^4 is 96)
    assert float((normal.abs() > 3).double().mean()) == pytest.approx(0.0027, abs=5 * (0.0027 / n) ** 0.5)
    assert 0 <= uniform.min() and uniform.max() < 1
    assert abs(uniform.mean() - 0.5) < 5 * (1 / 12 / n) ** 0.5
    table = kernel.normal_table().double()
    assert table.mean().abs() < 1e-12 and abs(table.pow(2).mean() - 1) < 1e-6


def test_streams_calls_and_keys_are_independent_and_repeatable() -> None:
    module = kernel.load()
    rows = torch.arange(400)
    base = module.philox_draws(1, 0, 5, 0, rows, 100, True)
    assert torch.equal(base, module.philox_draws(1, 0, 5, 0, rows, 100, True))
    for other in (module.philox_draws(2, 0, 5, 0, rows, 100, True), module.philox_draws(1, 1, 5, 0, rows, 100, True),
                  module.philox_draws(1, 0, 6, 0, rows, 100, True), module.philox_draws(1, 0, 5, 1, rows, 100, True)):
        corr = torch.corrcoef(torch.stack([base.flatten(), other.flatten()]))[0, 1]
        assert abs(corr) < 5 / base.numel() ** 0.5
    torch.set_num_threads(2)
    try:
        assert torch.equal(base, module.philox_draws(1, 0, 5, 0, rows, 100, True))
    finally:
        torch.set_num_threads(1)
    assert torch.equal(base[17], module.philox_draws(1, 0, 5, 0, torch.tensor([17]), 100, True)[0])  # per vector
