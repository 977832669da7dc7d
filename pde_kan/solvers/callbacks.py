"""Callbacks: progress, history files, periodic checkpoints, early stopping.

The trainer calls ``on_start``, ``on_step`` (after every accepted step with its logs), ``on_eval`` (after each
evaluation) and ``on_end``. A callback may set ``trainer.stop_reason`` to end the run early.
"""
from __future__ import annotations

import csv
import io
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .._checks import positive_int
from .._io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

log = logging.getLogger("pde_kan")


class Callback:
    def on_start(self, trainer: "Trainer") -> None: ...

    def on_step(self, trainer: "Trainer", logs: dict) -> None: ...

    def on_eval(self, trainer: "Trainer", metrics: dict) -> None: ...

    def on_end(self, trainer: "Trainer") -> None: ...


class ProgressBar(Callback):
    """A tqdm bar over the run's steps showing the loss and the latest error metric."""

    def __init__(self, desc: str = "train", metric: Optional[str] = None, leave: bool = True, **tqdm_kwargs):
        self.desc, self.metric, self.leave, self.kw = desc, metric, leave, tqdm_kwargs
        self.bar = None
        self.last_metric: Optional[str] = None

    def on_start(self, trainer):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=trainer.config.total_steps, initial=trainer.step, desc=self.desc, leave=self.leave,
                        dynamic_ncols=True, **self.kw)

    def on_step(self, trainer, logs):
        post = {"loss": f"{logs['loss']:.3e}"}
        if self.last_metric:
            post[self.metric] = self.last_metric
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def on_eval(self, trainer, metrics):
        if self.metric is None:
            self.metric = next(iter(metrics), None)
        if self.metric in metrics:
            self.last_metric = f"{metrics[self.metric]:.3e}"

    def on_end(self, trainer):
        if self.bar is not None:
            self.bar.close()


class HistoryCSV(Callback):
    """Write the history (one row per step, evaluation metrics where measured) to ``path`` at each evaluation
    and at the end, atomically."""

    def __init__(self, path):
        self.path = Path(path)

    def _write(self, trainer):
        rows = trainer.history
        keys: list[str] = []
        for r in rows:
            keys.extend(k for k in r if k not in keys)
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
        atomic_write(self.path, lambda tmp: tmp.write_text(buf.getvalue()))

    def on_eval(self, trainer, metrics):
        self._write(trainer)

    def on_end(self, trainer):
        self._write(trainer)


class Checkpoint(Callback):
    """Save ``directory/last.pt`` every ``every`` steps and at the end (atomic; resumable)."""

    def __init__(self, directory, every: int = 500):
        self.directory = Path(directory)
        self.every = positive_int("every", every, owner="Checkpoint")

    @property
    def path(self) -> Path:
        return self.directory / "last.pt"

    def on_step(self, trainer, logs):
        if trainer.step % self.every == 0:
            trainer.save_checkpoint(self.path)

    def on_end(self, trainer):
        trainer.save_checkpoint(self.path)


class EarlyStopping(Callback):
    """Stop once an evaluation metric reaches ``target`` (``metric <= target``, or ``>=`` with mode="max")."""

    def __init__(self, target: float, metric: str = "rel_l2", mode: str = "min"):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}.")
        self.target, self.metric, self.mode = float(target), metric, mode

    def on_eval(self, trainer, metrics):
        if self.metric not in metrics:
            raise ValueError(f"EarlyStopping: metric {self.metric!r} is not reported by this task; "
                             f"available: {sorted(metrics)}.")
        v = metrics[self.metric]
        if (v <= self.target) if self.mode == "min" else (v >= self.target):
            trainer.stop_reason = f"{self.metric}={v:.3e} reached target {self.target:.3e}"


class LogMetrics(Callback):
    """Log each evaluation through the ``pde_kan`` logger (INFO), one line a batch job can follow:
    ``step 500/5000  loss 3.1e-04  rel_l2 2.2e-03 ...  lr 1.0e-03  41.3 steps/s``."""

    _pending: Optional[dict] = None
    _mark: Optional[tuple[int, float]] = None

    def on_start(self, trainer):
        self._pending = None
        self._mark = (trainer.step, time.perf_counter())

    def on_eval(self, trainer, metrics):
        self._pending = dict(metrics)  # logged with this step's loss from on_step (or on_end for the last one)

    def on_step(self, trainer, logs):
        if self._pending is not None:
            self._log(trainer, logs)

    def on_end(self, trainer):
        if self._pending is not None:
            self._log(trainer, trainer.history[-1] if trainer.history else {})

    def _log(self, trainer, row):
        now = time.perf_counter()
        step0, t0 = self._mark or (trainer.step, now)
        rate = (trainer.step - step0) / (now - t0) if now > t0 and trainer.step > step0 else float("nan")
        parts = [f"step {trainer.step}/{trainer.config.total_steps}"]
        parts += [f"{k} {row[k]:.3e}" for k in ("loss", "loss_pde", "loss_bc", "loss_ic") if k in row]
        parts += [f"{k} {v:.3e}" for k, v in self._pending.items()]
        groups = trainer.optimizer.param_groups
        if groups:
            parts.append(f"lr {groups[0]['lr']:.2e}")
        parts.append(f"{rate:.1f} steps/s")
        log.info("  ".join(parts))
        self._pending = None
        self._mark = (trainer.step, now)
