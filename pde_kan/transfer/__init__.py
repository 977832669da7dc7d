"""Transfer across PDE coefficients: LoTRA adapters (Tucker deltas on KAN coefficient tensors), per-component
learning rates, :func:`transfer` — one verb for LoTRA, full, last-layer and from-scratch fine-tuning — and
:class:`AdapterBank` for families of coefficient sets.

Modules: ``layers`` (the wrappers: delta / merge / unmerge per kind), ``model`` (:class:`LoTRAModel`,
:func:`inject_lotra`, which wrapper for which source), ``targets`` (which layers, which ranks), ``io`` (adapter
files; registers the LoTRA loader of :func:`pde_kan.solvers.load_solution`), ``rates``, ``config``, ``api``
(:func:`transfer`), ``bank``, ``family`` (coefficient-set files), ``multitask`` (a base pretrained on several
sets at once: :func:`pretrain_family`, :func:`mix_heads`).
"""
import inspect as _inspect
import sys as _sys
import types as _types

from .api import default_lr, transfer
from .bank import AdapterBank, coefficient_vector, train_family
from .config import LoTRAConfig
from .family import read_family
from .io import load_adapter
from .layers import DenseLoTRA, LoTRALayer, TuckerLoTRA, lotra_parameter_count
from .metakan_layers import EmbeddingLoTRA, HypernetTuning
from .model import LoTRAModel, get_delta, inject_lotra
from .multitask import FamilyTask, mix_heads, pretrain_family
from .rates import component_rates, rank_factors

__all__ = [  # public names only; internals stay importable from their modules
    "AdapterBank", "DenseLoTRA", "EmbeddingLoTRA", "FamilyTask", "HypernetTuning", "LoTRAConfig", "LoTRALayer", "LoTRAModel",
    "TuckerLoTRA", "coefficient_vector", "component_rates", "default_lr", "get_delta", "inject_lotra",
    "load_adapter", "lotra_parameter_count", "mix_heads", "pretrain_family", "rank_factors", "read_family",
    "train_family", "transfer",
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
