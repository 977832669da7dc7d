"""Training: TrainConfig and SamplingConfig, the one Trainer, fit() / solve(), callbacks, checkpoints, HDF5
results, plots."""
from ._runtime import INTERRUPTED, peak_memory_mb
from .callbacks import Callback, Checkpoint, EarlyStopping, HistoryCSV, LogMetrics, ProgressBar
from .checkpoint import load_checkpoint, save_checkpoint
from .config import SamplingConfig, TrainConfig
from .plots import plot_comparison, plot_history, plot_slice
from .results import Solution, load_solution
from .tasks import ControlVariateTask, PDETask, SupervisedTask, error_metrics
from .trainer import DivergenceError, Trainer, fit, solve

__all__ = [  # public names only; internals stay importable from their modules
    "Callback", "Checkpoint", "ControlVariateTask", "DivergenceError", "EarlyStopping", "HistoryCSV", "INTERRUPTED",
    "LogMetrics", "PDETask", "ProgressBar", "SamplingConfig", "Solution", "SupervisedTask", "TrainConfig",
    "Trainer", "error_metrics", "fit", "load_checkpoint", "load_solution", "peak_memory_mb", "plot_comparison",
    "plot_history", "plot_slice", "save_checkpoint", "solve",
]
