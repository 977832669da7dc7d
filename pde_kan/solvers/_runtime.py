"""What the training loop needs from the process (private): Ctrl-C handling and peak-memory counters."""
from __future__ import annotations

import contextlib
import logging
import resource
import signal
import sys
import threading
from typing import TYPE_CHECKING, Optional

import torch

if TYPE_CHECKING:  # pragma: no cover
    from .trainer import Trainer

log = logging.getLogger("pde_kan")

INTERRUPTED = "interrupted (SIGINT)"


@contextlib.contextmanager
def stop_on_interrupt(trainer: "Trainer"):
    """While the loop runs, the first Ctrl-C (SIGINT) ends training after the current step: the run is
    evaluated and returned (and saved by its caller) with ``stop_reason = INTERRUPTED``, so no finished step
    is lost. A second Ctrl-C aborts at once (the previous handler is back). Only in the main thread of a
    single-process run; under torchrun every rank must stop at the same step, so SIGINT keeps its default
    behaviour there."""
    if threading.current_thread() is not threading.main_thread() or trainer.distributed is not None:
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        signal.signal(signal.SIGINT, previous)
        log.warning("interrupted: stopping at the end of the current step (Ctrl-C again to abort now)")
        trainer.stop_reason = INTERRUPTED

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def reset_peak_memory(device: torch.device) -> None:
    """Start a new peak-memory window: CUDA allocator stats, or the process high-water mark on Linux."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: writing 5 to clear_refs resets VmHWM (the peak RSS) of this process
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def proc_status_mb(field: str) -> Optional[float]:
    """A memory counter of this process from ``/proc/self/status`` in MiB (``"VmRSS"``: resident now,
    ``"VmHWM"``: peak resident), or None where it cannot be read (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**10
    except OSError:
        pass
    return None


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory since :func:`reset_peak_memory`: CUDA allocator peak on GPU, process peak RSS on CPU (MiB;
    where the high-water mark cannot be reset, the process's lifetime peak)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = proc_status_mb("VmHWM")
    if peak is not None:
        return peak
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10
