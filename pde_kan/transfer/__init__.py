"""Transfer across PDE coefficients: LoTRA adapters (Tucker deltas on KAN coefficient tensors), per-component
learning rates, and :func:`transfer` — one verb for LoTRA, full, last-layer and from-scratch fine-tuning."""
from .adapter import (ADAPTER_KINDS, LoTRACoefficients, LoTRAEmbeddingCoefficients, LoTRAModel, TuckerDelta,
                      get_delta, inject_lotra, load_adapter, lotra_parameter_count, merged_tucker, weights_hash)
from .api import TRANSFER_METHODS, load_transfer_solution, transfer
from .config import LoTRAConfig
from .rates import COMPONENTS, RATE_RULES, component_rates

__all__ = [
    "ADAPTER_KINDS", "COMPONENTS", "LoTRACoefficients", "LoTRAConfig", "LoTRAEmbeddingCoefficients", "LoTRAModel",
    "RATE_RULES", "TRANSFER_METHODS", "TuckerDelta", "component_rates", "get_delta", "inject_lotra", "load_adapter",
    "load_transfer_solution", "lotra_parameter_count", "merged_tucker", "transfer", "weights_hash",
]
