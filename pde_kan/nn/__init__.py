"""Networks: B-spline basis, Tucker tensors, the KAN layer and its coefficient sources, backbones."""
from .activations import ACTIVATIONS, Activation, get_activation
from .backbone import Backbone
from .kan import KAN
from .hyper import HyperCoefficients, HyperNet
from .layer import CoefficientSource, DenseCoefficients, KANLayer, TuckerCoefficients
from .metakan import MetaKAN
from .mlp import MLP
from .registry import BACKBONES, available_backbones, backbone_from_config, get_backbone
from .slimkan import SlimKAN
from .splines import BasisValues, BSplineBasis
from .tucker import hosvd, tucker_to_tensor

__all__ = [
    "ACTIVATIONS", "Activation", "Backbone", "BACKBONES", "BasisValues", "BSplineBasis", "CoefficientSource",
    "DenseCoefficients", "HyperCoefficients", "HyperNet", "KAN", "KANLayer", "MetaKAN", "MLP", "SlimKAN",
    "TuckerCoefficients", "available_backbones", "backbone_from_config", "get_activation", "get_backbone",
    "hosvd", "tucker_to_tensor",
]
