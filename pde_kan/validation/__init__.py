"""Validation suites: Feynman function fitting, image classification (fully connected and convolutional),
analytic PDE cases, and the :class:`Report` they return.

Each suite has one entry point returning a :class:`Report` (the ``pde-kan validate`` command calls them):
:func:`run_feynman`, :func:`run_images`, :func:`run_pde`. All training goes through
:func:`pde_kan.solvers.fit` / :func:`pde_kan.solvers.solve`.
"""
from .conv import CONV4, CONV8, ConvKANNet, ConvPreset, KANConv2d, conv_parameter_count, kan_conv2d, metakan_conv2d
from .feynman import (Equation, FeynmanData, FunctionFittingSuite, available_equations, dataset, feynman_config,
                      get_equation, reference_backbones, run_feynman)
from .images import (DIGITS, REFERENCE, DataFileError, ImageClassifier, ImageData, ImagePreset,
                     available_datasets, load_cifar10, load_dataset, load_digits, load_idx_dataset, make_classifier,
                     read_idx, run_images, train_config)
from .pde import PDESuite, make_problem, pde_config, run_pde
from .report import Report

__all__ = [  # public names only; internals stay importable from their modules
    "CONV4", "CONV8", "ConvKANNet", "ConvPreset", "DIGITS", "DataFileError", "Equation", "FeynmanData",
    "FunctionFittingSuite", "ImageClassifier", "ImageData", "ImagePreset", "KANConv2d", "PDESuite", "REFERENCE",
    "Report", "available_datasets", "available_equations", "conv_parameter_count", "dataset", "feynman_config",
    "get_equation", "kan_conv2d", "load_cifar10", "load_dataset", "load_digits", "load_idx_dataset", "make_classifier",
    "make_problem", "metakan_conv2d", "pde_config", "read_idx", "reference_backbones", "run_feynman", "run_images",
    "run_pde", "train_config",
]
