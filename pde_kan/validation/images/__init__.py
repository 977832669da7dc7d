"""Image classification: data readers, fully connected and convolutional classifiers, presets, the suite.

Modules: :mod:`.data` (data sets and file readers), :mod:`.models` (presets and classifiers), :mod:`.suite`
(:class:`ImageSuite`, :func:`run_images`).

Data never downloads. ``"digits"`` (scikit-learn's bundled 8x8 handwritten digits, 1797 images) is the
embedded default; MNIST, Fashion-MNIST and KMNIST are read from the standard IDX files and CIFAR-10 from its
python pickle batches in a directory the user gives:

============================  ==============================================================================
dataset                       files expected in ``data_dir`` (or its ``raw/`` / ``cifar-10-batches-py/``)
============================  ==============================================================================
``mnist``, ``fashion-mnist``, ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``kmnist``                    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``)
``cifar10``                   ``data_batch_1`` .. ``data_batch_5``, ``test_batch``
============================  ==============================================================================

A missing, truncated, corrupt or mislabeled file raises :class:`DataFileError` naming the path and the files
expected. Images come back as float32 ``(N, C, H, W)`` in [0, 1] and labels as int64 ``(N,)``.

Classifiers map the pixel range onto the spline grid range before the first layer (inputs outside the grid
would only see the base branch). :data:`REFERENCE` reproduces the reference MetaKAN image settings.

Example::

    from pde_kan.validation.images import run_images
    report = run_images("digits", backbones=("kan", "metakan"), epochs=5)
    print(report.to_text())
"""
from .data import (CIFAR10_FILES, DATASETS, IDX_FILES, IDX_TYPES, DataFileError, ImageData, available_datasets,
                   load_cifar10, load_dataset, load_digits, load_idx_dataset, read_idx)
from .models import (CONV_BACKBONES, DIGITS, FC_BACKBONES, IMAGE_BACKBONES, INPUT_NORMS, PRESETS, REFERENCE,
                     REFERENCE_RESULTS, ImageClassifier, ImagePreset, input_stats, make_classifier, train_config)
from .suite import ImageSuite, run_images

__all__ = [
    "CIFAR10_FILES", "CONV_BACKBONES", "DATASETS", "DIGITS", "DataFileError", "FC_BACKBONES", "IDX_FILES",
    "IDX_TYPES", "IMAGE_BACKBONES", "INPUT_NORMS", "ImageClassifier", "ImageData", "ImagePreset", "ImageSuite", "PRESETS",
    "REFERENCE", "REFERENCE_RESULTS", "available_datasets", "input_stats", "load_cifar10", "load_dataset",
    "load_digits", "load_idx_dataset", "make_classifier", "read_idx", "run_images", "train_config",
]
