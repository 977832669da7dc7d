"""Transfer across PDE coefficients: LoTRA adapters (Tucker deltas on KAN coefficient tensors), per-component
learning rates, :func:`transfer` — one verb for LoTRA, full, last-layer and from-scratch fine-tuning — and
:class:`AdapterBank` for families of coefficient sets."""
import inspect as _inspect
import sys as _sys
import types as _types

from .adapter import (LoTRACoefficients, LoTRAEmbeddingCoefficients, LoTRAModel, TuckerDelta, get_delta, inject_lotra,
                      load_adapter, lotra_parameter_count)
from .api import default_lr, load_transfer_solution, transfer
from .bank import AdapterBank, coefficient_vector, read_family, train_family
from .config import LoTRAConfig
from .rates import component_rates, rank_factors

__all__ = [  # public names only; internals stay importable from their modules
    "AdapterBank", "LoTRACoefficients", "LoTRAConfig", "LoTRAEmbeddingCoefficients", "LoTRAModel", "TuckerDelta",
    "coefficient_vector", "component_rates", "default_lr", "get_delta", "inject_lotra", "load_adapter",
    "load_transfer_solution", "lotra_parameter_count", "rank_factors", "read_family", "train_family", "transfer",
]


class _CallableModule(_types.ModuleType):
    """This subpackage, callable as the verb it is named after.

    ``import pde_kan.transfer`` binds the subpackage to the name ``transfer`` on ``pde_kan``, where the root
    also exports the verb :func:`transfer`; one object serves both, so ``from pde_kan import transfer`` gives
    the same thing whatever was imported first, and ``transfer(...)`` runs the verb.
    """

    def __call__(self, *args, **kwargs):
        return self.__dict__["transfer"](*args, **kwargs)


_sys.modules[__name__].__class__ = _CallableModule
__signature__ = _inspect.signature(transfer)
