"""Run a library step inside a Snakemake ``script:`` job: logging, threads, clean errors."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

USER_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError, RuntimeError)


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


@contextlib.contextmanager
def snakemake_step(snakemake) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Set up a job from the ``snakemake`` object; turn user errors into one logged line and exit 1."""
    configure_logging(snakemake.log[0] if snakemake.log else None)
    configure_threads(snakemake.threads)
    try:
        yield
    except USER_ERRORS as error:
        logging.getLogger("analog_tl").error("%s: %s", type(error).__name__, error)
        sys.exit(1)


def run_context(snakemake):  # type: ignore[no-untyped-def]
    """The job's :class:`~analog_tl.training.runner.RunContext`: device, resume settings, the whole workflow config.

    All come from ``snakemake.config``, not from ``params``: they do not change
    what a run computes, so changing them must not rerun finished jobs.
    """
    from analog_tl.config import from_dict
    from analog_tl.training.resume import ResumeConfig
    from analog_tl.training.runner import RunContext

    return RunContext(
        device=snakemake.config["compute"]["device"],  # the schema fills both sections
        resume=from_dict(ResumeConfig, snakemake.config["resume"]),
        workflow_config=dict(snakemake.config),
    )
