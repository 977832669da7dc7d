"""Transfer across PDE coefficients: LoTRA adapters (Tucker deltas on KAN coefficient tensors), per-component
learning rates, :func:`transfer` — one verb for LoTRA, full, last-layer and from-scratch fine-tuning — and
:class:`AdapterBank` for families of coefficient sets."""
from .adapter import (ADAPTER_KINDS, LoTRACoefficients, LoTRAEmbeddingCoefficients, LoTRAModel, TuckerDelta,
                      get_delta, inject_lotra, load_adapter, lotra_parameter_count, merged_tucker, weights_hash)
from .api import METHOD_RATES, TRANSFER_METHODS, default_lr, load_transfer_solution, transfer
from .bank import AdapterBank, coefficient_vector, read_family, train_family
from .config import LoTRAConfig
from .rates import COMPONENTS, RATE_RULES, component_rates, rank_factors

__all__ = [
    "ADAPTER_KINDS", "AdapterBank", "METHOD_RATES", "coefficient_vector", "default_lr", "rank_factors", "read_family",
    "train_family", "COMPONENTS", "LoTRACoefficients", "LoTRAConfig", "LoTRAEmbeddingCoefficients", "LoTRAModel",
    "RATE_RULES", "TRANSFER_METHODS", "TuckerDelta", "component_rates", "get_delta", "inject_lotra", "load_adapter",
    "load_transfer_solution", "lotra_parameter_count", "merged_tucker", "transfer", "weights_hash",
]
