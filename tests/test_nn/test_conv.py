"""Convolutional KAN / MetaKAN layers: shapes, a closed form against conv2d, per-patch equivalence with the
KAN layer, gradients, hypernet sharing and clustering, parameter counts of the presets."""
import pytest
import torch
from torch.nn import functional as F

from pde_kan.nn.conv import (CONV4, CONV8, ConvKANNet, ConvPreset, cluster_by_width, conv_parameter_count,
                                     kan_conv2d, metakan_conv2d)


@pytest.mark.parametrize("kw", [dict(kernel_size=3, padding=1), dict(kernel_size=3, stride=2, padding=1),
                                dict(kernel_size=(2, 3), stride=(1, 2), dilation=2), dict(kernel_size=1)])
@pytest.mark.parametrize("make", [kan_conv2d, metakan_conv2d], ids=["kan", "metakan"])
def test_output_shape_matches_conv2d(make, kw):
    x = torch.rand(2, 3, 9, 8)
    layer = make(3, 4, **kw)
    ref = torch.nn.Conv2d(3, 4, **kw)
    assert layer(x).shape == ref(x).shape


def test_base_branch_alone_is_a_convolution_of_silu():
    """With zero spline coefficients, y = conv2d(silu(x), W) where W is the base weight (zero padding: silu(0)=0)."""
    g = torch.Generator().manual_seed(0)
    layer = kan_conv2d(3, 5, 3, stride=2, padding=1, dtype=torch.float64, generator=g)
    with torch.no_grad():
        layer.source.spline_weight.zero_()
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64, generator=g)
    w = layer.source.base_weight.reshape(5, 3, 3, 3)
    assert torch.allclose(layer(x), F.conv2d(F.silu(x), w, stride=2, padding=1), atol=1e-12)


def test_each_output_pixel_is_the_kan_layer_of_its_patch():
    layer = metakan_conv2d(2, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x = torch.rand(1, 2, 5, 6, dtype=torch.float64) * 2 - 1
    y = layer(x)
    for i, j in [(0, 0), (1, 3), (2, 1)]:
        patch = x[0, :, i:i + 3, j:j + 3].reshape(1, -1)  # (C, kh, kw) order, as unfold
        assert torch.allclose(y[0, :, i, j], layer.kan(patch)[0], atol=1e-13)


def test_gradients_reach_every_parameter_and_pass_gradcheck():
    g = torch.Generator().manual_seed(2)
    for make in (kan_conv2d, metakan_conv2d):
        layer = make(2, 2, 2, padding=1, dtype=torch.float64, generator=g)
        x = (torch.rand(1, 2, 3, 3, dtype=torch.float64, generator=g) * 2 - 1).requires_grad_()
        assert torch.autograd.gradcheck(lambda t: layer(t), (x,))
        layer(x).square().sum().backward()
        for name, p in layer.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_bad_input_shape_is_rejected():
    layer = kan_conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"KANConv2d: x must have shape \(N, 3, H, W\), got \(2, 1, 8, 8\)"):
        layer(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        layer(torch.rand(1, 3, 2, 2))


def test_cluster_by_width_groups_close_fan_ins():
    assert cluster_by_width([27, 144, 288, 576, 1152, 2304, 2304, 4608], 1) == [0] * 8
    assert cluster_by_width([27, 144, 288, 576, 1152, 2304, 2304, 4608], 3) == [0, 1, 1, 1, 2, 2, 2, 2]
    assert cluster_by_width([100, 9, 100, 9], 2) == [1, 0, 1, 0]
    assert cluster_by_width([9, 18, 36], 5) == [0, 1, 2]


def test_metakan_net_shares_or_clusters_hypernets_and_trains():
    small = ConvPreset(channels=(4, 8, 8), strides=(1, 2, 1), hyper_hidden=8)
    shared = ConvKANNet("metakan", 1, 3, small)
    assert len(shared.hypernets) == 1
    assert all(c.source.hypernet is shared.hypernets[0] for c in shared.convs)
    clustered = ConvKANNet("metakan", 1, 3, small.replace(n_hypernets=2))
    assert clustered.hypernet_of_layer == [0, 1, 1]
    assert clustered.convs[1].source.hypernet is clustered.convs[2].source.hypernet
    assert set(clustered.param_groups()) == {"hypernet", "embeddings", "default"}
    for net in (shared, clustered, ConvKANNet("kan", 1, 3, small)):
        assert net.n_parameters() == conv_parameter_count(net.kind, 1, 3, net.preset)
        out = net(torch.rand(4, 1, 8, 8))
        assert out.shape == (4, 3)
        torch.nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 0])).backward()
        assert all(p.grad is not None for p in net.parameters())


def test_construction_leaves_the_global_rng_alone_and_is_seeded():
    state = torch.random.get_rng_state()
    a = ConvKANNet("metakan", 3, 10, CONV4.replace(channels=(4, 4, 4, 4)), seed=5)
    b = ConvKANNet("metakan", 3, 10, CONV4.replace(channels=(4, 4, 4, 4)), seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_preset_parameter_counts_match_the_reference():
    # 8-layer reference on CIFAR-10: 40.70M parameters as KAN, 4.53M as MetaKAN
    assert conv_parameter_count("kan", 3, 10, CONV8) == 40_696_602
    assert conv_parameter_count("metakan", 3, 10, CONV8) == 4_529_747
    assert round(conv_parameter_count("kan", 3, 10, "conv8") / 1e6, 2) == 40.70
    assert round(conv_parameter_count("metakan", 3, 10, "conv8") / 1e6, 2) == 4.53
    net = ConvKANNet("metakan", 3, 10, "conv8")
    assert net.n_parameters() == 4_529_747 and net.n_edges() == 9 * 502_320
