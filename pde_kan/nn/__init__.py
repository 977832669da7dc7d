"""Networks: B-spline basis, Tucker tensors, the KAN layer and its coefficient sources, backbones, convolutional
KAN layers."""
from .activations import ACTIVATIONS, Activation, get_activation
from .backbone import Backbone
from .conv import (CONV4, CONV8, ConvKANNet, ConvPreset, KANConv2d, cluster_by_width, conv_parameter_count, kan_conv2d,
                   metakan_conv2d)
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
    # convolutional KAN / MetaKAN layers and networks (pde_kan.nn.conv)
    "CONV4", "CONV8", "ConvKANNet", "ConvPreset", "KANConv2d", "cluster_by_width", "conv_parameter_count",
    "kan_conv2d", "metakan_conv2d",
]
