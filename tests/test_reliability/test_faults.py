"""Faults: a run killed with SIGKILL resumes bit-identically, crashes during writes never corrupt the previous
file, NaNs trigger the divergence guard (recovery with history intact, or a clear DivergenceError)."""
import math
import os
import signal
import time
from pathlib import Path

import h5py
import pytest
import torch

from conftest import params
from pde_kan import KAN, MetaKAN
from pde_kan.problems import Poisson
from pde_kan.solvers import (Checkpoint, DivergenceError, HistoryCSV, SamplingConfig, TrainConfig, load_checkpoint,
                             load_solution, solve)
from pde_kan import _io as io_module
from pde_kan.solvers.tasks import PDETask

CONFIG = TrainConfig(steps=30, lr=1e-2, eval_every=10, device="cpu", guard_every=4)
SAMPLING = SamplingConfig(engine="hutchinson", n_probes=2, n_eval=64)
SHORT = SamplingConfig(n_eval=64)


def run(ck_dir=None, resume=None):
    """The run under test: stochastic Laplacian probes, fresh points every step, periodic evaluation."""
    callbacks = [Checkpoint(ck_dir, every=5)] if ck_dir else []
    return solve(Poisson.two_body(3, seed=1), MetaKAN([3, 4, 1], seed=0), CONFIG, SAMPLING, callbacks=callbacks,
                 resume=resume)


def kill_in_loss(at_call):
    """SIGKILL in the middle of a step (after the forward pass, before the optimiser step)."""
    inner, calls = PDETask.loss, [0]

    def loss(self, model, batch):
        out = inner(self, model, batch)
        calls[0] += 1
        if calls[0] == at_call:
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    PDETask.loss = loss


def kill_in_save(at_step):
    """SIGKILL half-way through writing the checkpoint of step ``at_step`` (half the bytes on disk, fsync'ed)."""
    real = torch.save

    def save(obj, f, *a, **kw):
        real(obj, f, *a, **kw)
        if isinstance(obj, dict) and obj.get("step") == at_step:
            data = Path(f).read_bytes()
            with open(f, "wb") as h:
                h.write(data[: len(data) // 2])
                h.flush()
                os.fsync(h.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

    torch.save = save


def run_killed(sabotage, arg, ck_dir, timeout=240.0) -> int:
    """Run :func:`run` in a forked child process that SIGKILLs itself; returns its wait status."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        try:
            torch.set_num_threads(1)
            sabotage(arg)
            run(ck_dir)
        finally:
            os._exit(3)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the child run did not end in time")
        time.sleep(0.05)


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sigkill_mid_run_and_mid_write_then_resume_is_bit_identical(tmp_path, one_thread):
    full = run()  # the uninterrupted reference
    cases = {
        "step": (kill_in_loss, 13, tmp_path / "ck_step"),  # dies inside step 13; last checkpoint: step 10
        "write": (kill_in_save, 15, tmp_path / "ck_write"),  # dies writing step 15's checkpoint
    }
    for name, (sabotage, arg, directory) in cases.items():
        status = run_killed(sabotage, arg, directory)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (name, status)
    # the kill while writing left its temporary file behind, never a partial last.pt
    assert temp_files(cases["step"][2]) == []
    assert len(temp_files(cases["write"][2])) == 1
    for name, (_, _, directory) in cases.items():
        state = load_checkpoint(directory / "last.pt")
        assert state["step"] == 10 and len(state["history"]) == 10, name
        resumed = run(resume=directory / "last.pt")
        assert resumed.metrics["steps"] == 30
        assert torch.equal(params(resumed.model), params(full.model)), name
        assert resumed.history == full.history, name


def _short(steps, **kw):
    return TrainConfig(steps=steps, lr=1e-2, eval_every=0, device="cpu", **kw)


def _checkpointed_run(tmp_path) -> Path:
    solve(Poisson.sine_square(), KAN([2, 4, 1]), _short(5), SHORT, callbacks=[Checkpoint(tmp_path, every=5)])
    return tmp_path / "last.pt"


def _partial_then(error):
    """A torch.save that writes half a file, then fails like a full disk or a crash."""
    real = torch.save

    def save(obj, f, *a, **kw):
        real(obj, f, *a, **kw)
        data = Path(f).read_bytes()
        Path(f).write_bytes(data[: len(data) // 3])
        raise error

    return save


@pytest.mark.parametrize("where", ["torch.save", "os.fsync", "os.replace"])
def test_crash_during_checkpoint_write_keeps_previous_file(where, tmp_path, monkeypatch):
    last = _checkpointed_run(tmp_path)
    before = last.read_bytes()
    crash = OSError(28, "No space left on device")
    if where == "torch.save":
        monkeypatch.setattr(torch, "save", _partial_then(crash))
    else:
        def fail(*a, **kw):
            raise crash
        monkeypatch.setattr(io_module.os, where.split(".")[1], fail)
    with pytest.raises(OSError, match="No space left on device"):
        solve(Poisson.sine_square(), KAN([2, 4, 1]), _short(10), SHORT,
              callbacks=[Checkpoint(tmp_path, every=5)],
              resume=last)
    monkeypatch.undo()
    assert last.read_bytes() == before
    assert temp_files(tmp_path) == []
    assert load_checkpoint(last)["step"] == 5
    resumed = solve(Poisson.sine_square(), KAN([2, 4, 1]), _short(10), SHORT, resume=last)
    assert resumed.metrics["steps"] == 10


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_get_the_mode_of_a_plain_open(umask, mode, tmp_path):
    # the temporary file behind an atomic write is created 0600; the final file must not stay that private
    old = os.umask(umask)
    try:
        path = io_module.atomic_write(tmp_path / "run.json", lambda tmp: Path(tmp).write_text("{}"))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


def test_crash_during_results_write_keeps_previous_file(tmp_path, monkeypatch):
    sol = solve(Poisson.sine_square(), KAN([2, 4, 1]), _short(3), SHORT)
    path = sol.save(tmp_path / "results.h5")
    before = path.read_bytes()
    real, calls = h5py.Group.create_dataset, [0]

    def create_dataset(self, *a, **kw):
        calls[0] += 1
        if calls[0] % 4 == 0:  # a few datasets into each save: the file on disk is half written
            raise RuntimeError("killed while writing")
        return real(self, *a, **kw)

    monkeypatch.setattr(h5py.Group, "create_dataset", create_dataset)
    with pytest.raises(RuntimeError, match="killed while writing"):
        sol.save(path)
    with pytest.raises(RuntimeError, match="killed while writing"):
        sol.save(tmp_path / "fresh.h5")  # no previous file: nothing under the final name
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not (tmp_path / "fresh.h5").exists()
    assert temp_files(tmp_path) == []
    assert load_solution(path).history == sol.history


def test_crash_during_history_csv_write_keeps_previous_file(tmp_path, monkeypatch):
    csv = tmp_path / "history.csv"
    solve(Poisson.sine_square(), KAN([2, 4, 1]), _short(4), SHORT, callbacks=[HistoryCSV(csv)])
    before = csv.read_text()
    assert before.count("\n") == 5  # header + 4 steps
    real = Path.write_text

    def write_text(self, data, *a, **kw):
        real(self, data[: len(data) // 2], *a, **kw)
        raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(KeyboardInterrupt):
        solve(Poisson.sine_square(), KAN([2, 4, 1]), _short(6), SHORT, callbacks=[HistoryCSV(csv)])
    monkeypatch.undo()
    assert csv.read_text() == before
    assert temp_files(tmp_path) == []


class NaNLoss:
    """Patch PDETask.loss so that chosen loss evaluations (1-based, counted over the run) return NaN."""

    def __init__(self, monkeypatch, at):
        self.at, self.calls = set(at), 0
        inner = PDETask.loss

        def loss(task, model, batch):
            self.calls += 1
            value, logs = inner(task, model, batch)
            return (value * math.nan if self.calls in self.at else value), logs

        monkeypatch.setattr(PDETask, "loss", loss)


def test_nan_loss_recovers_with_history_intact(tmp_path, monkeypatch):
    cfg = _short(20, guard_every=5)
    clean = solve(Poisson.sine_square(), KAN([2, 4, 1]), cfg, SHORT)
    NaNLoss(monkeypatch, at=[13])  # during step 13: restore step 10's snapshot
    sol = solve(Poisson.sine_square(), KAN([2, 4, 1]), cfg, SHORT, callbacks=[Checkpoint(tmp_path, every=4)])
    assert sol.metrics["recoveries"] == 1 and sol.metrics["steps"] == 20
    assert [r["step"] for r in sol.history] == list(range(1, 21))
    assert all(math.isfinite(r["loss"]) for r in sol.history)
    assert sol.history[:10] == clean.history[:10]  # the history before the restored snapshot is untouched
    assert [r["lr_scale"] for r in sol.history] == [1.0] * 10 + [0.5] * 10
    assert math.isfinite(sol.metrics["rel_l2"]) and all(torch.isfinite(p).all() for p in sol.model.parameters())
    state = load_checkpoint(tmp_path / "last.pt")  # the checkpoint records the recovery
    assert state["recoveries"] == [12] and state["lr_scale"] == 0.5 and state["history"] == sol.history


def test_nan_gradient_with_finite_loss_recovers(monkeypatch):
    model = KAN([2, 4, 1])
    calls = [0]

    def poison(grad):
        calls[0] += 1
        return grad * math.nan if calls[0] == 7 else grad

    model.layers[0].source.spline_weight.register_hook(poison)
    sol = solve(Poisson.sine_square(), model, _short(12, guard_every=3), SHORT)
    assert sol.metrics["recoveries"] == 1 and sol.metrics["steps"] == 12
    assert all(math.isfinite(r["loss"]) for r in sol.history)


def test_nan_during_lbfgs_phase_recovers(monkeypatch):
    cfg = TrainConfig(steps=6, optimizer="adam+lbfgs", lbfgs_steps=3, lr=1e-2, guard_every=2, eval_every=0,
                      device="cpu")
    nan = NaNLoss(monkeypatch, at=[7])  # 6 Adam evaluations, then the first L-BFGS evaluation
    sol = solve(Poisson.sine_square(), KAN([2, 4, 1]), cfg, SHORT)
    assert nan.calls > 9 and sol.metrics["recoveries"] == 1 and sol.metrics["steps"] == 9
    assert [r["step"] for r in sol.history] == list(range(1, 10))
    assert all(torch.isfinite(p).all() for p in sol.model.parameters())


def test_persistent_nan_ends_with_clear_divergence_error(tmp_path, monkeypatch):
    cfg = _short(30, guard_every=5, max_retries=3)
    NaNLoss(monkeypatch, at=range(9, 1000))  # from step 9 on, every evaluation
    with pytest.raises(DivergenceError, match=r"training diverged: non-finite loss or gradient at step 5, still after "
                                              r"3 recoveries \(learning rate scaled down to 0.125x\). Lower lr, set "
                                              r"grad_clip, or check the problem's data"):
        solve(Poisson.sine_square(), KAN([2, 4, 1]), cfg, SHORT, callbacks=[Checkpoint(tmp_path, every=4)])
    # the last checkpoint written before the failure is intact and usable
    state = load_checkpoint(tmp_path / "last.pt")
    assert all(math.isfinite(r["loss"]) for r in state["history"])
    assert all(torch.isfinite(v).all() for v in state["model"].values())


@pytest.mark.parametrize("make", [lambda: KAN([2, 4, 1]), lambda: MetaKAN([2, 4, 1])], ids=["kan", "metakan"])
def test_nan_inside_the_network_propagates_instead_of_crashing(make):
    """Parameters gone NaN (an optimiser step on a NaN gradient) make NaN hidden features; forward, jets and
    backward must carry the NaN to the loss, where the divergence guard sees it, rather than raise."""
    from pde_kan.diff import laplacian

    model = make()
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = math.nan
    x = Poisson.sine_square().sample_interior(8, torch.Generator().manual_seed(0))
    out = model(x)
    lap = laplacian(model, x, "jet")
    assert torch.isnan(out).any() and torch.isnan(lap).any()
    (out.sum() + lap.sum()).backward()
