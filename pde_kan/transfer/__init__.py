"""Transfer across PDE coefficients: LoTRA adapters (Tucker deltas on KAN coefficient tensors), per-component
learning rates, :func:`transfer` — one verb for LoTRA, full, last-layer and from-scratch fine-tuning — and
:class:`AdapterBank` for families of coefficient sets.

Modules: ``layers`` (the wrappers: delta / merge / unmerge per kind), ``model`` (:class:`LoTRAModel`,
:func:`inject_lotra`), ``targets`` (which layers, which ranks), ``io`` (adapter files; registers the LoTRA
loader of :func:`pde_kan.solvers.load_solution`), ``rates``, ``config``, ``api`` (:func:`transfer`), ``bank``,
``family``.
"""
from .api import METHOD_RATES, TRANSFER_METHODS, default_lr, transfer
from .bank import AdapterBank, coefficient_vector, train_family
from .config import LoTRAConfig
from .family import read_family
from .io import load_adapter, weights_hash
from .layers import (DenseLoTRA, EmbeddingLoTRA, HypernetTuning, LoTRALayer, TuckerLoTRA, lotra_parameter_count,
                     merged_tucker)
from .model import ADAPTER_KINDS, LoTRAModel, get_delta, inject_lotra
from .rates import COMPONENTS, RATE_RULES, component_rates, rank_factors

__all__ = [
    "ADAPTER_KINDS", "AdapterBank", "COMPONENTS", "DenseLoTRA", "EmbeddingLoTRA", "HypernetTuning", "LoTRAConfig",
    "LoTRALayer", "LoTRAModel", "METHOD_RATES", "RATE_RULES", "TRANSFER_METHODS", "TuckerLoTRA",
    "coefficient_vector", "component_rates", "default_lr", "get_delta", "inject_lotra", "load_adapter",
    "lotra_parameter_count", "merged_tucker", "rank_factors", "read_family", "train_family", "transfer",
    "weights_hash",
]
