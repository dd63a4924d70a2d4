"""The training loop shared by digital and analog runs.

One loop serves every mode: the model (digital ``nn.Module`` or aihwkit
analog model) and a factory for its optimiser come from the caller. Each epoch yields one
:class:`EpochMetrics`; epoch 0 is the model before any update.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from analog_tl.config import ExecutionConfig, TrainConfig
from analog_tl.data.batches import eval_batches, steps_per_epoch, train_batches
from analog_tl.data.prepared import LabelledImages, PreparedData
from analog_tl.errors import DivergenceError
from analog_tl.training.resume import ResumeStore, restore_model, rng_state, set_rng_state

log = logging.getLogger(__name__)


@dataclass
class EpochMetrics:
    """Metrics after one epoch; errors are fractions in [0, 1], losses are mean cross-entropy (nats).

    ``train_loss`` is the running mean over the epoch's steps (NaN at epoch 0);
    ``val_loss`` is the validation set's, after the epoch.
    """

    epoch: int
    train_loss: float
    train_error: float
    val_error: float
    val_loss: float
    test_error: float
    seconds: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict, for tables."""
        return asdict(self)


@torch.no_grad()
def evaluate(model: nn.Module, data: LabelledImages, batch_size: int, device: torch.device) -> tuple[float, float]:
    """``(error, loss)`` of ``model`` on ``data``: the fraction misclassified and the mean cross-entropy (nats).

    Through the analog forward pass, if analog; NaN loss for empty ``data``.
    """
    model.eval()
    wrong, loss = 0, 0.0
    for x, y in eval_batches(data, batch_size):
        logits, y = model(x.to(device)), y.to(device)
        wrong += int((logits.argmax(dim=1) != y).sum())
        loss += float(nn.functional.cross_entropy(logits.float(), y, reduction="sum"))
    return wrong / max(len(data), 1), loss / len(data) if len(data) else math.nan


def error_rate(model: nn.Module, data: LabelledImages, batch_size: int, device: torch.device) -> float:
    """Fraction of ``data`` that ``model`` misclassifies (:func:`evaluate`'s error)."""
    return evaluate(model, data, batch_size, device)[0]


def _format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def lr_factor(step: int, total_steps: int, config: TrainConfig, steps_per_epoch_: int) -> float:
    """Multiplier of the base learning rate at optimiser step ``step`` (0-based)."""
    warmup = round(config.warmup_epochs * steps_per_epoch_)
    if step < warmup:
        return (step + 1) / warmup
    if config.lr_schedule == "cosine":
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    if config.lr_schedule == "constant":
        return 1.0
    raise ValueError(f"unknown lr_schedule {config.lr_schedule!r}; use constant or cosine")


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, n_train: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: linear warm-up over ``warmup_epochs``, then constant or cosine decay to 0."""
    per_epoch = steps_per_epoch(n_train, config.batch_size)
    total = per_epoch * config.epochs
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total, config, per_epoch))


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: LabelledImages,
    config: TrainConfig,
    epoch: int,
    device: torch.device,
    label: str,
    log_every_steps: int = 50,
) -> tuple[float, float]:
    """One pass over ``data``; returns (mean loss, running error) of the epoch."""
    model.train()
    loss_fn = nn.CrossEntropyLoss()
    total_loss, wrong, seen = 0.0, 0, 0
    n_steps = steps_per_epoch(len(data), config.batch_size)
    start = time.perf_counter()
    for step, (x, y) in enumerate(train_batches(data, config.batch_size, config.seed, epoch, config.augment), 1):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        if not torch.isfinite(loss):
            raise DivergenceError(
                f"{label}: training loss is {loss.item()} at epoch {epoch}, step {step}; "
                f"lower the learning rate (now {config.lr})"
            )
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(y)
        wrong += int((logits.argmax(dim=1) != y).sum())
        seen += len(y)
        if step % log_every_steps == 0 and step < n_steps:
            rate = step / (time.perf_counter() - start)
            log.info(
                "%s epoch %d step %d/%d loss %.4f | %.2f steps/s, epoch ends in %s",
                label, epoch, step, n_steps, total_loss / seen, rate, _format_seconds((n_steps - step) / rate),
            )
    return total_loss / max(seen, 1), wrong / max(seen, 1)


OptimizerFactory = Callable[[nn.Module], torch.optim.Optimizer]


def _restore(
    store: ResumeStore | None, model: nn.Module, make_optimizer: OptimizerFactory, config: TrainConfig, n_train: int,
    device: torch.device,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR, list[EpochMetrics]]:
    """Optimiser, schedule and history: fresh, or restored from the newest good state in ``store``.

    The model is restored first (analog tiles included) and moved to ``device``,
    then the optimiser is built on its parameters, then the optimiser state,
    the schedule and the random generators are put back.
    """
    state = store.load() if store is not None else None
    if state is not None:
        restore_model(model, state["model"])
    model.to(device)
    optimizer = make_optimizer(model)
    scheduler = make_scheduler(optimizer, config, n_train)
    if state is None:
        return optimizer, scheduler, []
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    # States saved before the validation loss was recorded lack it.
    return optimizer, scheduler, [EpochMetrics(**{"val_loss": math.nan, **m}) for m in state["history"]]


def _save(
    store: ResumeStore, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
    history: list[EpochMetrics],
) -> None:
    """Save everything needed to continue after the last epoch of ``history``."""
    store.save(
        history[-1].epoch,
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(),
            "history": [m.as_dict() for m in history],
        },
    )


def fit(
    model: nn.Module,
    make_optimizer: OptimizerFactory,
    data: PreparedData,
    config: TrainConfig,
    device: torch.device,
    label: str,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    store: ResumeStore | None = None,
    execution: ExecutionConfig = ExecutionConfig(),
) -> list[EpochMetrics]:
    """Train for ``config.epochs`` epochs; evaluate before training and after every epoch.

    The model is moved to ``device`` before ``make_optimizer(model)`` builds
    the optimiser. With a ``store``, training resumes after the newest saved
    epoch and saves state at the store's interval.
    Returns one :class:`EpochMetrics` per epoch, epoch 0 being the initial model.
    ``on_epoch`` is called with each epoch's metrics as soon as they exist.
    ``execution`` sets the evaluation batch size and the progress-line interval.

    Raises:
        DivergenceError: if the loss becomes NaN or infinite.
    """
    optimizer, scheduler, history = _restore(store, model, make_optimizer, config, len(data.train), device)
    first = history[-1].epoch + 1 if history else 0
    if first:
        log.info("%s: resumed after epoch %d of %d", label, first - 1, config.epochs)
    run_start = time.perf_counter()
    for epoch in range(first, config.epochs + 1):
        epoch_start = time.perf_counter()
        if epoch == 0:
            train_loss = math.nan
            train_error = error_rate(model, data.train, execution.eval_batch_size, device)
        else:
            train_loss, train_error = train_one_epoch(
                model, optimizer, scheduler, data.train, config, epoch, device, label, execution.log_every_steps
            )
        val_error, val_loss = evaluate(model, data.val, execution.eval_batch_size, device)
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=train_loss,
            train_error=train_error,
            val_error=val_error,
            val_loss=val_loss,
            test_error=error_rate(model, data.test, execution.eval_batch_size, device),
            seconds=time.perf_counter() - epoch_start,
        )
        history.append(metrics)
        done = epoch - first + 1 if epoch else 0
        remaining = (time.perf_counter() - run_start) / done * (config.epochs - epoch) if done else math.nan
        log.info(
            "%s epoch %d/%d loss %.4f train_err %.4f val_err %.4f val_loss %.4f test_err %.4f | %.1fs, %.1f img/s, %s left",
            label, epoch, config.epochs, train_loss, train_error, val_error, val_loss, metrics.test_error,
            metrics.seconds, len(data.train) / metrics.seconds if epoch else math.nan,
            _format_seconds(remaining) if done else "?",
        )
        if store is not None and store.due(epoch, config.epochs):
            _save(store, model, optimizer, scheduler, history)
        if on_epoch is not None:
            on_epoch(metrics)
    return history
