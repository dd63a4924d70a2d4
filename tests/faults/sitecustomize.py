"""TEST DOUBLE for fault injection: SIGKILLs a Snakemake run at a chosen point of one training job.

The kill tests put this folder first on ``PYTHONPATH``; Python imports it at
start-up in every process. It does nothing unless ``ANALOG_TL_FAULT`` is set
and the process is the Snakemake script job named by ``ANALOG_TL_FAULT_SCRIPT``
(e.g. ``finetune_digital``). It then kills the whole process group (Snakemake
and all its jobs, as a wall-time limit or a node failure would) at:

- ``step:N``         the N-th training mini-batch of the job (inside an epoch);
- ``after_state:N``  right after the N-th resumable state is in place (between epochs);
- ``state_write:N``  half-way through writing the N-th resumable state.

Never used outside the tests.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _kill() -> None:
    sys.stderr.write(f"FAULT INJECTED ({os.environ['ANALOG_TL_FAULT']}): SIGKILL to process group\n")
    sys.stderr.flush()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def _install(kind: str, count: int, loop) -> None:  # noqa: ANN001 - the module analog_tl.training.loop
    """Patch the just-imported training loop (and the resume store it imported) to kill at the fault point."""
    import torch

    from analog_tl.training import resume

    seen = {"n": 0}

    def hit() -> bool:
        seen["n"] += 1
        return seen["n"] == count

    if kind == "step":
        original_batches = loop.train_batches

        def train_batches(*args, **kwargs):  # type: ignore[no-untyped-def]
            for batch in original_batches(*args, **kwargs):
                if hit():
                    _kill()
                yield batch

        loop.train_batches = train_batches
    elif kind == "after_state":
        original_save = resume.ResumeStore.save

        def save(self, epoch, payload):  # type: ignore[no-untyped-def]
            path = original_save(self, epoch, payload)
            if hit():
                _kill()
            return path

        resume.ResumeStore.save = save
    elif kind == "state_write":
        original_torch_save = torch.save

        def torch_save(obj, path, *args, **kwargs):  # type: ignore[no-untyped-def]
            original_torch_save(obj, path, *args, **kwargs)
            if ".tmp-" in str(path) and "epoch-" in str(path) and hit():
                with open(path, "r+b") as handle:
                    handle.truncate(os.path.getsize(path) // 2)
                _kill()

        resume.torch.save = torch_save


_fault = os.environ.get("ANALOG_TL_FAULT")
_script = os.environ.get("ANALOG_TL_FAULT_SCRIPT", "")
if _fault and _script and any(arg.endswith(f".{_script}.py") for arg in sys.argv[:1]):
    _kind, _count = _fault.split(":")
    if _kind not in ("step", "after_state", "state_write"):
        raise ValueError(f"ANALOG_TL_FAULT: unknown fault kind {_kind!r}")
    # Installed when the step imports its training loop, after it pinned the CPU code path: importing torch
    # here, at start-up, would load it before the pin (analog_tl.cpu_isa), which the step refuses.
    sys.path.append(str(Path(__file__).resolve().parents[1] / "doubles"))
    from patch_on_import import patch_on_import

    patch_on_import("analog_tl.training.loop", lambda loop: _install(_kind, int(_count), loop))
