"""Networks: B-spline basis, Tucker tensors, the KAN layer and its coefficient sources, backbones."""
from .activations import Activation, get_activation
from .backbone import Backbone
from .kan import KAN
from .hyper import HyperCoefficients, HyperNet
from .layer import CoefficientSource, DenseCoefficients, KANLayer, TuckerCoefficients
from .metakan import MetaKAN
from .mlp import MLP
from .registry import available_backbones, backbone_from_config, get_backbone
from .slimkan import SlimKAN
from .splines import BasisValues, BSplineBasis
from .tucker import hosvd, tucker_to_tensor

__all__ = [  # public names only; internals stay importable from their modules
    "Activation", "BSplineBasis", "Backbone", "BasisValues", "CoefficientSource", "DenseCoefficients",
    "HyperCoefficients", "HyperNet", "KAN", "KANLayer", "MLP", "MetaKAN", "SlimKAN", "TuckerCoefficients",
    "available_backbones", "backbone_from_config", "get_activation", "get_backbone", "hosvd", "tucker_to_tensor",
]
