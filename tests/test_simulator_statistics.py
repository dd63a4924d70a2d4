"""Protocols V2 and V3: in the fully stochastic configuration the simulator agrees with aihwkit in distribution.

aihwkit's runtime random streams are seeded from the clock and the
simulator's are Philox streams keyed by ``SimTile.key``, so the two can only
be compared statistically (docs/simulator.md, "Validation against aihwkit").

Protocols
---------
* **V2, IO** (``test_forward_and_backward_moments``): one vector repeated as
  the R = 4000 rows of a batch through aihwkit's and the simulator's forward
  and backward (output noise on); per output, mean and variance. The forward
  cases end in bound-management reductions 1, 2, 2 or 4 (the noise decides),
  4, 8 and 16 (once unsaturated, once clipped), checked on aihwkit's outputs.
* **V2, pulses** (``test_first_vector_pulse_statistics``): the same first
  vector 4000 times from A = 0 (aihwkit: ``set_weights`` zeroes A and the
  pointer and keeps the running maxima; simulator: the same by hand). At
  BL = 1 a crosspoint fired iff A != 0. Compared: P(fired) per crosspoint and
  the joint firing of every same-row and same-column pair (an x bit is shared
  by the rows of its column, a d bit by the columns of its row), sample
  against sample and each against the shared-line probabilities.
  ``test_first_vector_pulse_counts_at_full_bit_length``: k = 10 (BL = 5, d
  clipped by update management, no pulse noise, so A counts the pulses).
* **V3, replica ensembles** (``test_replica_ensemble``, one test per device
  knob and per soft-bounds ReRAM preset): one fixed x/d stream on R aihwkit
  runs and R simulator tiles (same construction seed, so the same devices; a
  different Philox key per simulator replica). Per element: A, A*chi
  (chopper-invariant), |A|, C - C0, H, H*chi, the choppers, and with write
  noise the persistent A and C - C0. Each test asserts that aihwkit's C moved
  by several pulses per element, so that C and H are not compared vacuously.

Statistics and tolerances
-------------------------
A correct simulator must fail this file less than once in 10^4 runs. The
checks add up (Bonferroni) to a false-alarm probability of about 2e-5:

* per element (output, crosspoint, pair): z of the difference of the two
  means, ``|z| <= Z_MAX = 6`` (normal tail 2e-9; about 3900 checks: 8e-6).
  The quantities are bounded, so the replica means have sub-Gaussian tails,
  and the difference of two samples of one law is symmetric. The checks of
  a frequency against its model probability (about 800) are skewed; at the
  smallest expected counts (about 60) the tail is up to 6 times the normal
  one: below 1e-5 in all.
* per quantity, mean z^2 over its K elements. The elements of one replica are
  correlated (shared pulse lines, one chopper per column), so chi-square
  does not apply: the limit is the Chernoff bound of ``sum z^2`` for normal z
  with the correlation estimated from both samples,
  ``P <= exp(-s t) prod_k (1 - 2 s lambda_k)^(-1/2)``, at
  ``ALPHA_AGGREGATE = 1e-7`` (about 80 checks: 8e-6).
* per quantity, the pooled variance (elements standardised by their
  two-sample SD, mean square per replica), with its standard error across
  replicas (which accounts for the correlations): within ``Z_MAX`` standard
  errors (about 70 checks). The reported SD ratio is its square root.
* per output of the IO test, the variance: SE ``sqrt((m4 - s^4) / R)``.

The simulator's samples are fixed by their keys, so only aihwkit's side varies
from run to run; given a typical simulator sample (the largest |z| of a run
is about 4, as expected of 3900 checks) the false-alarm rate is lower still.

Two properties of aihwkit's CPU random numbers shape the design:

* its Gaussians are a tile's fixed table of 32768 normals indexed at random,
  so one tile's noise has a mean off by N(0, 1/32768) SD and a variance off by
  N(0, 2/32768), shared by all its draws (measured: instance means -0.010 to
  +0.006, SDs 0.994 to 1.004, at 256000 draws each). The IO test, where the
  noise is all there is, spreads its repeats over ``IO_TILES`` tiles and
  widens its tolerances by the rest (``compare``'s ``common_sd``). The
  ensembles reuse one aihwkit tile: there it shifts pulse steps and reads
  well below a standard error (worst case ReRamSB, pulse noise 3.75 dw_min:
  a third of the pooled-SD standard error per SD of the table's variance).
* its uniforms are glibc's ``rand()``, whose outputs are sums of the outputs
  3 and 31 draws earlier: pairs are independent, triples are not. The pulse
  tests compare only statistics of at most three bits drawn within 14
  consecutive draws, and put 48 unused draws (a forward pass) between trials.

Power (checked by patching a copy of the simulator): netting up and down
pulses (``test_replica_ensemble``: pooled SD ratio of A 1.19, z = +16; mean
z^2 of |A| 28 against a limit of 6.2), independent pulse lines (pulse
statistics: same-row and same-column pairs max |z| 17 and 16, mean z^2 82 and
85 against 3.9 and 4.5), de-chopping with the post-flip chopper (C - C0: mean
z^2 26 against 6.3 in ``test_replica_ensemble``, 76 against 4.2 with the OM
preset), the buffer gain lambda_H doubled or halved (C - C0: max |z| 44 and
33) and a missing bound-management round (forward means: |z| 40 to 6000).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from analog_tl.simulator.tile import SimTile
from simulator_helpers import aihwkit_update, rpu_config, tile_pair

Z_MAX = 6.0
ALPHA_AGGREGATE = 1e-7


# ---------------------------------------------------------------------------------------------------------------
# Statistics


def chernoff_limit(eigenvalues: torch.Tensor, alpha: float) -> float:
    """t with P(sum_k lambda_k Z_k^2 >= t) <= alpha (Z_k iid normal), by the Chernoff bound."""
    lam = eigenvalues.double().clamp_min(0.0)
    lam = lam[lam > 1e-12]
    u = torch.linspace(1e-4, 1.0 - 1e-4, 4000, dtype=torch.float64)
    s = u[:, None] / (2.0 * lam.max())
    log_mgf = -0.5 * torch.log1p(-2.0 * s * lam[None, :]).sum(1)
    return float(((-math.log(alpha) + log_mgf) / s[:, 0]).min())


@dataclass
class Comparison:
    """Two samples [R, K] of one quantity compared element by element and pooled."""

    name: str
    z: torch.Tensor  # per element
    mean_z2: float
    mean_z2_limit: float
    sd_ratio: float  # pooled, simulator / aihwkit
    pooled_z: float
    with_variance: bool = True

    @property
    def max_z(self) -> float:
        return float(self.z.abs().max()) if self.z.numel() else 0.0

    def failures(self) -> list[str]:
        out = []
        if self.max_z > Z_MAX:
            worst = int(self.z.abs().argmax())
            out.append(f"{self.name}: max |z| {self.max_z:.2f} > {Z_MAX} "
                       f"(element {worst}, z {float(self.z[worst]):+.2f})")
        if self.mean_z2 > self.mean_z2_limit:
            out.append(f"{self.name}: mean z^2 {self.mean_z2:.2f} > {self.mean_z2_limit:.2f}")
        if self.with_variance and abs(self.pooled_z) > Z_MAX:
            out.append(f"{self.name}: pooled SD ratio {self.sd_ratio:.4f} (z {self.pooled_z:+.2f})")
        return out

    def __str__(self) -> str:
        text = f"{self.name:>22}: max|z| {self.max_z:5.2f}  mean z^2 {self.mean_z2:5.2f} (<= {self.mean_z2_limit:.2f})"
        if self.with_variance:
            text += f"  SD ratio {self.sd_ratio:.4f} (z {self.pooled_z:+.2f})"
        return text


def compare(name: str, expected: torch.Tensor, got: torch.Tensor, with_variance: bool = True,
            common_sd: torch.Tensor | None = None, pooled_common_sd: float = 0.0) -> Comparison:
    """aihwkit's samples ``expected`` [R, ...] against the simulator's ``got`` [R, ...] (elements flattened).

    ``common_sd`` [K]: SD of an error of aihwkit's means shared by all elements (one draw for the whole
    sample, such as the bias of a tile's Gaussian table); ``pooled_common_sd``: the same for the pooled
    variance, relative. Both widen the tolerances accordingly.
    """
    a = expected.reshape(expected.shape[0], -1).double()
    b = got.reshape(got.shape[0], -1).double()
    ca, cb = a - a.mean(0), b - b.mean(0)
    sd = (torch.cat([ca, cb]).pow(2).sum(0) / (a.shape[0] + b.shape[0] - 2)).sqrt()
    se = (a.var(0) / a.shape[0] + b.var(0) / b.shape[0]).sqrt()
    common = torch.zeros_like(se) if common_sd is None else common_sd.double().flatten()
    total = (se.pow(2) + common.pow(2)).sqrt()
    diff = b.mean(0) - a.mean(0)
    z = torch.where(total > 0, diff / total, torch.where(diff == 0, 0.0, math.inf))
    keep = (sd > 0) & (total > 0)
    if int(keep.sum()) == 0:
        return Comparison(name, z, 0.0, 0.0, 1.0, 0.0, with_variance)
    sa, sb = ca[:, keep] / sd[keep], cb[:, keep] / sd[keep]
    both = torch.cat([sa, sb])
    rho = (both.t() @ both) / (both.shape[0] - 2)
    rho = rho / torch.outer(rho.diagonal().sqrt(), rho.diagonal().sqrt())
    sek, ck, tk = se[keep], common[keep], total[keep]
    corr = (rho * torch.outer(sek, sek) + torch.outer(ck, ck)) / torch.outer(tk, tk)
    zk = z[keep]
    limit = chernoff_limit(torch.linalg.eigvalsh(corr), ALPHA_AGGREGATE) / zk.numel()
    qa, qb = sa.pow(2).mean(1), sb.pow(2).mean(1)  # per replica: mean square of the standardised elements
    va, vb = qa.mean(), qb.mean()
    pooled_se = (qa.var() / qa.numel() + qb.var() / qb.numel() + (pooled_common_sd * va) ** 2).sqrt()
    pooled_z = float((vb - va) / pooled_se) if pooled_se > 0 else 0.0
    return Comparison(name, z, float(zk.pow(2).mean()), limit, float((vb / va).sqrt()), pooled_z, with_variance)


def variance_z(a: torch.Tensor, b: torch.Tensor, common_rel_sd: float = 0.0) -> torch.Tensor:
    """Per column of a [R1, K], b [R2, K]: z of the difference of the sample variances.

    The SE of a sample variance is sqrt((m4 - s^4) / R); ``common_rel_sd`` adds a shared relative error of
    aihwkit's variances (as ``compare``'s ``pooled_common_sd``).
    """
    a, b = a.double(), b.double()

    def moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = x - x.mean(0)
        var = c.pow(2).mean(0)
        return var, (c.pow(4).mean(0) - var.pow(2)).clamp_min(0.0) / x.shape[0]

    (va, sa), (vb, sb) = moments(a), moments(b)
    se = (sa + sb + (common_rel_sd * va).pow(2)).sqrt()
    diff = vb - va
    return torch.where(se > 0, diff / se, torch.where(diff == 0, 0.0, math.inf))


def assert_all(comparisons: list[Comparison]) -> None:
    failures = [f for c in comparisons for f in c.failures()]
    assert not failures, "simulator and aihwkit disagree:\n" + "\n".join(failures + [str(c) for c in comparisons])


# ---------------------------------------------------------------------------------------------------------------
# aihwkit tile access


def hidden(tile: Any) -> dict[str, torch.Tensor]:
    """The tile's hidden parameters by name, [out, in] each (the fast path of ``get_hidden_parameters``)."""
    values = tile.tile.get_hidden_parameters()
    return dict(zip(tile.tile.get_hidden_parameter_names(), values))


def chopper_of(tile: Any) -> torch.Tensor:
    return torch.tensor(tile.tile.dump_extra()["rpu.rpu_device.in_chopper"]).to(torch.uint8)


def _softbounds(**fields: Any) -> Any:
    from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice

    return SoftBoundsReferenceDevice(**{"w_max": 1.0, "w_min": -1.0, **fields})


# ---------------------------------------------------------------------------------------------------------------
# V2: forward and backward


def _with_peak(noise: torch.Tensor, weights: torch.Tensor, target: float) -> torch.Tensor:
    """t * ones + (1 - t) * noise, with t set so that the noise-free product of the abs-max scaled input peaks at
    ``target`` times the output bound (bisection)."""
    bound = 12.0

    def peak(t: float) -> float:
        v = t + (1.0 - t) * noise
        return float((v / v.abs().max() @ weights.t()).abs().max()) / bound

    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if peak(mid) < target else (lo, mid)
    return lo + (1.0 - lo) * noise


# forward cases: the noise-free peak output in units of the bound -> the reductions the bound management reaches
# (BM 5 saturated: aihwkit stops after the round at reduction 16 and clips)
IO_PEAKS = {"BM 1": (0.6, {1}), "BM 2": (1.5, {2}), "BM 2|3": (2.0, {2, 4}), "BM 3": (3.0, {4}), "BM 4": (6.0, {8}),
            "BM 5": (12.0, {16}), "BM 5 saturated": (20.0, {16})}


def _reductions(y: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The final bound-management reduction of each output row: the last round's peak lies in (red/2, red] * 12."""
    peak = y.abs().amax(1) / (12.0 * float(v.abs().max()))
    return torch.exp2(torch.log2(peak).ceil().clamp_min(0.0))


# aihwkit's Gaussian table (see the module docstring): the IO test spreads its repeats over IO_TILES tiles
GAUSS_TABLE = 32768
IO_TILES = 40


def test_forward_and_backward_moments() -> None:
    """Per output mean and variance over R = 4000 repeats of a vector, forward (BM cases) and backward."""
    from aihwkit.simulator.tiles import AnalogTile

    repeats, out_size, in_size = 4000, 16, 256
    config = rpu_config(_softbounds())
    g = torch.Generator().manual_seed(11)
    weights = (0.3 + 0.3 * torch.randn(out_size, in_size, generator=g)).clamp(-0.99, 0.99)
    weights[0] = 0.9  # one large output: the reductions reach 16 (up to 256 * 0.9 / 12 = 19 times the bound)
    _, sim = tile_pair(config, out_size, in_size, weights, key=101)
    tiles = [AnalogTile(out_size, in_size, config) for _ in range(IO_TILES)]
    for tile in tiles:
        tile.set_weights(weights)
        assert torch.equal(tile.get_weights()[0], sim.weights()), "the tiles' devices differ"

    def aihwkit(method: str, rows: torch.Tensor) -> torch.Tensor:
        chunks = rows.chunk(IO_TILES)
        return torch.cat([getattr(tile, method)(chunk).detach() for tile, chunk in zip(tiles, chunks)])

    noise = torch.randn(in_size, generator=g)
    programmed = sim.weights()  # the devices' bounds clip the weights
    results = []
    for name, (target, reductions) in IO_PEAKS.items():
        v = _with_peak(noise, programmed, target)
        x = v.expand(repeats, -1).contiguous()
        expected = aihwkit("forward", x)
        reached = _reductions(expected, v)
        fractions = {int(r): float((reached == r).float().mean()) for r in reached.unique()}
        assert set(fractions) == reductions and min(fractions.values()) > 0.1, f"{name}: reductions {fractions}"
        results.append((f"forward {name}", expected, sim.forward_mvm(x)))
    for name, d in (("backward", 0.02 * torch.randn(out_size, generator=g)),
                    ("backward, d >= 0", 0.02 * torch.rand(out_size, generator=g))):
        dd = d.expand(repeats, -1).contiguous()
        results.append((name, aihwkit("backward", dd), sim.backward_mvm(dd)))
    table = 1.0 / math.sqrt(GAUSS_TABLE * IO_TILES)
    comparisons = []
    for name, expected, got in results:
        assert (expected.std(0) > 0).sum() >= expected.shape[1] - 1, f"{name}: outputs show no noise"
        comparison = compare(name, expected, got, common_sd=expected.double().std(0) * table,
                             pooled_common_sd=math.sqrt(2.0) * table)
        comparison.z = torch.cat([comparison.z, variance_z(expected, got, math.sqrt(2.0) * table)])
        comparisons.append(comparison)
    print("\n".join(str(c) for c in comparisons))
    assert_all(comparisons)


# ---------------------------------------------------------------------------------------------------------------
# V2: pulse trains at the first vector

PULSE_X = torch.tensor([1.0, -0.8, 0.6, -0.4, 0.9, 0.3, -1.0, 0.5])  # n = 8 columns
PULSE_D = 0.01 * torch.tensor([0.9, -1.0, 0.5, -0.7, 0.3, 0.8])  # p = 6 rows
PULSE_TRIALS = 4000


def _line_probabilities(x: torch.Tensor, d: torch.Tensor, fast_lr: float, desired_bl: int = 5,
                        dw_min: float = 1e-3) -> tuple[int, torch.Tensor, torch.Tensor]:
    """BL and the x- and d-line probabilities of the first vector (m_x = max|x|, m_d = max|d|; note 5.2-5.3)."""
    xa, da = float(x.abs().max()), float(d.abs().max())
    lr = fast_lr * desired_bl * dw_min / (xa * da)
    k = lr * xa * da / dw_min
    bl = min(math.ceil(k), desired_bl)
    a0 = math.sqrt(lr / (dw_min * bl))
    dv = da * desired_bl / k if k > desired_bl else da
    px = (x.double().abs() * a0 * math.sqrt(dv / xa)).clamp(max=1.0)
    pd = (d.double().abs() * a0 * math.sqrt(xa / dv)).clamp(max=1.0)
    return bl, px, pd


def _first_vector_trials(config: Any, trials: int, key: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A after the same first vector, ``trials`` times from A = 0, in aihwkit and in the simulator; and A's devices."""
    n, p = PULSE_X.numel(), PULSE_D.numel()
    w0 = torch.zeros(p, n)
    tile, sim = tile_pair(config, p, n, w0, key=key)
    x, d = PULSE_X[None], PULSE_D[None]
    spacer = torch.ones(8, n)  # 8 x 6 output-noise draws of glibc's rand() between trials (its lag is 31)
    expected, got = torch.empty(trials, p, n), torch.empty(trials, p, n)
    for t in range(trials):
        tile.set_weights(w0)  # A = 0 and pointer 0; the running maxima stay (the same vector every time)
        aihwkit_update(tile, x, d, 0.01)
        expected[t] = hidden(tile)["hidden_weights_0"]
        tile.forward(spacer)
        with torch.no_grad():
            sim.fast.zero_()
            sim.fast_apparent.zero_()
            sim.pointer.zero_()
        sim.update(x, d, 0.01)
        got[t] = sim.fast_apparent
    return expected, got, sim.device_fast


def _pairs(fired: torch.Tensor, dim: int) -> torch.Tensor:
    """Joint firing [T, pairs] of every pair of crosspoints in one row (dim 2) or in one column (dim 1)."""
    size = fired.shape[dim]
    first, second = torch.triu_indices(size, size, offset=1)
    if dim == 2:
        return (fired[:, :, first] & fired[:, :, second]).flatten(1)
    return (fired[:, first, :] & fired[:, second, :]).flatten(1)


def _against_model(sample: torch.Tensor, probability: torch.Tensor) -> float:
    """Max |z| of a binary sample's frequencies [T, K] against probabilities [K]."""
    p = probability.double().flatten()
    se = (p * (1 - p) / sample.shape[0]).sqrt()
    z = (sample.double().mean(0) - p) / se
    return float(z.abs().max())


def test_first_vector_pulse_statistics() -> None:
    """BL = 1: P(fired) per crosspoint, joint firing of same-row and same-column pairs (shared pulse lines)."""
    config = rpu_config(_softbounds(), fast_lr=0.1)
    bl, px, pd = _line_probabilities(PULSE_X, PULSE_D, 0.1)
    assert bl == 1 and float(px.max()) == pytest.approx(math.sqrt(0.5))
    expected, got, _ = _first_vector_trials(config, PULSE_TRIALS, key=202)
    fired_a, fired_s = expected != 0, got != 0
    marginal = torch.outer(pd, px)  # P(N_ij >= 1) = pd_i px_j
    first, second = torch.triu_indices(px.numel(), px.numel(), offset=1)
    row_shared = (pd[:, None] * px[first] * px[second]).flatten()  # the row's d bit is shared
    row_independent = (marginal[:, first] * marginal[:, second]).flatten()
    first_c, second_c = torch.triu_indices(pd.numel(), pd.numel(), offset=1)
    col_shared = (pd[first_c, None] * pd[second_c, None] * px[None, :]).flatten()  # the column's x bit is shared
    col_independent = (marginal[first_c] * marginal[second_c]).flatten()
    comparisons = [
        compare("P(fired)", fired_a, fired_s, with_variance=False),
        compare("same-row pairs", _pairs(fired_a, 2), _pairs(fired_s, 2), with_variance=False),
        compare("same-column pairs", _pairs(fired_a, 1), _pairs(fired_s, 1), with_variance=False),
    ]
    print("\n".join(str(c) for c in comparisons))
    models = {
        "aihwkit P(fired)": _against_model(fired_a.flatten(1), marginal),
        "simulator P(fired)": _against_model(fired_s.flatten(1), marginal),
        "aihwkit rows": _against_model(_pairs(fired_a, 2), row_shared),
        "simulator rows": _against_model(_pairs(fired_s, 2), row_shared),
        "aihwkit columns": _against_model(_pairs(fired_a, 1), col_shared),
        "simulator columns": _against_model(_pairs(fired_s, 1), col_shared),
    }
    print("max |z| against the shared-line model:", {k: round(v, 2) for k, v in models.items()})
    # power: independent lines would move the pair frequencies by many standard errors
    for shared, independent in ((row_shared, row_independent), (col_shared, col_independent)):
        se = (2 * shared * (1 - shared) / PULSE_TRIALS).sqrt()
        assert float(((shared - independent) / se).pow(2).mean()) > 25, "the pair test would not see independent lines"
    assert_all(comparisons)
    assert max(models.values()) <= Z_MAX, f"firing frequencies off the shared-line model: {models}"


def _pulse_counts(a: torch.Tensor, device: torch.Tensor, max_pulses: int) -> torch.Tensor:
    """Number of identical pulses (no cycle-to-cycle noise) from 0 that gives A [T, p, n]: the nearest of 0..max."""
    up, down, max_bound, min_bound = (device[k].double() for k in range(4))
    w_up, w_down = torch.zeros_like(up), torch.zeros_like(up)
    ups, downs = [w_up], [w_down]
    for _ in range(max_pulses):
        w_up = (w_up + up * (1 - w_up / max_bound)).clamp(max=max_bound)
        w_down = (w_down - down * (1 + w_down / min_bound.abs())).clamp(min=min_bound)
        ups.append(w_up)
        downs.append(w_down)
    a = a.double()[:, None]
    levels = torch.where(a >= 0, torch.stack(ups)[None], torch.stack(downs)[None])  # [T, max + 1, p, n]
    return (a - levels).abs().argmin(1)


def test_first_vector_pulse_counts_at_full_bit_length() -> None:
    """k = 10: BL = 5 and d clipped by update management; the mean pulse count per crosspoint (no pulse noise)."""
    config = rpu_config(_softbounds(dw_min_std=0.0), fast_lr=2.0)
    bl, px, pd = _line_probabilities(PULSE_X, PULSE_D, 2.0)
    assert bl == 5 and float(pd.max()) == 1.0 and int((pd == 1.0).sum()) >= 2  # saturated rows
    expected, got, device = _first_vector_trials(config, PULSE_TRIALS // 2, key=303)
    counts_a, counts_s = _pulse_counts(expected, device, bl), _pulse_counts(got, device, bl)
    comparison = compare("pulse count", counts_a, counts_s, with_variance=False)
    print(comparison)
    q = torch.outer(pd, px)  # per slot; the count is Binomial(BL, q)
    model, model_var = bl * q, bl * q * (1 - q)
    for name, counts in (("aihwkit", counts_a), ("simulator", counts_s)):
        c = counts.double()
        diff = c.mean(0) - model
        se = (torch.maximum(c.var(0), model_var) / c.shape[0]).sqrt()
        z = torch.where(diff.abs() > 1e-9, diff / se.clamp_min(1e-12), 0.0)
        print(f"{name}: max |z| of the mean count against BL px pd: {z.abs().max():.2f}")
        assert float(z.abs().max()) <= Z_MAX, f"{name}: mean pulse counts off BL px pd"
    assert_all([comparison])


# ---------------------------------------------------------------------------------------------------------------
# V3: replica ensembles


Stream = list[tuple[torch.Tensor, torch.Tensor]]


def _stream(out_size: int, in_size: int, batches: int, batch: int, seed: int) -> Stream:
    """x ~ N(0, 1); d = 0.01 (G x / sqrt(n) + eps) with a fixed sign matrix G: a steady gradient plus noise."""
    g = torch.Generator().manual_seed(seed)
    signs = torch.where(torch.rand(out_size, in_size, generator=g) < 0.5, -1.0, 1.0)
    stream = []
    for _ in range(batches):
        x = torch.randn(batch, in_size, generator=g)
        d = 0.01 * (x @ signs.t() / math.sqrt(in_size) + torch.randn(batch, out_size, generator=g))
        stream.append((x, d))
    return stream


def _aihwkit_snapshot(tile: Any) -> dict[str, torch.Tensor]:
    values = hidden(tile)
    agad = "running_mean_weight" in values
    out = {"A": values["hidden_weights_0"], "C": values["hidden_weights_1"],
           "H": values["buffered_FP_weight" if agad else "buffered_FP_weight_0"], "chopper": chopper_of(tile).double()}
    if "persistent_weights_0" in values:
        out["A persistent"], out["C persistent"] = values["persistent_weights_0"], values["persistent_weights_1"]
    if agad:
        out["running mean"], out["past mean"] = values["running_mean_weight"], values["past_mean_weight"]
    return out


def _sim_snapshot(sim: SimTile, persistent: bool) -> dict[str, torch.Tensor]:
    out = {"A": sim.fast_apparent.clone(), "C": sim.slow_apparent.clone(), "H": sim.transfer_buffer.clone(),
           "chopper": sim.in_chopper.double()}
    if persistent:
        out["A persistent"], out["C persistent"] = sim.fast.clone(), sim.slow.clone()
    if sim.agad:
        out["running mean"], out["past mean"] = sim.running_mean.clone(), sim.past_mean.clone()
    return out


@dataclass
class Ensemble:
    """Final states of R aihwkit and R simulator replicas, stacked [R, ...]; A and C pulses per simulator replica."""

    expected: dict[str, torch.Tensor]
    got: dict[str, torch.Tensor]
    initial: dict[str, torch.Tensor]
    c_pulses: torch.Tensor
    a_pulses: torch.Tensor


def run_ensemble(config: Any, weights: torch.Tensor, stream: Stream, lr: float, replicas: int, key: int) -> Ensemble:
    """R runs of the stream on one aihwkit tile and on a simulator tile with keys ``key``, ``key + 1``, ...

    Between runs the aihwkit tile gets its initial hidden parameters (A, C, H and the devices) and extra
    state (choppers, running maxima, pointer, counters) back; the first reset is checked to be exact.
    """
    out_size, in_size = weights.shape
    tile, sim = tile_pair(config, out_size, in_size, weights, key=key)
    initial_hidden, initial_extra = tile.get_hidden_parameters(), tile.tile.dump_extra()
    initial = _aihwkit_snapshot(tile)
    persistent = "A persistent" in initial
    template = {name: value.clone() for name, value in sim.state_dict().items()}
    expected: dict[str, list[torch.Tensor]] = {name: [] for name in initial}
    got: dict[str, list[torch.Tensor]] = {name: [] for name in initial}
    counts = torch.zeros(replicas, 3, dtype=torch.int64)
    for r in range(replicas):
        if r:
            tile.set_hidden_parameters(initial_hidden)
            tile.tile.load_extra(initial_extra, True)
            if r == 1:
                restored = _aihwkit_snapshot(tile)
                assert all(torch.equal(restored[k], initial[k]) for k in initial), "the aihwkit reset is not exact"
                assert tile.tile.dump_extra()["rpu.rpu_device.weight_granularity"] == \
                    initial_extra["rpu.rpu_device.weight_granularity"]
        sim.load_state_dict(template)
        sim.key.fill_(key + r)
        for x, d in stream:
            aihwkit_update(tile, x, d, lr)
            counts[r] += sim.update(x, d, lr)
        for name, value in _aihwkit_snapshot(tile).items():
            expected[name].append(value)
        for name, value in _sim_snapshot(sim, persistent).items():
            got[name].append(value)
    return Ensemble({k: torch.stack(v) for k, v in expected.items()}, {k: torch.stack(v) for k, v in got.items()},
                    initial, counts[:, 1].double(), counts[:, 0].double())


def ensemble_comparisons(ensemble: Ensemble) -> list[Comparison]:
    """A, A*chi, |A|, C - C0, H, H*chi and the choppers (and the persistent A and C - C0 where there are; AGAD's
    running and past means of the reads)."""

    def quantities(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        chi = (1.0 - 2.0 * state["chopper"])[:, None, :]
        out = {"A": state["A"], "A*chi": state["A"] * chi, "|A|": state["A"].abs(),
               "C - C0": state["C"] - ensemble.initial["C"], "H": state["H"], "H*chi": state["H"] * chi}
        if "A persistent" in state:
            out["A persistent"] = state["A persistent"]
            out["C - C0 persistent"] = state["C persistent"] - ensemble.initial["C persistent"]
        for name in ("running mean", "past mean"):
            if name in state:
                out[name], out[f"{name}*chi"] = state[name], state[name] * chi
        return out

    expected, got = quantities(ensemble.expected), quantities(ensemble.got)
    comparisons = [compare(name, expected[name], got[name]) for name in expected]
    comparisons.append(compare("chopper", ensemble.expected["chopper"], ensemble.got["chopper"], with_variance=False))
    return comparisons


def _report(name: str, ensemble: Ensemble, comparisons: list[Comparison]) -> None:
    moved = (ensemble.expected["C"] - ensemble.initial["C"]).abs().mean()
    print(f"{name}: {ensemble.a_pulses.mean():.0f} A pulses and {ensemble.c_pulses.mean():.1f} C pulses per replica, "
          f"mean |C - C0| {moved:.4f}")
    print("\n".join(str(c) for c in comparisons))


def _assert_ensemble(name: str, ensemble: Ensemble, dw_min: float, min_moves: float = 3.0) -> None:
    """All comparisons within tolerance, and aihwkit's C moved by at least ``min_moves`` C pulses per element on
    average (so that the checks of C - C0 and H cannot pass vacuously)."""
    comparisons = ensemble_comparisons(ensemble)
    _report(name, ensemble, comparisons)
    moved = float((ensemble.expected["C"] - ensemble.initial["C"]).abs().mean()) / dw_min
    assert moved >= min_moves, f"{name}: C moved by only {moved:.1f} pulses per element in aihwkit"
    assert_all(comparisons)


def test_replica_ensemble() -> None:
    """V3 on the nominal device: 4x6 tile, 150 batches of 8 vectors at lr 6, R = 1000 replicas per side."""
    config = rpu_config(_softbounds(), fast_lr=1.0)
    weights = 0.3 * torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    ensemble = run_ensemble(config, weights, _stream(4, 6, 150, 8, seed=2), 6.0, 1000, key=10_000)
    _assert_ensemble("nominal", ensemble, dw_min=1e-3, min_moves=5.0)


KNOBS = {
    "pulse noise dw_min_std 0.6": {"dw_min_std": 0.6},
    "device-to-device dw_min_dtod 0.6": {"dw_min_dtod": 0.6},
    "bounds w_max 1.2, w_min -0.8": {"w_max": 1.2, "w_min": -0.8},
    "reference_mean 0.2": {"reference_mean": 0.2},
    "reference_std 0.1": {"reference_std": 0.1},
}


@pytest.mark.parametrize("knob", list(KNOBS))
def test_replica_ensemble_device_knob(knob: str) -> None:
    """V3 with one device-sweep knob changed, R = 400, 100 batches (the devices are drawn once, at construction)."""
    config = rpu_config(_softbounds(**KNOBS[knob]), fast_lr=1.0)
    weights = 0.3 * torch.randn(4, 6, generator=torch.Generator().manual_seed(3))
    ensemble = run_ensemble(config, weights, _stream(4, 6, 100, 8, seed=4), 6.0, 400, key=20_000)
    _assert_ensemble(knob, ensemble, dw_min=1e-3)


# preset -> (fast_lr, lr, C pulses moved at least): lr grows with the preset's dw_min so that the buffer fills
# at a comparable pace; HfO2's C has about 4 states (dw_min 0.46), so 1 pulse per element is a large move
PRESETS = {"ReRamSBPresetDevice": (1.0, 6.0, 3.0), "ReRamArrayOMPresetDevice": (0.3, 150.0, 3.0),
           "ReRamArrayHfO2PresetDevice": (0.1, 400.0, 1.0)}


@pytest.mark.parametrize("preset", list(PRESETS))
def test_replica_ensemble_reram_preset(preset: str) -> None:
    """V3 on a soft-bounds ReRAM preset (write noise: apparent and persistent weights both compared).

    The preset's field values go into a plain ``SoftBoundsReferenceDevice`` (the simulator's scope check takes
    the class by name; the presets only change defaults). ``apply_write_noise_on_set`` is off so that
    ``set_hidden_parameters`` restores the initial state exactly between aihwkit runs; it acts only when
    weights are set, not in training.
    """
    import dataclasses

    from aihwkit.simulator.presets import devices

    template = getattr(devices, preset)()
    values = {f.name: getattr(template, f.name) for f in dataclasses.fields(template)}
    device = _softbounds(**{**values, "apply_write_noise_on_set": False})
    fast_lr, lr, min_moves = PRESETS[preset]
    config = rpu_config(device, fast_lr=fast_lr)
    weights = 0.3 * torch.randn(4, 6, generator=torch.Generator().manual_seed(5))
    ensemble = run_ensemble(config, weights, _stream(4, 6, 100, 8, seed=6), lr, 400, key=30_000)
    assert "A persistent" in ensemble.got, f"{preset} has no write noise"
    _assert_ensemble(preset, ensemble, dw_min=device.dw_min, min_moves=min_moves)


# AGAD (DynamicTransferCompound): name -> (device fields, compound fields); Table I's chopper probability 0.1
# gives a period of 10 passes, so C is written from the 11th pass (batch 9 of 100 with 6 columns) on
AGAD_ENSEMBLES = {
    "AGAD nominal": ({}, {"in_chop_prob": 0.1}),
    "AGAD pulse noise, random chopper, no forget": (
        {"dw_min_std": 0.6}, {"in_chop_prob": 0.25, "in_chop_random": True, "forget_buffer": False, "buffer_cap": 3.0}),
}


@pytest.mark.parametrize("name", list(AGAD_ENSEMBLES))
def test_replica_ensemble_agad(name: str) -> None:
    """V3 for AGAD: R = 400, 100 batches; also its running and past means of the reads (read noise on)."""
    device_fields, compound = AGAD_ENSEMBLES[name]
    config = rpu_config(_softbounds(**device_fields), fast_lr=1.0, algorithm="agad", **compound)
    weights = 0.3 * torch.randn(4, 6, generator=torch.Generator().manual_seed(7))
    ensemble = run_ensemble(config, weights, _stream(4, 6, 100, 8, seed=8), 6.0, 400, key=40_000)
    assert "past mean" in ensemble.got
    _assert_ensemble(name, ensemble, dw_min=1e-3)
