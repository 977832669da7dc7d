"""The one training loop: optimisers, schedules, divergence guard, checkpoints and resume, results files."""
import math
import os
import signal

import pytest
import torch

from conftest import params
from pde_kan import KAN, MLP, MetaKAN, SlimKAN
from pde_kan.solvers import (Callback, Checkpoint, DivergenceError, EarlyStopping, HistoryCSV, SamplingConfig,
                             SupervisedTask, TrainConfig, Trainer, fit, load_checkpoint, load_solution)
from pde_kan.solvers import INTERRUPTED


def regression_task(n=128, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2 * n, 2, generator=g, dtype=torch.float64) * 2 - 1
    y = (torch.sin(2 * x[:, 0]) * x[:, 1] + 0.5 * x[:, 0] ** 2)[:, None]
    return SupervisedTask(x[:n], y[:n], x[n:], y[n:], batch_size=64)


def test_adam_fit_reduces_error_below_stated_level():
    sol = fit(regression_task(), KAN([2, 6, 1]), TrainConfig(steps=300, lr=1e-2, eval_every=100, device="cpu"))
    assert sol.metrics["test_rmse"] < 0.05
    assert sol.metrics["steps"] == 300 and len(sol.history) == 300
    assert sol.history[-1]["test_rmse"] == sol.metrics["test_rmse"]
    assert sol.metrics["trainable_parameters"] == 2 * 6 * 9 + 6 * 9


def test_lbfgs_and_adam_plus_lbfgs_run_and_improve():
    task = regression_task()
    base = fit(task, KAN([2, 6, 1]), TrainConfig(steps=1, lr=1e-2, device="cpu")).metrics["test_rmse"]
    for cfg in (TrainConfig(steps=10, optimizer="lbfgs", device="cpu"),
                TrainConfig(steps=20, optimizer="adam+lbfgs", lbfgs_steps=5, lr=1e-2, device="cpu")):
        sol = fit(regression_task(), KAN([2, 6, 1]), cfg)
        assert sol.metrics["test_rmse"] < 0.5 * base
        assert sol.metrics["steps"] == cfg.total_steps


def test_group_learning_rates_reach_the_optimizer():
    model = MetaKAN([2, 4, 1])
    cfg = TrainConfig(steps=1, lr=1e-3, group_lr={"hypernet": 1e-4, "embeddings": 2e-3}, device="cpu")
    tr = Trainer(model, regression_task(), cfg)
    lrs = {g["name"]: g["lr"] for g in tr.optimizer.param_groups}
    assert lrs == {"hypernet": 1e-4, "embeddings": 2e-3}
    with pytest.raises(ValueError, match=r"group_lr names unknown parameter group\(s\) \['core'\]"):
        Trainer(MetaKAN([2, 4, 1]), regression_task(), TrainConfig(group_lr={"core": 1.0}, device="cpu"))


@pytest.mark.parametrize("schedule", ["cosine", "exponential", "linear"])
def test_schedules_decay_to_final_factor(schedule):
    cfg = TrainConfig(steps=10, lr=1.0, schedule=schedule, lr_final_factor=0.1, device="cpu")
    tr = Trainer(MLP([2, 4, 1]), regression_task(), cfg)
    assert tr._schedule(0) == pytest.approx(1.0)
    assert tr._schedule(10) == pytest.approx(0.1)
    assert 0.1 < tr._schedule(5) < 1.0


def test_linear_schedule_to_zero_is_the_reference_lambda():
    # the reference MetaKAN scripts: LambdaLR(lambda epoch: 1 - epoch / epochs)
    cfg = TrainConfig(steps=8, lr=1.0, schedule="linear", lr_final_factor=0.0, device="cpu")
    tr = Trainer(MLP([2, 4, 1]), regression_task(), cfg)
    assert [tr._schedule(s) for s in range(8)] == pytest.approx([1 - s / 8 for s in range(8)])
    with pytest.raises(ValueError, match=r"lr_final_factor must be a finite number > 0, got 0"):
        TrainConfig(schedule="exponential", lr_final_factor=0.0)


class NaNInjector(Callback):
    """Makes the task's loss NaN at chosen (global) loss evaluations."""

    def __init__(self, task, at):
        self.task, self.at, self.calls = task, set(at), 0
        inner = task.loss

        def loss(model, batch):
            self.calls += 1
            value, logs = inner(model, batch)
            return (value * math.nan if self.calls in self.at else value), logs

        task.loss = loss


def test_divergence_guard_restores_and_recovers_with_history_intact():
    task = regression_task()
    NaNInjector(task, at=[25])
    cfg = TrainConfig(steps=40, lr=1e-2, guard_every=10, device="cpu")
    tr = Trainer(KAN([2, 4, 1]), task, cfg).fit()
    assert tr.step == 40 and tr.recoveries == [24]
    assert [r["step"] for r in tr.history] == list(range(1, 41))
    assert all(math.isfinite(r["loss"]) for r in tr.history)
    assert tr.lr_scale == 0.5
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())


def test_divergence_guard_gives_up_with_clear_error():
    task = regression_task()
    NaNInjector(task, at=range(1, 1000))
    with pytest.raises(DivergenceError, match="training diverged: non-finite loss or gradient at step 0, still "
                                              "after 2 recoveries"):
        Trainer(KAN([2, 4, 1]), task, TrainConfig(steps=5, max_retries=2, device="cpu")).fit()


def test_checkpoint_resume_is_bit_identical(tmp_path):
    cfg = TrainConfig(steps=30, lr=1e-2, eval_every=10, device="cpu")
    full = fit(regression_task(), MetaKAN([2, 4, 1]), cfg)
    part = fit(regression_task(), MetaKAN([2, 4, 1]), cfg.replace(steps=12),
               callbacks=[Checkpoint(tmp_path / "ck", every=5)])
    state = load_checkpoint(tmp_path / "ck" / "last.pt")
    assert state["step"] == 12
    resumed = fit(regression_task(), MetaKAN([2, 4, 1]), cfg, resume=tmp_path / "ck" / "last.pt")
    assert torch.equal(params(resumed.model), params(full.model))
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]
    assert part.metrics["steps"] == 12


def test_resume_refuses_changed_config(tmp_path):
    cfg = TrainConfig(steps=3, device="cpu")
    fit(regression_task(), KAN([2, 3, 1]), cfg, callbacks=[Checkpoint(tmp_path, every=1)])
    with pytest.raises(ValueError, match=r"different config for \['train.lr'\]"):
        fit(regression_task(), KAN([2, 3, 1]), cfg.replace(lr=0.5), resume=tmp_path / "last.pt")


def test_same_seed_bit_identical_and_different_seed_differs():
    cfg = TrainConfig(steps=20, lr=1e-2, device="cpu")
    a = fit(regression_task(), KAN([2, 4, 1]), cfg)
    b = fit(regression_task(), KAN([2, 4, 1]), cfg)
    c = fit(regression_task(), KAN([2, 4, 1]), cfg.replace(seed=1))
    assert torch.equal(params(a.model), params(b.model))
    assert not torch.equal(params(a.model), params(c.model))


def test_early_stopping_and_history_csv(tmp_path):
    sol = fit(regression_task(), KAN([2, 6, 1]), TrainConfig(steps=500, lr=1e-2, eval_every=10, device="cpu"),
              callbacks=[EarlyStopping(0.2, metric="test_rmse"), HistoryCSV(tmp_path / "h.csv")])
    assert sol.stop_reason and "test_rmse" in sol.stop_reason
    assert sol.metrics["steps"] < 500 and sol.metrics["test_rmse"] <= 0.2
    lines = (tmp_path / "h.csv").read_text().splitlines()
    assert lines[0].startswith("step,loss") and len(lines) == sol.metrics["steps"] + 1
    with pytest.raises(ValueError, match="metric 'rel_l2' is not reported"):
        fit(regression_task(), KAN([2, 3, 1]), TrainConfig(steps=2, eval_every=1, device="cpu"),
            callbacks=[EarlyStopping(0.1)])


class SendInterrupts(Callback):
    """Sends this process ``times`` SIGINTs at ``step`` (from inside the loop, as Ctrl-C would)."""

    def __init__(self, step, times=1):
        self.step, self.times = step, times

    def on_step(self, trainer, logs):
        if trainer.step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_after_the_step_keeps_results_and_restores_the_handler():
    before = signal.getsignal(signal.SIGINT)
    config = TrainConfig(steps=50, lr=1e-2, eval_every=0, device="cpu")
    sol = fit(regression_task(), KAN([2, 4, 1]), config, callbacks=[SendInterrupts(3)])
    assert sol.stop_reason == INTERRUPTED
    assert sol.metrics["steps"] == 3 and len(sol.history) == 3 and "test_rmse" in sol.history[-1]
    assert signal.getsignal(signal.SIGINT) is before
    # a second Ctrl-C aborts at once, and the handler is still restored
    with pytest.raises(KeyboardInterrupt):
        fit(regression_task(), KAN([2, 4, 1]), config, callbacks=[SendInterrupts(3, times=2)])
    assert signal.getsignal(signal.SIGINT) is before


def test_solution_hdf5_round_trip_for_supervised(tmp_path):
    sol = fit(regression_task(), KAN([2, 4, 1]), TrainConfig(steps=5, device="cpu"))
    path = sol.save(tmp_path / "r.h5")
    back = load_solution(path)
    assert back.metrics == sol.metrics
    assert back.config == sol.config
    x = torch.rand(5, 2, dtype=torch.float64)
    assert torch.equal(back.model(x), sol.model(x))
    assert [r["loss"] for r in back.history] == [r["loss"] for r in sol.history]


@pytest.mark.parametrize("kwargs, match", [
    (dict(steps=0), "steps must be an integer >= 1, got 0"),
    (dict(steps=-3), "steps must be an integer >= 1, got -3"),
    (dict(lr=0.0), "lr must be a finite number > 0, got 0.0"),
    (dict(optimizer="sgd"), "unknown optimizer 'sgd'; valid names: 'adam', 'adamw', 'lbfgs', 'adam\\+lbfgs'"),
    (dict(schedule="step"), "unknown schedule 'step'"),
    (dict(optimizer="adam+lbfgs"), "needs lbfgs_steps >= 1"),
    (dict(dtype="float16"), "unknown dtype 'float16'"),
    (dict(group_lr={"hypernet": -1.0}), r"group_lr\['hypernet'\] must be a finite number > 0"),
])
def test_train_config_rejects_bad_values(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TrainConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(engine="fd"), "SamplingConfig: unknown engine 'fd'"),
    (dict(engine="sdgd"), "needs n_probes, the number of probe directions"),
    (dict(n_interior=0), "n_interior must be an integer >= 1, got 0"),
    (dict(n_probes=0), "n_probes must be an integer >= 1, got 0"),
    (dict(n_eval=0), "n_eval must be an integer >= 1, got 0"),
])
def test_sampling_config_rejects_bad_values(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        SamplingConfig(**kwargs)


def test_sampling_fields_are_not_train_fields():
    with pytest.raises(ValueError, match=r"TrainConfig: field\(s\) \['k', 'laplacian'\] moved to SamplingConfig "
                                         r"\(TOML \[sampling\], --set sampling.F=V\) as \['n_probes', 'engine'\]"):
        TrainConfig.from_dict({"laplacian": "sdgd", "k": 2})
    assert SamplingConfig.from_dict(SamplingConfig(engine="sdgd", n_probes=2).to_dict()) == \
        SamplingConfig(engine="sdgd", n_probes=2)


def test_fit_refuses_the_old_argument_order():
    with pytest.raises(TypeError, match=r"fit: the first argument is the task and the second the model, got a KAN "
                                        r"model first and a SupervisedTask second; call fit\(task, model, config\)"):
        fit(KAN([2, 3, 1]), regression_task(), TrainConfig(steps=1, device="cpu"))
    with pytest.raises(TypeError, match=r"fit: model must be a torch.nn.Module \(a pde_kan backbone\), got str"):
        fit(regression_task(), "kan")


def test_train_config_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['stpes'\]"):
        TrainConfig.from_dict({"stpes": 3})
    assert TrainConfig.from_dict(TrainConfig(steps=7).to_dict()) == TrainConfig(steps=7)


def test_model_supplied_group_rates_are_used_unless_the_config_names_some():
    class RatedMetaKAN(MetaKAN):
        def group_lr(self, lr):
            return {"hypernet": lr / 10, "embeddings": lr * 2}

    tr = Trainer(RatedMetaKAN([2, 4, 1]), regression_task(), TrainConfig(steps=1, lr=1e-3, device="cpu"))
    assert {g["name"]: g["lr"] for g in tr.optimizer.param_groups} == {"hypernet": 1e-4, "embeddings": 2e-3}
    tr = Trainer(RatedMetaKAN([2, 4, 1]), regression_task(),
                 TrainConfig(steps=1, lr=1e-3, group_lr={"hypernet": 5e-4}, device="cpu"))
    assert {g["name"]: g["lr"] for g in tr.optimizer.param_groups} == {"hypernet": 5e-4, "embeddings": 1e-3}


@pytest.mark.parametrize("make", [lambda: SlimKAN([2, 4, 1], ranks=(3, 2, 4)), lambda: MetaKAN([2, 4, 1])])
def test_lbfgs_runs_on_factored_and_generated_coefficients(make):
    """L-BFGS flattens gradients with view(); every parameter (QR factors included) must be contiguous."""
    model = make()
    assert all(p.is_contiguous() for p in model.parameters())
    sol = fit(regression_task(), model, TrainConfig(steps=2, optimizer="lbfgs", device="cpu"))
    assert sol.metrics["steps"] == 2


def test_lr_none_takes_the_backbones_recommended_rate_and_an_explicit_lr_wins():
    from pde_kan.solvers.trainer import FALLBACK_LR

    cases = [(KAN([2, 3, 1]), KAN.recommended_lr), (MLP([2, 4, 1]), MLP.recommended_lr),
             (MetaKAN([2, 3, 1]), MetaKAN.recommended_lr), (SlimKAN([2, 3, 1]), SlimKAN.recommended_lr),
             (torch.nn.Linear(2, 1).double(), FALLBACK_LR)]
    assert MLP.recommended_lr != KAN.recommended_lr  # the rates really are per backbone
    for model, lr in cases:
        tr = Trainer(model, regression_task(), TrainConfig(steps=2, device="cpu"))
        assert {g["lr"] for g in tr.optimizer.param_groups} == {lr}
        assert Trainer(model, regression_task(), TrainConfig(steps=2, lr=0.25, device="cpu")).lr == 0.25
    sol = fit(regression_task(), MLP([2, 4, 1]), TrainConfig(steps=2, device="cpu"))
    assert sol.metrics["lr"] == MLP.recommended_lr  # the rate used is recorded with the results


def test_alternating_group_schedule_is_torch_cosine_annealing_with_t_max_minus_one():
    # the reference MetaKAN image script: CosineAnnealingLR(optimH, T_max=-1), stepped once per epoch
    period, epochs = 3, 6
    cfg = TrainConfig(steps=period * epochs, lr=1e-3, group_lr={"hypernet": 1e-4}, group_schedule={
        "hypernet": "alternating"}, schedule_period=period, device="cpu")
    tr = Trainer(MetaKAN([2, 4, 1]), regression_task(), cfg)
    ref_opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=-1)
    for epoch in range(epochs):
        for step in range(epoch * period, (epoch + 1) * period):
            tr.step = step
            tr._set_lr()
            lrs = {g["name"]: g["lr"] for g in tr.optimizer.param_groups}
            assert lrs["hypernet"] == pytest.approx(ref_opt.param_groups[0]["lr"], abs=1e-15)
            assert lrs["embeddings"] == 1e-3  # the groups without an entry follow `schedule`
        ref_opt.step()  # no gradient: nothing moves, but torch wants optimiser steps before scheduler steps
        sched.step()
    with pytest.raises(ValueError, match="'alternating' schedule needs schedule_period >= 1"):
        TrainConfig(group_schedule={"hypernet": "alternating"})
    with pytest.raises(ValueError, match=r"unknown group_schedule\['hypernet'\] 'cos'"):
        TrainConfig(group_schedule={"hypernet": "cos"})
    with pytest.raises(ValueError, match=r"group_schedule names unknown parameter group\(s\) \['core'\]"):
        Trainer(MetaKAN([2, 4, 1]), regression_task(), TrainConfig(group_schedule={"core": "cosine"}, device="cpu"))


def test_adamw_and_group_weight_decay_reach_the_optimizer():
    cfg = TrainConfig(steps=1, optimizer="adamw", lr=1e-3, weight_decay=0.0,
                      group_weight_decay={"hypernet": 1e-4, "embeddings": 5e-4}, device="cpu")
    tr = Trainer(MetaKAN([2, 4, 1]), regression_task(), cfg)
    assert isinstance(tr.optimizer, torch.optim.AdamW)
    assert {g["name"]: g["weight_decay"] for g in tr.optimizer.param_groups} == {"hypernet": 1e-4, "embeddings": 5e-4}
    tr = Trainer(KAN([2, 4, 1]), regression_task(), TrainConfig(steps=1, weight_decay=5e-4, device="cpu"))
    assert type(tr.optimizer) is torch.optim.Adam
    assert [g["weight_decay"] for g in tr.optimizer.param_groups] == [5e-4]
    with pytest.raises(ValueError, match=r"weight_decay must be a finite number >= 0"):
        TrainConfig(weight_decay=-1.0)
    with pytest.raises(ValueError, match=r"group_weight_decay names unknown parameter group\(s\) \['core'\]"):
        Trainer(KAN([2, 4, 1]), regression_task(), TrainConfig(group_weight_decay={"core": 0.1}, device="cpu"))
