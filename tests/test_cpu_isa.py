"""analog_tl.cpu_isa: one CPU code path for every numerical library (compute.cpu_isa), checked by measurement.

Every library reads its pin once, when it initialises, so each measurement
runs in a fresh interpreter, as a workflow job does: three SGD steps of
the tiny Swin (patch-embedding convolution, LayerNorm, attention products and
softmax, GELU) and the SHA-256 of its weights. A result that changes when one
library's switch changes shows that a machine whose CPU makes that library
choose otherwise gets other numbers, and that this test sees the difference.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from analog_tl import cpu_isa
from analog_tl.errors import ConfigError
from analog_tl.vocabulary import CONFIG_SCHEMA
from analog_tl.workflow_config import describe_schema_error

REPO = Path(__file__).resolve().parents[1]
UNPINNED = {k: v for k, v in os.environ.items() if k not in cpu_isa.PINNED_VARIABLES + (cpu_isa.PIN_MARKER,)}
CHILD_ENV = {**UNPINNED, "PYTHONPATH": str(REPO / "src")}  # fresh interpreters: no pin inherited, this checkout's code
SCHEMA = yaml.safe_load((REPO / CONFIG_SCHEMA).read_text())
LEVEL = cpu_isa.cpu_capability()["level"]
needs_avx2 = pytest.mark.skipif(LEVEL == "below avx2", reason=f"no AVX2 (x86-64-v3) here: {cpu_isa.cpu_capability()}")
needs_avx512 = pytest.mark.skipif(
    LEVEL != "avx512", reason="no AVX-512 here: this CPU's native code path is the pinned one (nothing to tell apart)"
)

# A fresh interpreter: as a workflow job (snakemake_step pins compute.cpu_isa), or unpinned where PIN is None (the
# environment decides), three SGD steps of the tiny Swin; prints the weights' hash and the cpu_isa record that run.json
# gets. With RUN set it also writes a whole (tiny) run folder there, as a training step does.
MEASURE = textwrap.dedent("""
    import contextlib, hashlib, json, sys
    from types import SimpleNamespace
    from analog_tl.steps.context import configure_threads, snakemake_step
    pin, run = {pin!r}, {run!r}
    with snakemake_step(SimpleNamespace(log=[], threads=2, config={{"compute": {{"cpu_isa": pin}}}})) if pin else (
        contextlib.nullcontext()
    ):
        configure_threads(2)
        import torch
        from analog_tl.config import ModelConfig, TrainConfig
        from analog_tl.models.factory import build_model
        from analog_tl.training.runner import compute_record
        model = build_model(ModelConfig(preset="tiny"), 5, seed=0)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        generator = torch.Generator().manual_seed(1)
        for _ in range(3):
            x, y = torch.randn(8, 3, 32, 32, generator=generator), torch.randint(0, 5, (8,), generator=generator)
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        digest = hashlib.sha256(b"".join(v.numpy().tobytes() for v in model.state_dict().values())).hexdigest()
        if run:
            sys.path.insert(0, {tests!r})
            from conftest import stripes_data
            from analog_tl.training.optimizers import digital_optimizer
            from analog_tl.training.runner import RunContext, TrainingRun, train_and_write
            config = TrainConfig(epochs=1, batch_size=8, lr=0.05)
            job = TrainingRun(
                model=build_model(ModelConfig(preset="tiny"), 2, seed=0),
                make_optimizer=lambda m: digital_optimizer(m, config), data=stripes_data(4, seed=0), train_cfg=config,
                out_dir=run, record={{}}, checkpoint={{}}, label="test",
            )
            train_and_write(job, RunContext())
        print(json.dumps({{"sha256": digest, "cpu_isa": compute_record(torch.device("cpu"))["cpu_isa"]}}))
""")


@functools.cache
def measure(pin: str | None, environment: tuple[tuple[str, str], ...] = (), repeat: int = 0, run: str = "") -> dict:
    """Weights' hash and cpu_isa record in a fresh interpreter (``repeat`` tells repeated measurements apart)."""
    script = MEASURE.format(pin=pin, run=run, tests=str(REPO / "tests"))
    env = {**CHILD_ENV, **dict(environment)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def pinned_run(tmp_path_factory) -> tuple[dict, Path]:
    """A second pinned measurement that also writes a tiny run folder (returned with it)."""
    folder = tmp_path_factory.mktemp("run")
    return measure("avx2", repeat=1, run=str(folder)), folder


def fake_cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nvendor_id\t: TestVendor\nmodel name\t: Test CPU\nflags\t\t: fpu sse2 {flags}\n\n")
    return path


def test_the_schema_offers_the_modules_levels():
    entry = SCHEMA["properties"]["compute"]["properties"]["cpu_isa"]
    assert entry["enum"] == list(cpu_isa.LEVELS) and entry["default"] == cpu_isa.DEFAULT_LEVEL


def test_a_bad_value_is_refused_with_one_message():
    config = {"tasks": {"t": ["a", "b"]}, "compute": {"cpu_isa": "avx512"}}
    message = "compute.cpu_isa: 'avx512' is not one of ['avx2', 'native']"
    assert describe_schema_error(copy.deepcopy(config), SCHEMA) == message
    environ: dict[str, str] = {}
    with pytest.raises(ConfigError, match=r"^compute.cpu_isa must be one of \['avx2', 'native'\], got 'avx512'$"):
        cpu_isa.pin("avx512", environ)
    assert environ == {}


def test_mkls_avx2_branch_is_expected_on_intel_cpus_only():
    assert cpu_isa.expected_mkl_branch("GenuineIntel") == "AVX2"
    assert cpu_isa.expected_mkl_branch("AuthenticAMD") == cpu_isa.expected_mkl_branch("unknown") == "AUTO"


def test_the_capability_is_read_from_the_cpu_flags(tmp_path):
    avx2 = cpu_isa.cpu_capability(fake_cpuinfo(tmp_path, " ".join(cpu_isa.AVX2_FLAGS)))
    assert avx2["level"] == "avx2" and avx2["vendor"] == "TestVendor" and avx2["model"] == "Test CPU"
    avx512 = cpu_isa.cpu_capability(fake_cpuinfo(tmp_path, " ".join(cpu_isa.AVX2_FLAGS + cpu_isa.AVX512_FLAGS)))
    assert avx512["level"] == "avx512" and avx512["flags"] == list(cpu_isa.AVX2_FLAGS + cpu_isa.AVX512_FLAGS)
    assert cpu_isa.cpu_capability(tmp_path / "missing")["level"] == "below avx2"


def test_a_cpu_without_avx2_is_refused_and_native_runs_there(tmp_path):
    old_cpu = fake_cpuinfo(tmp_path, "avx")  # e.g. Sandy Bridge: AVX, no AVX2
    environ = {"ATEN_CPU_CAPABILITY": "avx512"}
    refusal = r"avx2 needs an x86-64 CPU with AVX2 .* lacks \['avx2', 'fma'.*: native"
    with pytest.raises(cpu_isa.CpuIsaError, match=refusal):
        cpu_isa.pin("avx2", environ, old_cpu)
    assert environ == {"ATEN_CPU_CAPABILITY": "avx512"}  # refused: nothing changed
    cpu_isa.pin("native", environ, old_cpu)
    assert environ == {cpu_isa.PIN_MARKER: "native"}  # native: every library picks by CPU


def test_pinning_sets_every_variable_and_native_clears_them(tmp_path):
    environ = {"MKL_CBWR": "COMPATIBLE", "HOME": "/home/x"}
    cpu_isa.pin("avx2", environ, fake_cpuinfo(tmp_path, " ".join(cpu_isa.AVX2_FLAGS)))
    assert environ == {**cpu_isa.AVX2_ENVIRONMENT, "HOME": "/home/x", cpu_isa.PIN_MARKER: "avx2"}
    cpu_isa.pin("native", environ)
    assert environ == {"HOME": "/home/x", cpu_isa.PIN_MARKER: "native"}


def test_the_step_module_imports_no_numerical_library():
    """The pin must come first: importing the step entry point loads neither torch nor numpy."""
    code = "import sys, analog_tl.steps.context; print([m for m in ('torch', 'numpy', 'aihwkit') if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], env=CHILD_ENV, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


@needs_avx2
def test_the_pin_reaches_every_library():
    record = measure("avx2")["cpu_isa"]
    assert record["pin"] == "avx2" and record["environment"] == cpu_isa.AVX2_ENVIRONMENT
    reported = record["reported"]
    assert reported["aten"] == "AVX2" and reported["numpy"] == ["X86_V3"]
    assert reported["mkl_cnr"] == cpu_isa.expected_mkl_branch(cpu_isa.cpu_capability()["vendor"]), reported
    for name in ("onednn_convolution", "onednn_gelu"):
        assert "avx2" in reported[name] and "512" not in reported[name], reported
    assert reported["openblas"] and set(reported["openblas"].values()) == {"Haswell"}, reported["openblas"]


@needs_avx2
def test_the_pinned_result_is_identical_run_to_run(pinned_run):
    assert measure("avx2")["sha256"] == pinned_run[0]["sha256"]


@needs_avx2
@pytest.mark.parametrize(
    "variable, value", [("ATEN_CPU_CAPABILITY", "default"), ("MKL_CBWR", "COMPATIBLE"), ("ONEDNN_MAX_CPU_ISA", "SSE41")]
)
def test_each_library_switch_changes_the_result(variable, value):
    """Another code path in any one library (levels every x86-64 CPU has) gives other weights: each pin is needed."""
    changed = tuple({**cpu_isa.AVX2_ENVIRONMENT, variable: value}.items())
    assert measure(None, changed)["sha256"] != measure("avx2")["sha256"]


@needs_avx512
def test_this_machines_native_code_gives_other_weights_than_the_pin():
    """What an AVX-512 and an AVX2 machine would disagree on, unpinned; the record says which code ran."""
    assert measure("native")["sha256"] != measure("avx2")["sha256"]
    record = measure("native")["cpu_isa"]
    assert record["pin"] == "native" and record["environment"] == dict.fromkeys(cpu_isa.PINNED_VARIABLES)
    assert record["reported"]["aten"] == "AVX512" and record["reported"]["mkl_cnr"] == "OFF"


@needs_avx512
def test_a_library_loaded_before_the_pin_is_refused():
    """torch used (ATen's choice made) and numpy imported before pin(): check_pinned names both, never a silent run."""
    code = "import torch; torch.ones(3).sum(); from analog_tl.cpu_isa import *; pin('avx2'); check_pinned('avx2')"
    result = subprocess.run([sys.executable, "-c", code], env=CHILD_ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    error = "CpuIsaError: compute.cpu_isa: avx2 did not reach {'torch ATen': 'AVX512', 'numpy': ['X86_V3', 'X86_V4'"
    assert result.stderr.splitlines()[-1].startswith(f"analog_tl.errors.{error}")


@needs_avx2
def test_a_workflow_jobs_run_json_records_the_cpu_the_pin_and_each_librarys_choice(pinned_run):
    measured, folder = pinned_run
    record = json.loads((folder / "run.json").read_text())["device"]["cpu_isa"]
    assert set(record) == {"cpu", "pin", "environment", "reported"}
    assert record["cpu"] == cpu_isa.cpu_capability() and record["pin"] == "avx2"
    assert record["reported"] == measured["cpu_isa"]["reported"]
    assert set(record["reported"]) == {"aten", "onednn_convolution", "onednn_gelu", "mkl_cnr", "openblas", "numpy"}
