"""DistributedContext: two gloo processes on CPU against one process on the union of their points.

The two ranks are real processes that join the group the way torchrun's children do (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT in the environment, read by ``DistributedContext.from_env``). They are
forked from the test process so that they do not import torch again. Everything runs in float64, so gradients
and parameters must agree to 1e-12.
"""
import multiprocessing
import os
import socket
import time
import traceback
from pathlib import Path

import pytest
import torch

from pde_kan import KAN, MLP
from pde_kan.diff import laplacian
from pde_kan.problems import Poisson
from pde_kan.solvers import Checkpoint, PDETask, SamplingConfig, TrainConfig, solve
from pde_kan.solvers.distributed import DistributedContext, seed_for_rank, shard_size

DIM = 4
CONFIG = TrainConfig(steps=3, lr=1e-2, eval_every=0, seed=3, device="cpu")
SAMPLING = SamplingConfig(n_interior=16, engine="jet", n_eval=64)


def problem():
    return Poisson.two_body(dim=DIM, seed=0)


def grads(model):
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def max_diff(a, b) -> float:
    # plain comparison: torch.testing.assert_close imports torch.distributed.tensor (seconds on a loaded machine)
    return float((a.detach() - b.detach()).abs().max())


def worker(out: Path) -> None:
    """One rank: all-reduced gradients of one batch, a Laplacian-only MLP loss, then three training steps."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ctx = DistributedContext.from_env()
    print(f"rank {ctx.rank}: joined in {time.perf_counter() - t0:.2f} s", flush=True)
    assert ctx is not None and ctx.world_size == 2
    res = {}
    task = ctx.shard_task(PDETask(problem(), SAMPLING, seed=CONFIG.seed))
    task.prepare(torch.float64, torch.device("cpu"))
    batch = task.batch(0, torch.Generator().manual_seed(ctx.rank_seed(CONFIG.seed)), torch.float64, "cpu")
    model = KAN([DIM, 5, 1], seed=0)
    loss, _ = task.loss(model, batch)
    loss.backward()
    res["loss"] = ctx.all_reduce_gradients(list(model.parameters()), loss)
    res["x"], res["grads"] = batch[0], grads(model)
    # Laplacian-only loss: the output bias of an MLP has no path to it
    mlp = MLP([DIM, 6, 1], seed=1)
    (laplacian(mlp, batch[0], "jet") ** 2).mean().backward()
    ctx.all_reduce_gradients(list(mlp.parameters()), torch.zeros((), dtype=torch.float64))
    res["mlp_grads"] = grads(mlp)
    sol = solve(problem(), KAN([DIM, 5, 1], seed=0), CONFIG, SAMPLING, callbacks=[Checkpoint(out / f"ckpt{ctx.rank}")],
                distributed=ctx)
    res["params"] = [p.detach().clone() for p in sol.model.parameters()]
    res["rel_l2"] = sol.metrics["rel_l2"]
    torch.save(res, out / f"rank{ctx.rank}.pt")
    ctx.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_rank(rank: int, port: int, out: Path) -> None:
    os.environ.update({"RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port)})
    try:
        worker(out)
    except BaseException:
        (out / f"rank{rank}.err").write_text(traceback.format_exc())
        raise


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    # import lazily-loaded modules once here, so the forked ranks inherit them instead of both importing them
    # (Adam's constructor pulls in torch._dynamo: seconds on a loaded machine)
    import torch.distributed  # noqa: F401

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
    port = free_port()
    mp = multiprocessing.get_context("fork")
    procs = [mp.Process(target=run_rank, args=(rank, port, out)) for rank in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    for p in procs:
        if p.is_alive():
            p.kill()
    for rank, p in enumerate(procs):
        err = out / f"rank{rank}.err"
        assert p.exitcode == 0, f"rank {rank} exited with {p.exitcode}:\n{err.read_text() if err.exists() else ''}"
    return out, [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def rank_batches(step_count: int):
    """The batches ranks 0 and 1 draw at steps 0 .. step_count - 1, rebuilt in this process without a group."""
    out = []
    for rank in range(2):
        ctx = DistributedContext(rank=rank, world_size=2)
        task = ctx.shard_task(PDETask(problem(), SAMPLING, seed=CONFIG.seed))
        task.prepare(torch.float64, torch.device("cpu"))
        gen = torch.Generator().manual_seed(ctx.rank_seed(CONFIG.seed))
        out.append([task.batch(s, gen, torch.float64, "cpu") for s in range(step_count)])
    return out


def union_loss(model, b0, b1):
    x = torch.cat([b0[0], b1[0]])
    return PDETask(problem(), SAMPLING, seed=CONFIG.seed).loss(model, (x, None, 0))[0]


def test_gradients_equal_one_process_on_union_of_points(ranks):
    _, res = ranks
    (b0,), (b1,) = rank_batches(1)
    assert torch.equal(res[0]["x"], b0[0]) and torch.equal(res[1]["x"], b1[0])
    assert res[0]["x"].shape == (SAMPLING.n_interior // 2, DIM)
    assert not torch.allclose(res[0]["x"], res[1]["x"])  # each rank draws its own points
    model = KAN([DIM, 5, 1], seed=0)
    loss = union_loss(model, b0, b1)
    loss.backward()
    for r in range(2):
        assert abs(res[r]["loss"].item() - loss.item()) <= 1e-12 * loss.item()
        for g_ref, g in zip(grads(model), res[r]["grads"]):
            assert g is not None
            assert max_diff(g, g_ref) <= 1e-12


def test_parameter_without_path_to_loss_keeps_no_gradient(ranks):
    _, res = ranks
    (b0,), (b1,) = rank_batches(1)
    mlp = MLP([DIM, 6, 1], seed=1)
    (laplacian(mlp, torch.cat([b0[0], b1[0]]), "jet") ** 2).mean().backward()
    ref = grads(mlp)
    assert ref[-1] is None  # output bias: the Laplacian does not depend on it
    for r in range(2):
        assert [g is None for g in res[r]["mlp_grads"]] == [g is None for g in ref]
        for g_ref, g in zip(ref, res[r]["mlp_grads"]):
            if g_ref is not None:
                assert max_diff(g, g_ref) <= 1e-12


def test_training_matches_one_process_and_only_rank0_writes(ranks):
    out, res = ranks
    batches = rank_batches(CONFIG.steps)
    model = KAN([DIM, 5, 1], seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=CONFIG.lr)
    for s in range(CONFIG.steps):
        opt.zero_grad()
        union_loss(model, batches[0][s], batches[1][s]).backward()
        opt.step()
    start = KAN([DIM, 5, 1], seed=0)
    moved = max(max_diff(p, q) for p, q in zip(model.parameters(), start.parameters()))
    assert moved > 1e-3  # the steps did something
    for r in range(2):
        for p_ref, p in zip(model.parameters(), res[r]["params"]):
            assert max_diff(p, p_ref) <= 1e-12
    task = PDETask(problem(), SAMPLING, seed=CONFIG.seed)
    task.prepare(torch.float64, torch.device("cpu"))
    rel = task.evaluate(model)["rel_l2"]
    assert abs(res[0]["rel_l2"] - rel) <= 1e-12 and res[1]["rel_l2"] == res[0]["rel_l2"]  # gathered evaluation
    assert (out / "ckpt0" / "last.pt").is_file()
    assert not (out / "ckpt1").exists()


def test_from_env_returns_none_outside_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert DistributedContext.from_env() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert DistributedContext.from_env() is None


def test_from_env_names_missing_variable(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("RANK", raising=False)
    with pytest.raises(ValueError, match="environment variable RANK is not set; launch with `torchrun"):
        DistributedContext.from_env()
    monkeypatch.setenv("RANK", "zero")
    with pytest.raises(ValueError, match="RANK must be an integer, got 'zero'"):
        DistributedContext.from_env()


def test_context_validation_and_unconnected_collectives():
    with pytest.raises(ValueError, match=r"rank must be in 0 \.\. 1 for world_size=2, got 2"):
        DistributedContext(rank=2, world_size=2)
    with pytest.raises(ValueError, match="unknown backend 'mpi'"):
        DistributedContext(rank=0, world_size=2, backend="mpi")
    ctx = DistributedContext(rank=1, world_size=2)
    assert not ctx.is_main and DistributedContext(rank=0, world_size=2).is_main
    with pytest.raises(RuntimeError, match="has no process group"):
        ctx.all_reduce_gradients([], torch.zeros(()))


def test_rank_seeds_and_shard_sizes():
    seeds = {seed_for_rank(7, r) for r in range(64)}
    assert len(seeds) == 64 and all(0 <= s < 2**63 for s in seeds)
    assert seed_for_rank(7, 3) == seed_for_rank(7, 3) != seed_for_rank(8, 3)
    assert [shard_size(n, 4) for n in (0, 1, 4, 5, 100)] == [0, 1, 1, 2, 25]


def test_supervised_full_batch_shards_rows_and_weights_gradients_by_share():
    from pde_kan.solvers import SupervisedTask

    x, y = torch.arange(10.0, dtype=torch.float64)[:, None], torch.zeros(10, 1, dtype=torch.float64)
    shares = []
    for rank in range(3):
        ctx = DistributedContext(rank=rank, world_size=3)
        task = ctx.shard_task(SupervisedTask(x, y, x, y))
        task.prepare(torch.float64, torch.device("cpu"))
        bx, _ = task.batch(0, torch.Generator().manual_seed(0), torch.float64, "cpu")
        shares.append((bx[:, 0].tolist(), ctx.grad_weight))
    assert [s[0] for s in shares] == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    # weight n_r * W / n: the mean over ranks of weighted local means is the full-batch mean
    assert [s[1] for s in shares] == pytest.approx([1.2, 0.9, 0.9])


def test_pde_task_shard_draws_rounded_up_share_and_distinct_rank_points():
    batches = []
    sampling = SAMPLING.replace(n_interior=15)
    for rank in range(2):
        ctx = DistributedContext(rank=rank, world_size=2)
        task = ctx.shard_task(PDETask(problem(), sampling, seed=CONFIG.seed))
        task.prepare(torch.float64, torch.device("cpu"))
        batches.append(task.batch(0, torch.Generator().manual_seed(5), torch.float64, "cpu"))
    assert batches[0][0].shape == batches[1][0].shape == (8, DIM)
    assert not torch.equal(batches[0][0], batches[1][0]) and batches[0][2] != batches[1][2]  # points and probes
