"""Run a library step inside a Snakemake ``script:`` job: logging, threads, the library's origin, clean errors."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from analog_tl import cpu_isa
from analog_tl.errors import AnalogTLError, ConfigError, first_line
from analog_tl.gpu_slots import job_gpu, jobs_per_gpu

log = logging.getLogger("analog_tl")


def configure_threads(threads: int) -> None:
    """Limit torch, OpenMP and BLAS (aihwkit) to ``threads`` threads; call before importing aihwkit."""
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)


def configure_logging(log_path: str | None) -> None:
    """Log INFO and above to ``log_path`` (if given) and to stderr, with timestamps."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )


def check_library(script_dir: str | None) -> None:
    """Fail if ``analog_tl`` was imported from somewhere else than the workflow's own ``src/analog_tl``.

    The step scripts reach the checkout's library through ``scripts/analog_tl``
    (a link to ``src/analog_tl``); an installed copy earlier on ``sys.path``
    would silently run other code than the checkout's.
    """
    if script_dir is None:
        return
    import analog_tl

    imported = Path(analog_tl.__file__).resolve().parent
    expected = (Path(script_dir) / "analog_tl").resolve()
    if imported != expected:
        raise ConfigError(
            f"this job imported analog_tl from {imported}, not from the workflow's checkout {expected}; "
            "remove the other copy from the environment (or install this checkout with `pip install -e .`)"
        )


def gpu_slot(snakemake) -> contextlib.AbstractContextManager:  # type: ignore[no-untyped-def]
    """A GPU job's GPU slot (its rule declares ``resources: gpu_jobs``; :mod:`analog_tl.gpu_slots`); none for others."""
    if not getattr(getattr(snakemake, "resources", None), "gpu_jobs", 0):
        return contextlib.nullcontext()
    return job_gpu(jobs_per_gpu(snakemake.config), os.environ)


def _log_traceback_to_files(error: BaseException) -> None:
    """Write ``error``'s traceback to the job's log file(s) only, not to the console."""
    record = logging.LogRecord(
        log.name, logging.ERROR, __file__, 0, "unexpected %s, traceback:", (type(error).__name__,),
        (type(error), error, error.__traceback__),
    )
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


@contextlib.contextmanager
def snakemake_step(snakemake) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Set up a job from the ``snakemake`` object and report its errors.

    The job's CPU code path is pinned first (``compute.cpu_isa``,
    :mod:`analog_tl.cpu_isa`). A GPU job then takes its GPU slot
    (:func:`gpu_slot`), before torch is imported, and holds it until the job ends.

    The project's own errors (:class:`~analog_tl.errors.AnalogTLError`: config,
    data, checksum, device, divergence) end as one line in the log and on the
    console, exit status 1. Any other exception is a bug or a resource problem
    (a shape mismatch, CUDA out of memory): its full traceback goes to the job's
    log and the console gets one line that points there (without a log file,
    the exception propagates with its traceback).
    """
    log_path = snakemake.log[0] if snakemake.log else None
    configure_logging(log_path)
    try:
        cpu_level = cpu_isa.configured_level(getattr(snakemake, "config", {}))
        cpu_isa.pin(cpu_level)  # before torch, numpy and aihwkit load: each reads its pin once, when it initialises
        with gpu_slot(snakemake):
            configure_threads(snakemake.threads)
            cpu_isa.check_pinned(cpu_level)
            check_library(getattr(snakemake, "scriptdir", None))
            yield
    except AnalogTLError as error:
        log.error("%s: %s", type(error).__name__, error)
        sys.exit(1)
    except Exception as error:
        if not log_path:
            raise
        _log_traceback_to_files(error)
        print(
            f"analog_tl: unexpected {first_line(error)} (not an input problem the workflow knows; "
            f"full traceback in {log_path})",
            file=sys.stderr,
        )
        sys.exit(1)


def run_context(snakemake, section: str):  # type: ignore[no-untyped-def]
    """The job's :class:`~analog_tl.training.runner.RunContext`: device, TF32, resume, execution settings, the config.

    All come from ``snakemake.config``, not from ``params``: they do not change
    what a run computes, so changing them must not rerun finished jobs.
    ``section`` (``pretrain`` or ``finetune``) holds the job's execution settings.
    """
    from analog_tl.config import ExecutionConfig, from_dict
    from analog_tl.training.resume import ResumeConfig
    from analog_tl.training.runner import RunContext
    from analog_tl.vocabulary import EXECUTION_KEYS

    config = snakemake.config  # the schema fills every section
    execution = {key: config[section][key] for key in EXECUTION_KEYS}
    return RunContext(
        device=config["compute"]["device"],
        tf32=config["compute"]["tf32"],
        resume=from_dict(ResumeConfig, config["resume"]),
        execution=from_dict(ExecutionConfig, execution),
        workflow_config=dict(config),
    )


def training_fields(snakemake, section: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What every training job (:class:`~analog_tl.training.jobs.TrainingJob`) reads the same way from its Snakemake
    job: the prepared data (``input.data``), the model and training settings (``params.model``, ``params.train``),
    the run folder (the first output's folder) and the :func:`run_context` of config section ``section``."""
    from analog_tl.config import ModelConfig, TrainConfig, from_dict

    return {
        "data_path": snakemake.input.data,
        "model_cfg": from_dict(ModelConfig, snakemake.params.model),
        "train_cfg": from_dict(TrainConfig, snakemake.params.train),
        "out_dir": Path(snakemake.output[0]).parent,
        "context": run_context(snakemake, section),
    }


def transfer_of(snakemake, tau: float):  # type: ignore[no-untyped-def]
    """The job's :class:`~analog_tl.steps.jobs.Transfer`: its pre-trained model and noise seeds (``params``) with
    transfer noise ``tau`` (weight units; from a wildcard or a parameter, as the rule has it)."""
    from analog_tl.steps.jobs import Transfer

    params = snakemake.params
    return Transfer(pretrained_dir=params.pretrained_dir, tau=float(tau), noise_seed=params.noise_seed,
                    head_noise=params.head_transfer_noise)
