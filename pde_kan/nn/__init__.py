"""Networks: B-spline basis, Tucker tensors, the KAN layer and its coefficient sources, backbones, convolutional
KAN layers."""
from .activations import Activation, get_activation
from .backbone import Backbone
from .conv import CONV4, CONV8, ConvKANNet, ConvPreset, KANConv2d, conv_parameter_count, kan_conv2d, metakan_conv2d
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
    "Activation", "BSplineBasis", "Backbone", "BasisValues", "CONV4", "CONV8", "CoefficientSource", "ConvKANNet",
    "ConvPreset", "DenseCoefficients", "HyperCoefficients", "HyperNet", "KAN", "KANConv2d", "KANLayer", "MLP",
    "MetaKAN", "SlimKAN", "TuckerCoefficients", "available_backbones", "backbone_from_config",
    "conv_parameter_count", "get_activation", "get_backbone", "hosvd", "kan_conv2d", "metakan_conv2d",
    "tucker_to_tensor",
]
