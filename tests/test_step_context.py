"""analog_tl.steps.context: one line for the project's errors, full tracebacks in the log for anything else."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from analog_tl.errors import AnalogTLError, ConfigError, DataError
from analog_tl.steps.context import check_library

REPO = Path(__file__).resolve().parents[1]


def _run_step(tmp_path: Path, body: str, with_log: bool = True) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``body`` inside ``snakemake_step`` in a fresh interpreter, as a Snakemake script job would."""
    log = tmp_path / "logs" / "job.log"
    script = textwrap.dedent(f"""
        from types import SimpleNamespace
        from analog_tl.steps.context import snakemake_step
        snakemake = SimpleNamespace(log=[{str(log)!r}] if {with_log} else [], threads=1, scriptdir={str(REPO / 'scripts')!r})
        with snakemake_step(snakemake):
            def inner():
        """) + textwrap.indent(textwrap.dedent(body), " " * 8) + "\n    inner()\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    return result, log.read_text() if log.exists() else ""


@pytest.mark.parametrize(
    "raise_line, kind",
    [
        ("from analog_tl.data.sources import DataSourceError; raise DataSourceError('data.pretrain_path: x does not exist')",
         "DataSourceError"),
        ("from analog_tl.training.loop import DivergenceError; raise DivergenceError('training loss is nan')",
         "DivergenceError"),
        ("from analog_tl.errors import ChecksumError; raise ChecksumError('model.pt: SHA-256 differs')", "ChecksumError"),
        ("from analog_tl.simulator.settings import SimulatorScopeError; raise SimulatorScopeError('not simulated')",
         "SimulatorScopeError"),
    ],
)
def test_a_project_error_ends_as_one_line_without_traceback(tmp_path, raise_line, kind):
    result, log = _run_step(tmp_path, raise_line)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "Traceback" not in log
    (line,) = [l for l in result.stderr.splitlines() if "ERROR" in l]
    assert f"ERROR analog_tl: {kind}: " in line and line in log


@pytest.mark.parametrize(
    "raise_line, kind",
    [
        ("import torch; torch.zeros(2, 3) @ torch.zeros(4, 5)", "RuntimeError"),  # a shape mismatch: a bug
        ("raise ValueError('bad value inside the library')", "ValueError"),
        ("raise FileNotFoundError('results/missing.npz')", "FileNotFoundError"),
        ("raise KeyError('w_max')", "KeyError"),
    ],
)
def test_any_other_exception_keeps_its_traceback_in_the_log_and_one_pointer_line_on_the_console(
    tmp_path, raise_line, kind
):
    result, log = _run_step(tmp_path, raise_line)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in log and 'line ' in log and "in inner" in log  # file, line, function
    assert f"{kind}" in log.splitlines()[-1]
    assert "Traceback" not in result.stderr
    (pointer,) = [l for l in result.stderr.splitlines() if l.startswith("analog_tl: unexpected")]
    assert kind in pointer and str(tmp_path / "logs" / "job.log") in pointer


def test_without_a_log_file_an_unexpected_exception_propagates_with_its_traceback(tmp_path):
    result, _ = _run_step(tmp_path, "raise ValueError('no log file')", with_log=False)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr and "ValueError: no log file" in result.stderr


def test_every_project_error_type_derives_from_the_base_class():
    from analog_tl.analog.devices import AnalogConfigError
    from analog_tl.data.prepared import ChecksumError
    from analog_tl.data.sources import DataSourceError
    from analog_tl.simulator.kernel import KernelBuildError
    from analog_tl.simulator.settings import SimulatorScopeError
    from analog_tl.training.device import DeviceError
    from analog_tl.training.loop import DivergenceError

    for error in (AnalogConfigError, ChecksumError, DataSourceError, KernelBuildError, SimulatorScopeError,
                  DeviceError, DivergenceError, ConfigError, DataError):
        assert issubclass(error, AnalogTLError), error
    assert not issubclass(RuntimeError, AnalogTLError) and not issubclass(ValueError, AnalogTLError)


def test_the_library_must_be_the_workflows_own_copy(tmp_path):
    check_library(str(REPO / "scripts"))  # the checkout's: scripts/analog_tl links to src/analog_tl
    other = tmp_path / "scripts"
    other.mkdir()
    (tmp_path / "src" / "analog_tl").mkdir(parents=True)
    (other / "analog_tl").symlink_to(tmp_path / "src" / "analog_tl")
    with pytest.raises(ConfigError, match="imported analog_tl from .* not from the workflow's checkout"):
        check_library(str(other))
