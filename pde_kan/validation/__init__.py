"""Validation suites: Feynman function fitting, image classification (fully connected and convolutional),
analytic PDE cases, and the :class:`Report` they return.

Every suite has the one shape of :class:`~pde_kan.validation.suite.Suite` (built with what it runs over, run
with ``suite.run(backbones, config=None, callbacks=None)``, callbacks ``(task, backbone) -> callbacks``, rows
with ``task``, ``backbone``, ``params``, ``seconds``) and one entry point returning a :class:`Report` (the
``pde-kan validate`` command calls them): :func:`run_feynman`, :func:`run_images`, :func:`run_pde`. All training
goes through :func:`pde_kan.solvers.fit` / :func:`pde_kan.solvers.solve`. The convolutional KAN layers live in
:mod:`pde_kan.nn.conv`.
"""
from .feynman import (Equation, FeynmanData, FunctionFittingSuite, available_equations, dataset, feynman_config,
                      get_equation, reference_backbones, run_feynman)
from .images import (DIGITS, REFERENCE, DataFileError, ImageClassifier, ImageData, ImagePreset, ImageSuite,
                     available_datasets, load_cifar10, load_dataset, load_digits, load_idx_dataset, make_classifier,
                     read_idx, run_images, train_config)
from .pde import PDESuite, make_problem, pde_config, pde_sampling, run_pde
from .report import Report
from .suite import ROW_KEYS, Suite, backbone_kwargs

__all__ = [  # public names only; internals stay importable from their modules
    "DIGITS", "DataFileError", "Equation", "FeynmanData", "FunctionFittingSuite", "ImageClassifier", "ImageData",
    "ImagePreset", "ImageSuite", "PDESuite", "REFERENCE", "ROW_KEYS", "Report", "Suite", "available_datasets",
    "available_equations", "backbone_kwargs", "dataset", "feynman_config", "get_equation", "load_cifar10",
    "load_dataset", "load_digits", "load_idx_dataset", "make_classifier", "make_problem", "pde_config", "pde_sampling",
    "read_idx", "reference_backbones", "run_feynman", "run_images", "run_pde", "train_config",
]
