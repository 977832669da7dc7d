"""Networks: B-spline basis, Tucker tensors, the KAN layer and its coefficient sources, backbones."""
from .activations import ACTIVATIONS, Activation, get_activation
from .backbone import Backbone
from .hyper import HyperCoefficients, HyperNet
from .kan import KAN
from .layer import CoefficientSource, DenseCoefficients, KANLayer
from .metakan import MetaKAN
from .mlp import MLP
from .registry import BACKBONES, available_backbones, backbone_from_config, get_backbone
from .slimkan import SlimKAN, TuckerCoefficients
from .splines import BasisValues, BSplineBasis
from .tucker import Tucker, hosvd, rank_spec, resolve_ranks, tucker_to_tensor

__all__ = [
    "ACTIVATIONS", "Activation", "BACKBONES", "BSplineBasis", "Backbone", "BasisValues", "CoefficientSource",
    "DenseCoefficients", "HyperCoefficients", "HyperNet", "KAN", "KANLayer", "MLP", "MetaKAN", "SlimKAN", "Tucker",
    "TuckerCoefficients", "available_backbones", "backbone_from_config", "get_activation", "get_backbone", "hosvd",
    "rank_spec", "resolve_ranks", "tucker_to_tensor",
]
