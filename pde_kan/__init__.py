"""pde_kan: physics-informed PDE solvers on Kolmogorov–Arnold networks.

Subpackages: ``nn`` (backbones), ``diff`` (derivative engines), ``problems``, ``solvers``, ``transfer``,
``validation``, ``interop``.
"""
from .nn import KAN, MLP, MetaKAN, SlimKAN, available_backbones, get_backbone

__version__ = "0.1.0"

__all__ = ["KAN", "MLP", "MetaKAN", "SlimKAN", "available_backbones", "get_backbone", "__version__"]
