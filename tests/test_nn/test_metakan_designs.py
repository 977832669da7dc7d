"""MetaKAN designs: parameter counts of each base-weight mode, and the reference preset's initial statistics
against the reference code's formulas (Xavier-normal embeddings and hypernet, no output scale)."""
import math

import pytest
import torch

from pde_kan.nn import HyperCoefficients, MetaKAN

F64 = torch.float64


@pytest.mark.parametrize("base,rank", [("generated", 8), ("free", 8), ("lowrank", 3)])
@pytest.mark.parametrize("share", [False, True])
def test_metakan_parameter_count_per_base_weight(base, rank, share):
    widths, e, h = [3, 6, 5, 2], 2, 7
    m = MetaKAN(widths, embedding_dim=e, hyper_hidden=h, base_weight=base, base_rank=rank, share_hypernet=share)
    n_basis = 8
    n_out = n_basis + 1 if base == "generated" else n_basis
    pairs = list(zip(widths[:-1], widths[1:]))
    edges = sum(i * o for i, o in pairs)
    per_hypernet = (e + 1) * h + (h + 1) * n_out
    base_params = {"generated": 0, "free": edges, "lowrank": sum((i + o) * rank for i, o in pairs)}[base]
    n_hypernets = 1 if share else len(pairs)
    assert m.n_parameters() == edges * e + n_hypernets * per_hypernet + base_params
    groups = m.param_groups()
    assert sum(p.numel() for p in groups.get("base", [])) == base_params
    assert sum(p.numel() for p in groups["hypernet"]) == n_hypernets * per_hypernet
    again = MetaKAN.from_config(m.config)
    again.load_state_dict(m.state_dict())
    x = torch.rand(5, 3, dtype=F64)
    torch.testing.assert_close(again(x), m(x), rtol=0, atol=0)


def test_free_and_lowrank_base_weights_have_the_dense_init_variance():
    n_in, n_out = 256, 256
    for base in ("free", "lowrank"):
        src = HyperCoefficients(n_in, n_out, 8, base_weight=base, base_rank=16,
                                generator=torch.Generator().manual_seed(0))
        w = src.base()
        assert w.shape == (n_out, n_in)
        assert math.isclose(float(w.detach().std()), 1 / math.sqrt(n_in), rel_tol=0.05), base
        c, w2 = src.coefficients()
        torch.testing.assert_close(w2, w)  # coefficients() returns the same base weight the layer uses


def relu_output_std(w1, w2, sigma):
    """Std over e ~ N(0, sigma^2) of ``w2 relu(w1 e)`` (zero biases), per output, from closed forms:
    E[relu(a e) relu(b e)] = a b sigma^2 / 2 if a b > 0 else 0, E[relu(a e)] = |a| sigma / sqrt(2 pi)."""
    a = w1[:, 0]
    same_sign = (a[:, None] * a[None, :] > 0).to(a.dtype)
    second = torch.einsum("mj,mk,jk->m", w2, w2, same_sign * a[:, None] * a[None, :]) * sigma**2 / 2
    mean = (w2 * a.abs()).sum(1) * sigma / math.sqrt(2 * math.pi)
    return (second - mean**2).sqrt()


def test_reference_preset_initial_statistics_match_the_reference_formulas():
    n_in, n_out = 64, 64
    m = MetaKAN.reference([n_in, n_out], seed=3)
    src = m.layers[0].source
    hn = src.hypernet
    assert hn.hidden == 32 and hn.activation == "relu" and src.base() is None
    # embeddings: xavier_normal_ on an (out * in, e) tensor
    emb_std = math.sqrt(2.0 / (1 + n_in * n_out))
    assert math.isclose(float(src.embeddings.detach().std()), emb_std, rel_tol=0.05)
    # hypernet: xavier_normal_ weights, zero biases
    assert math.isclose(float(hn.fc2.weight.detach().std()), math.sqrt(2.0 / (32 + 9)), rel_tol=0.15)
    assert float(hn.fc1.bias.detach().abs().max()) == 0.0 and float(hn.fc2.bias.detach().abs().max()) == 0.0
    # no output scale: the layer's coefficients are the hypernet's raw output
    cw = src.generate(src.embeddings)
    torch.testing.assert_close(cw, hn(src.embeddings.reshape(-1, 1)).reshape(n_out, n_in, 9), rtol=0, atol=0)
    c, w = src.coefficients()
    torch.testing.assert_close(torch.cat([c, w.unsqueeze(-1)], -1), cw)
    # the generated numbers' spread over the 4096 edges is the one the formula gives for these weights
    expected = relu_output_std(hn.fc1.weight.detach(), hn.fc2.weight.detach(), emb_std)
    observed = cw.detach().reshape(-1, 9).std(0)
    torch.testing.assert_close(observed, expected, rtol=0.1, atol=0)


def test_pde_kan_init_scales_the_generated_coefficients_and_the_reference_does_not():
    ours = MetaKAN([128, 4], seed=0).layers[0].source
    ref = MetaKAN([128, 4], seed=0, init="reference").layers[0].source
    assert torch.allclose(ours.scale[:-1], torch.full((8,), 0.1 / math.sqrt(128), dtype=F64))
    assert math.isclose(float(ours.scale[-1]), 1 / math.sqrt(128))
    assert torch.equal(ref.scale, torch.ones(9, dtype=F64))


def test_affine_hypernet_is_an_affine_map_of_the_embedding():
    src = MetaKAN([3, 4], hyper_activation="identity", seed=1).layers[0].source
    e = src.embeddings.reshape(-1, 1)
    out = src.generate(src.embeddings).reshape(-1, 9)
    # affine in e: second differences along sorted embeddings vanish
    order = torch.argsort(e[:, 0])
    e_s, o_s = e[order, 0], out[order]
    slope = (o_s[1:] - o_s[:-1]) / (e_s[1:] - e_s[:-1]).unsqueeze(1)
    torch.testing.assert_close(slope, slope[:1].expand_as(slope), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kw,match", [
    ({"base_weight": "shared"}, r"MetaKAN: unknown base_weight 'shared'; valid names: 'generated', 'free', 'lowrank'"),
    ({"base_rank": 0}, r"MetaKAN: base_rank must be an integer >= 1, got 0"),
    ({"hyper_activation": "tanh"}, r"HyperNet: unknown activation 'tanh'; valid names: 'relu', 'identity'"),
    ({"init": "xavier"}, r"HyperNet: unknown init 'xavier'; valid names: 'pde_kan', 'reference'"),
])
def test_metakan_bad_design_options_name_the_argument(kw, match):
    with pytest.raises(ValueError, match=match):
        MetaKAN([2, 3, 1], **kw)
