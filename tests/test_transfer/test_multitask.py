"""A base trained for a family: MixedHeads (the mixed multi-output model), FamilyTask / pretrain_family (one head
per coefficient set), mix_heads (the mix fitted on a new set's residual)."""
import pytest
import torch

from pde_kan import KAN, MetaKAN, SamplingConfig, TrainConfig
from pde_kan.diff import autograd_laplacian, laplacian
from pde_kan.nn import MixedHeads, backbone_from_config, get_backbone
from pde_kan.problems import AllenCahn, Poisson
from pde_kan.solvers import load_solution, solve
from pde_kan.solvers.tasks import PDETask
from pde_kan.transfer import FamilyTask, LoTRAModel, mix_heads, pretrain_family, transfer

TOL = dict(rtol=1e-10, atol=1e-10)


def points(n=12, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(n, d, generator=g, dtype=torch.float64) - 1) * 0.6


def family(n=3):
    p = Poisson.two_body(dim=3, seed=0)
    return [p.with_params(coeffs=[c * (1 + 0.3 * k) for c in p.coeffs]) for k in range(n)]


def one_hot(h, n=3):
    return torch.eye(n, dtype=torch.float64)[h]


# --- MixedHeads --------------------------------------------------------------------------------------------
def test_mixed_heads_is_the_weighted_sum_of_the_heads_with_jets_equal_to_autograd():
    base = KAN([3, 5, 3], seed=1)
    w = torch.tensor([0.5, -2.0, 1.25], dtype=torch.float64)
    m = MixedHeads(base, mix=w)
    x = points()
    torch.testing.assert_close(m(x)[:, 0], base(x) @ w, **TOL)
    torch.testing.assert_close(laplacian(m, x, "jet"), autograd_laplacian(m, x)[1], **TOL)
    torch.testing.assert_close(laplacian(m, x, "jet"), laplacian(base, x, "jet") @ w, **TOL)
    assert m.out_features == 1 and m.n_heads == 3 and m.widths == [3, 5, 3, 1]
    assert m.recommended_lr == base.recommended_lr
    # default: equal weights; the layers are the base's own modules
    torch.testing.assert_close(MixedHeads(base)(x)[:, 0], base(x).mean(1), **TOL)
    assert MixedHeads(base).layers[0] is base.layers[0]


def test_mixed_heads_config_rebuilds_it_and_results_files_round_trip(tmp_path):
    m = MixedHeads(MetaKAN([3, 4, 2], seed=0), mix=[1.0, -1.0])
    rebuilt = backbone_from_config(m.config)
    assert isinstance(rebuilt, MixedHeads) and rebuilt.config == m.config
    rebuilt.load_state_dict(m.state_dict())
    x = points()
    torch.testing.assert_close(rebuilt(x), m(x), rtol=0, atol=0)
    assert m.group_lr(1e-2) == MetaKAN([3, 4, 2]).group_lr(1e-2)  # the backbone's per-group rates
    p = family(1)[0]
    sol = solve(p, m, TrainConfig(steps=2, eval_every=0), SamplingConfig(n_interior=8, n_eval=16))
    sol.save(tmp_path / "run")
    loaded = load_solution(tmp_path / "run")
    assert isinstance(loaded.model, MixedHeads)
    torch.testing.assert_close(loaded.predict(x), sol.predict(x), rtol=0, atol=0)


def test_mixed_heads_refuses_bad_arguments():
    base = KAN([3, 4, 2])
    with pytest.raises(ValueError, match="mix must be 2 finite numbers"):
        MixedHeads(base, mix=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="mix must be 2 finite numbers"):
        MixedHeads(base, mix=[1.0, float("nan")])
    with pytest.raises(TypeError, match="not a MixedHeads"):
        MixedHeads(MixedHeads(base))
    with pytest.raises(TypeError, match="backbone must be a pde_kan backbone"):
        MixedHeads(torch.nn.Linear(3, 2))
    with pytest.raises(ValueError, match="heads"):  # built around a backbone, not from widths
        get_backbone("heads", [3, 4, 1])


# --- FamilyTask and pretrain_family ----------------------------------------------------------------------
def test_family_loss_is_the_mean_of_each_sets_loss_on_its_head():
    problems = family(3)
    model = KAN([3, 5, 3], seed=0)
    smp = SamplingConfig(n_interior=20, n_eval=50)
    task = FamilyTask(problems, smp)
    task.prepare(torch.float64, "cpu")
    batch = task.batch(0, torch.Generator().manual_seed(0), torch.float64, "cpu")
    loss, logs = task.loss(model, batch)
    singles = []
    for h, p in enumerate(problems):
        single = PDETask(p, smp)
        single.prepare(torch.float64, "cpu")
        singles.append(single.loss(MixedHeads(model, mix=one_hot(h)), batch)[0])
    torch.testing.assert_close(loss, torch.stack(singles).mean(), **TOL)
    assert logs["loss_pde"] == pytest.approx(float(loss.detach()))
    loss.backward()  # the shared layers get gradients, not a frozen copy
    assert all(p.grad is not None for p in model.parameters())
    metrics = task.evaluate(model)
    assert metrics["rel_l2_max"] == max(metrics[f"rel_l2_{h}"] for h in range(3))
    assert metrics["rel_l2"] == pytest.approx(sum(metrics[f"rel_l2_{h}"] for h in range(3)) / 3)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_pretrain_family_trains_every_head_and_records_the_family(dtype):
    problems = family(2)
    model = KAN([3, 6, 2], seed=0)  # float64: the trainer moves it to the run's dtype after the inputs are checked
    cfg = TrainConfig(steps=60, lr=1e-2, eval_every=0, dtype=dtype)
    sol = pretrain_family(problems, model, cfg, SamplingConfig(n_interior=64, n_eval=256))
    assert sol.attrs["family"] == [p.params() for p in problems]
    with pytest.raises(ValueError, match="2 outputs, one per coefficient set"):  # no single ansatz to apply
        sol.predict(points())
    assert sol.history[-1]["loss"] < 0.5 * sol.history[0]["loss"]
    assert sol.metrics["rel_l2_max"] < 1.0


def test_family_checkpoint_resumes_only_the_same_sets_in_the_same_order(tmp_path):
    from pde_kan.solvers import Checkpoint

    problems = family(2)
    cfg = TrainConfig(steps=4, lr=1e-2, eval_every=0)
    sampling = SamplingConfig(n_interior=16, n_eval=32)
    pretrain_family(problems, KAN([3, 4, 2], seed=0), cfg, sampling, callbacks=[Checkpoint(tmp_path, every=2)])
    ckpt = str(tmp_path / "last.pt")
    longer = cfg.replace(steps=6)
    resumed = pretrain_family(problems, KAN([3, 4, 2], seed=0), longer, sampling, resume=ckpt)
    assert resumed.metrics["steps"] == 6
    for other in (problems[::-1], [problems[0], family(3)[2]]):  # swapped heads, another set
        with pytest.raises(ValueError, match=r"different config for \['problem.family'\]"):
            pretrain_family(other, KAN([3, 4, 2], seed=0), longer, sampling, resume=ckpt)


def test_family_inputs_are_checked_before_training():
    problems = family(3)
    with pytest.raises(ValueError, match="one output per coefficient set, out_features=3, got 1"):
        pretrain_family(problems, KAN([3, 4, 1]), TrainConfig(steps=1))
    with pytest.raises(ValueError, match="at least 2 coefficient sets"):
        FamilyTask(problems[:1])
    with pytest.raises(ValueError, match=r"problems\[1\] is a AllenCahnTwoBody"):
        FamilyTask([problems[0], AllenCahn.two_body(3, seed=0)])
    with pytest.raises(ValueError, match="model.in_features must equal the problem dimension 3"):
        pretrain_family(problems, KAN([4, 4, 3]), TrainConfig(steps=1))


# --- mix_heads ---------------------------------------------------------------------------------------------
def test_mix_heads_finds_the_least_squares_mix_of_a_linear_pde():
    """Poisson's residual is affine in the mix: the fitted mix must be the least-squares solution on the fit's
    points (drawn from the run's generator, seed 0)."""
    problem = family(1)[0]
    base = KAN([3, 6, 4], seed=0)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model = mix_heads(problem, base)
    x = problem.sample_interior(1000, torch.Generator().manual_seed(0))
    heads = [MixedHeads(base, mix=row) for row in torch.eye(4, dtype=torch.float64)]
    a = torch.stack([problem.derivatives(h, x).laplacian for h in heads], 1).detach()
    w = torch.linalg.lstsq(a, problem.source(x)[:, None]).solution[:, 0]
    torch.testing.assert_close(model.mix.detach(), w, rtol=1e-6, atol=1e-8)
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # the base is not modified
    assert all(p.requires_grad for p in model.parameters())  # ready for transfer()


def test_mix_heads_then_lotra_adapts_the_kan_layers_and_keeps_the_mix():
    problems = family(2)
    base = pretrain_family(problems, KAN([3, 5, 2], seed=0), TrainConfig(steps=20, eval_every=0),
                           SamplingConfig(n_interior=32, n_eval=64))
    target = problems[0].with_params(coeffs=[1.1 * c for c in problems[0].coeffs])
    start = mix_heads(target, base)
    mix = start.mix.detach().clone()
    sol = transfer(target, start, method="lotra", config=TrainConfig(steps=5, eval_every=0),
                   sampling=SamplingConfig(n_interior=16, n_eval=32))
    assert isinstance(sol.model, LoTRAModel)
    assert sorted(sol.model.layer_ranks) == ["layers.0", "layers.1"]  # the KAN layers; the mix is not a target
    torch.testing.assert_close(sol.model.base_model.mix.detach(), mix, rtol=0, atol=0)
    with pytest.raises(TypeError, match="one output per coefficient set"):
        mix_heads(target, KAN([3, 4, 1]))
    assert mix_heads(target, KAN([3, 4, 2], dtype=torch.float32)).dtype == torch.float32  # the base's dtype


def test_adapter_bank_on_a_family_base_stores_each_members_mix_and_round_trips(tmp_path):
    from pde_kan.transfer import AdapterBank
    from pde_kan.transfer.bank import MIX

    problems = family(2)
    base = pretrain_family(problems, KAN([3, 5, 2], seed=0), TrainConfig(steps=10, eval_every=0),
                           SamplingConfig(n_interior=32, n_eval=64))
    bank = AdapterBank(base, tmp_path / "bank.h5", config=TrainConfig(steps=3, eval_every=0), dtype="float64",
                       sampling=SamplingConfig(n_interior=16, n_eval=32))
    assert bank.is_family
    targets = [problems[0].with_params(coeffs=[s * c for c in problems[0].coeffs]) for s in (1.1, 1.3)]
    sols = [bank.add(t) for t in targets]
    x = points()
    for key, sol, target in zip(bank.keys(), sols, targets):
        state = bank.adapter_state(key)
        assert state[MIX].shape == (2,)
        torch.testing.assert_close(state[MIX], mix_heads(target, base).mix.detach(), rtol=0, atol=0)
        torch.testing.assert_close(bank.model(key)(x), sol.model(x), rtol=0, atol=0)
        torch.testing.assert_close(bank.model(key, merged=True)(x), sol.model(x), rtol=1e-12, atol=1e-12)
    loaded = AdapterBank.load(tmp_path / "bank.h5", base)
    torch.testing.assert_close(loaded.model("set1")(x), sols[1].model(x), rtol=0, atol=0)
    assert sols[1].attrs["bank"]["warm_start_from"] == "set0"  # 1.3c is nearer to 1.1c than to nothing


def test_family_of_user_pdes_runs_each_head_through_its_own_routing():
    """PDE problems route their own derivatives (no shared jet): the family loss is still the mean of each set's
    PDETask loss on its head, soft conditions included, and pretraining runs."""
    import math

    from pde_kan.problems import PDE, Box, Dirichlet, Initial, SpaceTime

    def heat(k):
        def u0(x):
            return torch.sin(math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])

        return PDE(lambda x, u: u.dt - k * u.laplacian, domain=SpaceTime(Box.cube(2), 0.0, 1.0),
                   conditions=[Dirichlet(0.0, hard=False), Initial(u0, hard=False)],
                   exact=lambda x: torch.exp(-2 * math.pi ** 2 * k * x[:, 2]) * u0(x))

    problems = [heat(0.05), heat(0.1)]
    model = KAN([3, 5, 2], seed=0)
    smp = SamplingConfig(n_interior=16, n_boundary=8, n_eval=32)
    task = FamilyTask(problems, smp)
    task.prepare(torch.float64, "cpu")
    batch = task.batch(0, torch.Generator().manual_seed(0), torch.float64, "cpu")
    assert batch[1]  # soft-condition points are part of the batch
    loss, logs = task.loss(model, batch)
    singles = []
    for h, p in enumerate(problems):
        single = PDETask(p, smp)
        single.prepare(torch.float64, "cpu")
        singles.append(single.loss(MixedHeads(model, mix=one_hot(h, 2)), batch)[0])
    torch.testing.assert_close(loss, torch.stack(singles).mean(), **TOL)
    assert {"loss_pde", "loss_dirichlet", "loss_initial"} <= set(logs)
    sol = pretrain_family(problems, model, TrainConfig(steps=3, eval_every=0), smp)
    assert set(sol.metrics) >= {"rel_l2", "rel_l2_max", "rel_l2_0", "rel_l2_1"}
