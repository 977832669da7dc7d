"""Networks: B-spline basis, Tucker tensors, the KAN layer and its coefficient sources, backbones, convolutional
KAN layers."""
from ._metakan_autograd import fused_kernels_available
from .activations import Activation, get_activation
from .backbone import Backbone, BackboneWrapper, group_parameters, n_parameters, optimizer_groups
from .conv import CONV4, CONV8, ConvKANNet, ConvPreset, KANConv2d, conv_parameter_count, kan_conv2d, metakan_conv2d
from .heads import MixedHeads
from .hyper import HyperCoefficients, HyperNet
from .kan import KAN
from .layer import CoefficientSource, DenseCoefficients, KANLayer
from .metakan import MetaKAN
from .mlp import MLP
from .registry import available_backbones, backbone_from_config, get_backbone
from .slimkan import SlimKAN, TuckerCoefficients
from .splines import BasisValues, BSplineBasis
from .tucker import Tucker, hosvd, rank_spec, resolve_ranks, tucker_to_tensor

__all__ = [  # public names only; internals stay importable from their modules
    "Activation", "BSplineBasis", "Backbone", "BackboneWrapper", "BasisValues", "CONV4",
    "CONV8", "CoefficientSource", "ConvKANNet", "ConvPreset", "DenseCoefficients", "HyperCoefficients", "HyperNet",
    "KAN", "KANConv2d", "KANLayer", "MLP", "MetaKAN", "MixedHeads", "SlimKAN", "Tucker", "TuckerCoefficients",
    "available_backbones", "backbone_from_config", "conv_parameter_count", "fused_kernels_available", "get_activation",
    "get_backbone", "group_parameters", "hosvd", "kan_conv2d", "metakan_conv2d", "n_parameters", "optimizer_groups",
    "rank_spec", "resolve_ranks", "tucker_to_tensor",
]
