"""LoTRA adapters: zero-init identity, merge/unmerge, expressiveness, parameter counts, save/load, errors."""
import hashlib
import json

import pytest
import torch

from pde_kan import KAN, MetaKAN, SlimKAN
from pde_kan.diff import laplacian
from pde_kan.nn import DenseCoefficients, Tucker, hosvd, optimizer_groups
from pde_kan.transfer import (DenseLoTRA, HypernetTuning, LoTRAConfig, LoTRALayer, LoTRAModel, get_delta,
                              inject_lotra, load_adapter, lotra_parameter_count)
from pde_kan.transfer.io import weights_hash
from pde_kan.transfer.layers import zero_delta

BACKBONES = {
    "kan": lambda: KAN([3, 7, 5, 1], seed=1),
    "slimkan": lambda: SlimKAN([3, 7, 5, 1], ranks=(4, 3, 4), seed=1),
    "metakan": lambda: MetaKAN([3, 7, 5, 1], embedding_dim=2, hyper_hidden=8, seed=1),
    "metakan-free": lambda: MetaKAN([3, 7, 5, 1], embedding_dim=2, hyper_hidden=8, base_weight="free", seed=1),
    "metakan-lowrank": lambda: MetaKAN([3, 7, 5, 1], hyper_hidden=8, base_weight="lowrank", base_rank=2, seed=1),
}


def points(n=24, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, d, generator=g, dtype=torch.float64) * 1.8 - 0.9


def perturb(model, scale=0.2, seed=5):
    """Give every adapter parameter a nonzero value (as after training)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


@pytest.mark.parametrize("name", ["kan", "metakan", "slimkan"])
def test_injection_is_bit_for_bit_identity_and_only_the_core_gets_a_gradient(name):
    base = BACKBONES[name]()
    x = points()
    y0, lap0 = base(x), laplacian(base, x)
    model = inject_lotra(base, LoTRAConfig(ranks=(3, 2, 2)))
    y1, lap1 = model(x), laplacian(model, x)
    assert torch.equal(y0, y1) and torch.equal(lap0, lap1)
    (y1.square().sum() + lap1.square().sum()).backward()
    for layer, a in model.adapters().items():
        comps = {c: ps[0] for c, ps in a.components().items()}
        assert comps["core"].grad.abs().max() > 0, layer
        for c in ("out", "in", "basis"):
            assert torch.count_nonzero(comps[c].grad) == 0, (layer, c)
    assert all(p.grad is None for n, p in model.named_parameters() if ".tucker." not in n)
    assert all(not p.requires_grad for n, p in model.named_parameters() if ".tucker." not in n)


@pytest.mark.parametrize("adapt_base_weight", [False, True])
@pytest.mark.parametrize("name", ["kan", "slimkan", "metakan", "metakan-free", "metakan-lowrank"])
def test_outputs_equal_across_merge_states(name, adapt_base_weight):
    base = BACKBONES[name]()
    original = {k: v.clone() for k, v in base.state_dict().items()}
    x = points()
    model = inject_lotra(base, LoTRAConfig(ranks=(4, 3, 3), adapt_base_weight=adapt_base_weight))
    perturb(model)
    y, lap = model(x), laplacian(model, x)
    assert (y - base_out(original, name, x)).abs().max() > 1e-3  # the adapter does change the model
    model.merge()
    assert model.merged
    torch.testing.assert_close(model(x), y, rtol=0, atol=1e-12)
    torch.testing.assert_close(laplacian(model, x), lap, rtol=0, atol=1e-12)
    model.unmerge()
    torch.testing.assert_close(model(x), y, rtol=0, atol=1e-12)
    unmerged_state = {k.replace("source.base.", "source."): v for k, v in model.base_model.state_dict().items()
                      if ".tucker." not in k}
    for k, v in original.items():  # the base weights are restored bit for bit
        assert torch.equal(unmerged_state[k], v), k
    plain = model.merge_and_unload()
    assert type(plain) is type(base) and not isinstance(plain, LoTRAModel)
    torch.testing.assert_close(plain(x), y, rtol=0, atol=1e-12)
    assert all(p.requires_grad for p in plain.parameters())
    rebuilt = type(plain).from_config(plain.config)  # the config describes the merged architecture
    rebuilt.load_state_dict(plain.state_dict())
    torch.testing.assert_close(rebuilt(x), y, rtol=0, atol=1e-12)


def base_out(state, name, x):
    m = BACKBONES[name]()
    m.load_state_dict(state)
    return m(x)


def test_slimkan_merge_adds_ranks_clipped_to_the_dimensions():
    base = SlimKAN([3, 7, 5, 1], ranks=(4, 3, 4), seed=1)
    before = [tuple(layer.source.core.shape) for layer in base.layers]
    model = inject_lotra(base, LoTRAConfig(ranks=(2, 2, 3)))
    perturb(model)
    plain = model.merge_and_unload()
    after = [tuple(layer.source.core.shape) for layer in plain.layers]
    dims = [(7, 3, 8), (5, 7, 8), (1, 5, 8)]
    delta = [model.layer_ranks[f"layers.{i}"] for i in range(3)]
    assert after == [tuple(min(a + b, d) for a, b, d in zip(r0, r1, dd)) for r0, r1, dd in zip(before, delta, dims)]
    assert plain.config["ranks"] == [6, 5, 7]
    factored = inject_lotra(SlimKAN([3, 7, 5, 1], ranks=(4, 3, 4), contraction="factored"), LoTRAConfig(ranks=2))
    assert {layer.source.contraction for layer in factored.merge_and_unload().layers} == {"factored"}  # kept


def test_full_ranks_represent_any_target_tensor():
    g = torch.Generator().manual_seed(3)
    shape = (5, 4, 8)
    target = torch.randn(shape, generator=g, dtype=torch.float64)
    layer = DenseLoTRA(DenseCoefficients(4, 5, 7, generator=g), shape, alpha=2.0, adapt_base_weight=True, generator=g)
    delta = layer.tucker
    assert delta.shape == shape and torch.count_nonzero(layer.delta()) == 0  # zero core at the start
    core, factors = hosvd(target, shape)
    with torch.no_grad():
        delta.core.copy_(core / layer.alpha)
        for p, u in zip((delta.u_out, delta.u_in, delta.u_basis), factors):
            p.copy_(u)
    torch.testing.assert_close(layer.delta(), target, rtol=0, atol=1e-12)
    feats = torch.randn(7, 4, 8, generator=g, dtype=torch.float64)  # the factored contraction agrees
    c0, w0 = layer.base.coefficients()
    expected = torch.einsum("oim,nim->no", torch.cat([c0, w0.unsqueeze(-1)], -1) + target,
                            torch.cat([feats[..., 1:], feats[..., :1]], -1))
    torch.testing.assert_close(layer.contract(feats), expected, rtol=0, atol=1e-12)
    # and a multilinear-rank-(2, 2, 3) target is exact at ranks (2, 2, 3)
    low = torch.einsum("abc,ia,jb,kc->ijk", torch.randn(2, 2, 3, generator=g, dtype=torch.float64),
                       *(torch.randn(d, r, generator=g, dtype=torch.float64) for d, r in zip(shape, (2, 2, 3))))
    core, factors = hosvd(low, (2, 2, 3))
    small = DenseLoTRA(DenseCoefficients(4, 5, 7, generator=g), (2, 2, 3), alpha=1.0, adapt_base_weight=True,
                       generator=g)
    with torch.no_grad():
        small.tucker.core.copy_(core)
        for p, u in zip(small.tucker.factors(), factors):
            p.copy_(u)
    torch.testing.assert_close(small.delta(), low, rtol=0, atol=1e-12)


def test_parameter_count_formula():
    assert lotra_parameter_count((64, 32, 8), (4, 4, 3)) == 4 * 4 * 3 + 64 * 4 + 32 * 4 + 8 * 3
    model = inject_lotra(KAN([3, 7, 5, 1]), LoTRAConfig(ranks=(4, 4, 3), adapt_base_weight=False))
    # ranks are clipped per layer: layers.0 has in = 3, layers.2 has out = 1
    expected = (4 * 3 * 3 + 7 * 4 + 3 * 3 + 8 * 3) + (4 * 4 * 3 + 5 * 4 + 7 * 4 + 8 * 3) + (1 * 4 * 3 + 1 + 5 * 4 + 8 * 3)
    assert model.n_parameters() == expected == model.trainable_summary()["trainable_parameters"]
    assert model.layer_ranks == {"layers.0": (4, 3, 3), "layers.1": (4, 4, 3), "layers.2": (1, 4, 3)}
    with_w = inject_lotra(KAN([3, 7, 5, 1]), LoTRAConfig(ranks=(4, 4, 3), adapt_base_weight=True))
    assert with_w.n_parameters() == expected + 3 * 3  # one more row of U_basis per layer
    meta = inject_lotra(MetaKAN([3, 7, 5, 1], embedding_dim=2), LoTRAConfig(ranks=(4, 4, 3), targets=[1]))
    assert meta.n_parameters() == lotra_parameter_count((5, 7, 2), (4, 4, 2))
    frac = inject_lotra(KAN([4, 8, 1]), LoTRAConfig(ranks=0.5, adapt_base_weight=False))
    assert frac.layer_ranks == {"layers.0": (4, 2, 4), "layers.1": (1, 4, 4)}


def test_ranks_one_is_rank_one_and_a_float_one_is_full_rank():
    one = inject_lotra(KAN([10, 32, 1]), LoTRAConfig(ranks=1))
    assert set(one.layer_ranks.values()) == {(1, 1, 1)}
    assert one.n_parameters() == sum(lotra_parameter_count(s, (1, 1, 1)) for s in [(32, 10, 9), (1, 32, 9)])
    full = inject_lotra(KAN([10, 32, 1]), LoTRAConfig(ranks=1.0))
    assert full.layer_ranks == {"layers.0": (32, 10, 9), "layers.1": (1, 32, 9)}
    assert LoTRAConfig(ranks=3).ranks == (3, 3, 3)


@pytest.mark.parametrize("budget", [0.05, 0.15, 0.3])
def test_auto_ranks_fill_the_budget_from_the_layer_shapes(budget):
    base = KAN([10, 32, 32, 1])
    model = inject_lotra(base, LoTRAConfig(rank_budget=budget))
    full = sum(p.numel() for p in KAN([10, 32, 32, 1]).parameters())  # what full fine-tuning trains
    assert model.n_parameters() <= budget * full
    shapes = {n: a.tucker.shape for n, a in model.adapters().items()}
    ranks = model.layer_ranks
    # one fraction for every layer: the wide modes of the hidden layer get the same rank as the first layer's
    # output mode, and the next fraction up would break the budget
    assert ranks["layers.0"][0] == ranks["layers.1"][0] == ranks["layers.1"][1] == ranks["layers.2"][1]
    bigger = [tuple(min(d, r + 1) for r, d in zip(rk, shapes[n])) for n, rk in ranks.items()]
    assert sum(lotra_parameter_count(shapes[n], b) for n, b in zip(ranks, bigger)) > budget * full
    assert LoTRAConfig().ranks == "auto" and LoTRAConfig().adapt_base_weight
    defaults = inject_lotra(KAN([10, 32, 32, 1]))
    assert defaults.layer_ranks["layers.1"] == (8, 8, 5)  # the documented default on the benchmark's KAN


def test_metakan_hypernet_only_mode_trains_the_hypernets():
    base = MetaKAN([3, 7, 5, 1], hyper_hidden=8)
    hyper = sum(p.numel() for layer in base.layers[1:] for p in layer.source.hypernet.parameters())
    model = inject_lotra(base, LoTRAConfig(metakan_mode="hypernet", targets="layers.[12]"))
    assert model.n_parameters() == hyper and set(model.param_groups()) == {"hypernet"}
    assert [a.kind for a in model.adapters().values()] == ["hypernet", "hypernet"]
    assert model.group_lr(1e-3) == {"hypernet": 1e-3}
    with pytest.raises(RuntimeError, match="hypernet mode trains the hypernets in place"):
        model.merge()
    perturb(model)
    x = points()
    y = model(x)
    plain = model.merge_and_unload()  # nothing to merge: the tuned hypernets are the base's own
    assert plain is base and torch.equal(plain(x), y) and all(p.requires_grad for p in plain.parameters())


def test_metakan_merge_adds_the_delta_to_the_stored_embeddings_bit_for_bit():
    base = BACKBONES["metakan"]()
    e0 = [layer.source.embeddings.detach().clone() for layer in base.layers]
    model = inject_lotra(base, LoTRAConfig(ranks=(3, 2, 2)))
    perturb(model)
    x = points()
    y = model(x)
    deltas = [model.get_delta(i) for i in range(3)]
    model.merge()
    for layer, e, d in zip(base.layers, e0, deltas):  # the stored embeddings are exactly E0 + ΔE
        assert torch.equal(layer.source.base.embeddings, e + d)
    assert torch.equal(model(x), y)  # the same floating-point operation as the unmerged forward pass
    chained = inject_lotra(model.merge_and_unload(), LoTRAConfig(ranks=(2, 2, 2)))  # a transfer chain
    assert torch.equal(chained(x), y)


def test_metakan_free_base_weight_gets_a_zero_started_low_rank_delta():
    base = BACKBONES["metakan-free"]()
    x = points()
    y0, lap0 = base(x), laplacian(base, x)
    model = inject_lotra(base, LoTRAConfig(ranks=(3, 2, 2)))
    y1, lap1 = model(x), laplacian(model, x)
    assert torch.equal(y0, y1) and torch.equal(lap0, lap1)  # identity at injection, bit for bit
    (y1.square().sum() + lap1.square().sum()).backward()
    for layer, a in model.adapters().items():
        comps = {c: ps[0] for c, ps in a.components().items()}
        assert set(comps) == {"core", "out", "in", "basis", "base_out", "base_in"}
        r = min(a.tucker.ranks[0], a.tucker.ranks[1])  # (3, 2) clipped to the layer's widths
        assert comps["base_out"].shape == (a.out_features, r) and comps["base_in"].shape == (a.in_features, r)
        assert comps["base_out"].grad.abs().max() > 0, layer  # like the core, the zero-started factor moves first
        assert torch.count_nonzero(comps["base_in"].grad) == 0, layer
    rates = model.group_lr(1e-2)
    assert rates["lotra_base_out.0"] == rates["lotra_core.0"] and rates["lotra_base_in.0"] == rates["lotra_in.0"]
    perturb(model)
    layer = model.adapters()["layers.1"]
    c, w = layer.coefficients()
    c0, w0 = layer.base.coefficients()
    torch.testing.assert_close(w, w0 + layer.base_delta(), rtol=0, atol=1e-14)  # the jets read the adapted w
    lowrank = inject_lotra(BACKBONES["metakan-lowrank"](), LoTRAConfig(ranks=(3, 2, 2)))
    assert all(a.base_out is None for a in lowrank.adapters().values())  # documented: not adapted
    off = inject_lotra(BACKBONES["metakan-free"](), LoTRAConfig(ranks=(3, 2, 2), adapt_base_weight=False))
    assert all(a.base_out is None for a in off.adapters().values())


def test_param_groups_name_every_component_and_carry_the_rule():
    model = inject_lotra(KAN([3, 16, 1]), LoTRAConfig(reference_width=4, lr_rule="lotra_width"))  # width law alone
    groups = model.param_groups()
    assert sorted(groups) == sorted(f"lotra_{c}.{i}" for c in ("core", "out", "in", "basis") for i in (0, 1))
    rates = model.group_lr(1e-3)
    assert rates["lotra_core.0"] == pytest.approx(1e-3 * 2) and rates["lotra_out.0"] == pytest.approx(1e-3 / 2)
    assert rates["lotra_in.1"] == pytest.approx(1e-3 / 4) and rates["lotra_basis.1"] == pytest.approx(1e-3)
    torch_groups = optimizer_groups(groups, 1e-3, rates)
    assert {g["name"]: g["lr"] for g in torch_groups} == rates
    uniform = inject_lotra(KAN([3, 16, 1]), LoTRAConfig(lr_rule="uniform"))
    assert set(uniform.group_lr(1e-3).values()) == {1e-3}


@pytest.mark.parametrize("name", ["kan", "metakan", "metakan-free"])
def test_adapter_save_load_round_trip(tmp_path, name):
    x = points()
    model = inject_lotra(BACKBONES[name](), LoTRAConfig(ranks=(3, 2, 2), lr_rule="uniform"))
    perturb(model)
    y = model(x)
    path = model.save_adapter(tmp_path / "adapter")
    meta = json.loads((path / "adapter_config.json").read_text())
    assert meta["base_hash"] == weights_hash(BACKBONES[name]()) and meta["lotra"]["lr_rule"] == "uniform"
    assert sorted(p.name for p in path.iterdir()) == ["adapter.pt", "adapter_config.json"]
    loaded = load_adapter(BACKBONES[name](), path)
    assert isinstance(loaded, LoTRAModel) and loaded.lotra_config == model.lotra_config
    assert torch.equal(loaded(x), y)
    fresh = inject_lotra(BACKBONES[name](), model.lotra_config)  # onto an injected model too
    assert torch.equal(load_adapter(fresh, path)(x), y)


def test_adapter_refuses_a_different_base_and_altered_files(tmp_path):
    model = inject_lotra(KAN([3, 7, 5, 1], seed=1))
    path = model.save_adapter(tmp_path / "a")
    with pytest.raises(ValueError, match=r"trained on different base weights \(base hash [0-9a-f]{12}"):
        load_adapter(KAN([3, 7, 5, 1], seed=2), path)
    with pytest.raises(ValueError, match="trained on different base weights"):
        load_adapter(KAN([3, 7, 5, 1], seed=1, dtype=torch.float32), path)
    (path / "adapter.pt").write_bytes((path / "adapter.pt").read_bytes() + b"x")
    with pytest.raises(ValueError, match="adapter.pt does not match the hash"):
        load_adapter(KAN([3, 7, 5, 1], seed=1), path)
    with pytest.raises(FileNotFoundError, match="adapter_config.json is missing"):
        load_adapter(KAN([3, 7, 5, 1], seed=1), tmp_path / "nowhere")


def test_clear_errors():
    with pytest.raises(ValueError, match=r"LoTRAConfig: ranks r_out=9 must be between 1 and the tensor's dimension 7 "
                                         r"of layer 'layers.0' \(tensor shape \(7, 3, 9\)\); .*strict_ranks=False"):
        inject_lotra(KAN([3, 7, 1]), LoTRAConfig(ranks=(9, 2, 2), strict_ranks=True, targets=[0]))
    with pytest.raises(ValueError, match=r"ranks r_basis=9 must be between 1 and the tensor's dimension 8"):
        inject_lotra(KAN([3, 7, 1]), LoTRAConfig(ranks=(2, 2, 9), strict_ranks=True, adapt_base_weight=False))
    with pytest.raises(ValueError, match=r"unknown target 'layers.7'.*valid layer names: 'layers.0', 'layers.1'"):
        inject_lotra(KAN([3, 7, 1]), LoTRAConfig(targets=("layers.7",)))
    with pytest.raises(ValueError, match=r"unknown target 5"):
        inject_lotra(KAN([3, 7, 1]), LoTRAConfig(targets=(5,)))
    model = inject_lotra(KAN([3, 7, 1]))
    with pytest.raises(RuntimeError, match="not merged; call merge"):
        model.unmerge()
    model.merge()
    with pytest.raises(RuntimeError, match=r"already merged; call unmerge\(\) before merging again"):
        model.merge()
    meta = inject_lotra(MetaKAN([3, 7, 1]))
    with pytest.raises(TypeError, match="already a LoTRAModel"):
        inject_lotra(meta)
    with pytest.raises(ValueError, match=r"ranks as a fraction must lie in \(0, 1\], got 1.5"):
        LoTRAConfig(ranks=1.5)
    with pytest.raises(ValueError, match=r"ranks must be 'auto'.*got 'full'"):
        LoTRAConfig(ranks="full")
    with pytest.raises(ValueError, match=r"ranks must be an integer >= 1, got 0|ranks must be .*got 0"):
        LoTRAConfig(ranks=0)
    with pytest.raises(ValueError, match=r"rank_budget is a fraction .* got 2"):
        LoTRAConfig(rank_budget=2)
    with pytest.raises(ValueError, match=r"unknown lr_rule 'adam'; valid names: 'lotra', 'lotra_width', 'uniform'"):
        LoTRAConfig(lr_rule="adam")
    with pytest.raises(ValueError, match=r"unknown lr_ratios component 'G'"):
        LoTRAConfig(lr_ratios={"G": 2.0})
    with pytest.raises(ValueError, match="metakan_mode='hypernet' needs MetaKAN layers"):
        inject_lotra(KAN([3, 7, 1]), LoTRAConfig(metakan_mode="hypernet"))
    with pytest.raises(TypeError, match="get_delta: layer must be a KANLayer carrying a LoTRA adapter"):
        get_delta(KAN([3, 7, 1]).layers[0])


def test_get_delta_and_config_round_trip():
    model = inject_lotra(KAN([3, 7, 1]), LoTRAConfig(ranks=(2, 2, 2), targets=("layers.1",), alpha=0.5,
                                                         adapt_base_weight=False))
    assert model.target_names == ["layers.1"]
    assert torch.count_nonzero(model.get_delta(-1)) == 0 and model.get_delta("layers.1").shape == (1, 7, 8)
    perturb(model)
    a = model.adapters()["layers.1"]
    t = a.tucker
    torch.testing.assert_close(model.get_delta(1), 0.5 * torch.einsum("abc,ia,jb,kc->ijk", t.core, t.u_out, t.u_in,
                                                                      t.u_basis))
    cfg = model.lotra_config
    assert LoTRAConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert model.config["adapter"] == "lotra" and model.config["base"]["backbone"] == "kan"


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_auto_ranks_stay_within_the_budget_of_each_backbones_own_parameters(name):
    base = BACKBONES[name]()
    full = sum(p.numel() for p in base.parameters())  # full fine-tuning's count (Slim KAN, MetaKAN: < entries)
    model = inject_lotra(base, LoTRAConfig(rank_budget=0.3))
    assert 0 < model.n_parameters() <= 0.3 * full


def test_adapter_files_are_one_packed_tensor_and_version_1_directories_still_load(tmp_path):
    x = points()
    model = inject_lotra(BACKBONES["kan"](), LoTRAConfig(ranks=(3, 2, 2)))
    perturb(model)
    path = model.save_adapter(tmp_path / "v2")
    packed = torch.load(path / "adapter.pt", weights_only=True)
    assert set(packed) == {"layout", "flat"} and packed["flat"].numel() == model.n_parameters()
    # a version-1 directory (one tensor per entry), as written before the packed format
    old = tmp_path / "v1"
    old.mkdir()
    torch.save(model.adapter_state(), old / "adapter.pt")
    meta = json.loads((path / "adapter_config.json").read_text())
    meta.update(format_version=1, tensors_sha256=hashlib.sha256((old / "adapter.pt").read_bytes()).hexdigest())
    (old / "adapter_config.json").write_text(json.dumps(meta))
    y = model(x)
    assert torch.equal(load_adapter(BACKBONES["kan"](), old)(x), y)
    assert torch.equal(load_adapter(BACKBONES["kan"](), path)(x), y)


@pytest.mark.parametrize("mode", ["kan", "slimkan", "metakan", "metakan-hypernet"])
@pytest.mark.parametrize("merged_first", [False, True])
def test_unload_removes_the_adapters_and_returns_the_base_unchanged(mode, merged_first):
    name, _, hyper = mode.partition("-")
    base = BACKBONES[name]()
    base.layers[0].requires_grad_(False)  # flags the base had before injection come back too
    original = {k: v.clone() for k, v in base.state_dict().items()}
    flags = {n: p.requires_grad for n, p in base.named_parameters()}
    x = points()
    config = LoTRAConfig(metakan_mode="hypernet") if hyper else LoTRAConfig(ranks=(3, 2, 2))
    model = inject_lotra(base, config)
    perturb(model)
    assert (model(x) - BACKBONES[name]()(x)).abs().max() > 1e-3  # the adapter (or tuned hypernet) acts
    if merged_first and not hyper:
        model.merge()
    plain = model.unload()
    assert plain is base and not any(isinstance(layer.source, LoTRALayer) for layer in plain.layers)
    assert plain.state_dict().keys() == original.keys()
    assert all(torch.equal(plain.state_dict()[k], v) for k, v in original.items())  # bit for bit
    assert {n: p.requires_grad for n, p in plain.named_parameters()} == flags
    with pytest.raises(RuntimeError, match=r"removed by merge_and_unload\(\) or unload\(\)"):
        model(x)


def test_each_wrapper_owns_its_delta_merge_and_unmerge():
    model = inject_lotra(KAN([3, 7, 1], seed=1), LoTRAConfig(ranks=(2, 2, 2), adapt_base_weight=False))
    perturb(model)
    layer = model.layers[0]
    wrapper, x = layer.source, points()
    assert isinstance(wrapper, DenseLoTRA) and wrapper.kind == "dense"
    c0 = wrapper.base.spline_weight.clone()
    y = layer(x)
    wrapper.merge()  # one layer on its own
    assert torch.equal(wrapper.base.spline_weight, c0 + wrapper.delta())
    torch.testing.assert_close(layer(x), y, rtol=0, atol=1e-12)
    with pytest.raises(RuntimeError, match=r"DenseLoTRA.merge: the adapter is already merged; call unmerge\(\) first"):
        wrapper.merge()
    wrapper.unmerge()
    assert torch.equal(wrapper.base.spline_weight, c0) and torch.equal(layer(x), y)
    with pytest.raises(RuntimeError, match=r"DenseLoTRA.unmerge: the adapter is not merged; call merge\(\) first"):
        wrapper.unmerge()
    hyper = inject_lotra(MetaKAN([3, 7, 1]), LoTRAConfig(metakan_mode="hypernet"))
    assert isinstance(hyper.layers[0].source, HypernetTuning)
    with pytest.raises(RuntimeError, match="hypernet mode trains the hypernets in place and has no delta tensor"):
        hyper.get_delta(0)
    with pytest.raises(RuntimeError, match="HypernetTuning.merge: MetaKAN hypernet mode trains the hypernets"):
        hyper.layers[0].source.merge()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_the_delta_is_a_zero_core_tucker_with_the_factors_lotra_always_drew(dtype):
    """The delta is nn.Tucker(init="zero_core") drawn in float64: QR of a float64 Gaussian per mode (out, in,
    basis), signs fixed so that R's diagonal is positive, cast to the model's dtype, bit for bit."""
    t = zero_delta((6, 4, 9), (2, 3, 3), torch.Generator().manual_seed(4), dtype, None)
    assert isinstance(t, Tucker) and t.core.dtype == dtype and torch.count_nonzero(t.core) == 0
    g = torch.Generator().manual_seed(4)
    for u, (d, r) in zip(t.factors(), [(6, 2), (4, 3), (9, 3)]):
        q, rr = torch.linalg.qr(torch.randn(d, r, generator=g, dtype=torch.float64))
        s = torch.sign(torch.diagonal(rr))
        assert torch.equal(u, (q * torch.where(s == 0, torch.ones_like(s), s)).to(dtype))
