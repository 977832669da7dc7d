"""The image-classification suite: each backbone trained on one data set with the one training loop."""
from __future__ import annotations

import logging
import time
from typing import Any, Optional, Sequence

import torch

from ..._checks import choice, lookup
from ..report import Report
from ..suite import Callbacks, Suite, backbone_names, run_callbacks
from .data import load_dataset
from .models import (CONV_BACKBONES, FC_BACKBONES, IMAGE_BACKBONES, PRESETS, REFERENCE_RESULTS, input_stats,
                     make_classifier, train_config)

log = logging.getLogger("pde_kan")


class ImageSuite(Suite):
    """Train each backbone on one data set with the one training loop and report accuracy and size.

    Args:
        dataset: a name from :func:`available_datasets`; ``data_dir`` holds its files (not for ``"digits"``).
        preset: an :class:`ImagePreset` or a name from ``PRESETS`` (``"reference"``, ``"digits"``); None takes
            ``"digits"`` for the digits and ``"reference"`` for every other data set.
        epochs: overrides ``preset.epochs``.
        seed: data split, model and training seed.
        max_train, max_test: keep only the first examples (CPU-sized runs of the large sets).
        device: device of the preset's training configuration.
    """

    progress_metric = "test_accuracy"

    def __init__(self, dataset: str = "digits", data_dir=None, preset: Any = None, epochs: Optional[int] = None,
                 seed: int = 0, max_train: Optional[int] = None, max_test: Optional[int] = None,
                 device: str = "auto"):
        if preset is None:
            preset = "digits" if dataset == "digits" else "reference"
        if isinstance(preset, str):
            preset = lookup(PRESETS, "image preset", preset)
        self.dataset, self.preset, self.epochs, self.seed, self.device = dataset, preset, epochs, seed, device
        self.data = load_dataset(dataset, data_dir, seed=seed, max_train=max_train, max_test=max_test)

    def config(self, backbone: str):
        """The preset's :class:`~pde_kan.solvers.TrainConfig` for ``backbone`` (:func:`train_config`)."""
        return train_config(self.preset, self.data.x_train.shape[0], backbone, seed=self.seed, device=self.device,
                            epochs=self.epochs)

    def run(self, backbones: Any = FC_BACKBONES, config=None, callbacks: Optional[Callbacks] = None) -> Report:
        """Train and evaluate.

        Args:
            backbones: names from ``IMAGE_BACKBONES``.
            config: a :class:`~pde_kan.solvers.TrainConfig` for every backbone, or None for the preset's
                (:meth:`config`: Adam, MetaKAN's learning-rate groups).
            callbacks: ``(dataset, backbone) -> callbacks`` for each run.

        Returns:
            A :class:`Report` titled ``images/<dataset>`` with one row per backbone: ``task`` (= ``dataset``),
            ``test_accuracy``, ``train_accuracy``, ``params`` (trainable), ``params_ratio`` (to KAN's, when KAN
            is run), ``seconds``.
        """
        from ...solvers import SupervisedTask, fit

        names = backbone_names(backbones)
        for b in names:
            choice("backbone", b, IMAGE_BACKBONES, owner="run_images")
        data, preset, dataset, seed = self.data, self.preset, self.dataset, self.seed
        epochs = self.epochs or preset.epochs
        report = Report(f"images/{dataset}", metadata={
            "dataset": dataset, "source": data.source, "n_train": int(data.x_train.shape[0]),
            "n_test": int(data.x_test.shape[0]), "preset": preset.to_dict(), "epochs": epochs,
            "seed": seed, "reference_results": REFERENCE_RESULTS})
        stats = input_stats(data.x_train) if preset.input_norm == "standardize" else None
        if stats is not None:
            report.metadata["input_stats"] = {"mean": stats[0].tolist(), "std": stats[1].tolist()}
        for name in names:
            model = make_classifier(name, data.image_shape, data.n_classes, preset, seed=seed, dtype=torch.float32,
                                    stats=stats)
            run_config = self.config(name) if config is None else config
            conv = name in CONV_BACKBONES
            shape = (lambda t: t) if conv else (lambda t: t.reshape(t.shape[0], -1))
            task = SupervisedTask(shape(data.x_train), data.y_train, shape(data.x_test), data.y_test,
                                  loss="cross_entropy", batch_size=preset.batch_size)
            start = time.perf_counter()
            cbs = run_callbacks(callbacks, dataset, name)
            sol = fit(task, model, run_config, callbacks=cbs)
            seconds = time.perf_counter() - start
            report.add({"task": dataset, "dataset": dataset, "backbone": name,
                        "test_accuracy": sol.metrics["test_accuracy"], "train_accuracy": sol.metrics["train_accuracy"],
                        "params": model.n_parameters(), "epochs": epochs, "steps": int(sol.metrics["steps"]),
                        "seconds": seconds})
            log.info("images/%s %s: test accuracy %.4f, %d parameters, %.1f s", dataset, name,
                     sol.metrics["test_accuracy"], model.n_parameters(), seconds)
        base = {conv: next((r["params"] for r in report.rows if r["backbone"] == ("conv_kan" if conv else "kan")),
                           None) for conv in (False, True)}
        for r in report.rows:
            b = base[r["backbone"] in CONV_BACKBONES]
            if b:
                r["params_ratio"] = r["params"] / b
        return report


def run_images(dataset: str = "digits", data_dir=None, backbones: Sequence[str] = FC_BACKBONES,
               preset: Any = None, epochs: Optional[int] = None, seed: int = 0,
               max_train: Optional[int] = None, max_test: Optional[int] = None, device: str = "auto",
               out=None, progress: bool = False, callbacks: Optional[Callbacks] = None) -> Report:
    """:class:`ImageSuite` with the preset's training configuration; returns its :class:`Report`.

    Args:
        dataset, data_dir, preset, epochs, seed, max_train, max_test, device: see :class:`ImageSuite`.
        backbones: names from ``IMAGE_BACKBONES``.
        out: directory to save the report in (CSV, HDF5, text, figure); nothing is written without it.
        progress: a tqdm bar per run.
        callbacks: ``(dataset, backbone) -> callbacks`` for each backbone's run.
    """
    suite = ImageSuite(dataset, data_dir, preset=preset, epochs=epochs, seed=seed, max_train=max_train,
                       max_test=max_test, device=device)
    report = suite.run(backbones, callbacks=suite.callbacks_with_progress(callbacks, progress))
    if out is not None:
        report.save(out, x="params", y="test_accuracy")
    return report
