"""Multi-process training under ``torchrun``: sharded collocation points, a hand-written gradient all-reduce.

``torchrun --nproc-per-node N`` starts N copies of the same script with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT`` set. :meth:`DistributedContext.from_env` reads them, joins the process group
(gloo on CPU, NCCL on GPU) and returns a context to hand to :func:`~pde_kan.solvers.solve` /
:class:`~pde_kan.solvers.Trainer` (``distributed=ctx``). With it:

* **Sharded points.** Every step the run's generator (identical on every rank) yields one integer; each rank
  folds its rank into it (:func:`seed_for_rank`) and draws its own ``ceil(n_interior / world_size)`` interior
  (and ``ceil(n_boundary / world_size)`` boundary) points and its own probe directions from that per-rank
  generator. Because the run's generator is the same on every rank, a checkpoint written by rank 0 resumes
  every rank exactly.
* **Gradients averaged by hand.** After ``backward`` every rank's gradients (and its loss) go into one flat
  buffer, one ``all_reduce(SUM)`` runs, and the mean over ranks is written back: with equal shards that is
  exactly the gradient of the loss on the union of all ranks' points. A parameter with no path to the loss
  (e.g. an output bias under a Laplacian-only loss) keeps ``grad = None`` on every rank, as in one process.
  :class:`torch.nn.parallel.DistributedDataParallel` is not used: its reducer fires from autograd hooks and
  expects every parameter to receive a gradient every step; parameters without a path to the loss make it
  either raise or (with ``find_unused_parameters``) traverse the graph each step, and its averaging is over
  gradients that reached the hooks, not over the loss the trainer logs.
* **One writer.** ``is_main`` (rank 0) alone writes checkpoints (:meth:`Trainer.save_checkpoint` checks it) and
  results (:meth:`save_solution`); other ranks wait at a barrier.
* **Gathered evaluation.** Each rank predicts its slice of the (identical) evaluation points and the
  predictions are all-gathered, so every rank computes the same metrics — callbacks such as
  :class:`~pde_kan.solvers.EarlyStopping` then stop every rank at the same step.

A context can also be built without a process group (``DistributedContext(rank, world_size)``) to reproduce
what a given rank draws; collective methods then raise.
"""
from __future__ import annotations

import copy
import datetime
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from .._checks import positive_int
from .tasks import PDETask, SupervisedTask, error_metrics

log = logging.getLogger("pde_kan")

BACKENDS = ("gloo", "nccl")
REQUIRED_ENV = ("RANK", "MASTER_ADDR", "MASTER_PORT")


def seed_for_rank(seed: int, rank: int) -> int:
    """A 63-bit seed for ``rank`` derived from ``seed`` (numpy ``SeedSequence`` spawn key; distinct per rank)."""
    state = np.random.SeedSequence(entropy=int(seed), spawn_key=(int(rank),)).generate_state(1, np.uint64)[0]
    return int(state) & (2**63 - 1)


def shard_size(n: int, world_size: int) -> int:
    """Points per rank: ``ceil(n / world_size)`` (equal shards, so the mean over ranks is the union's mean)."""
    return -(-n // world_size) if n else 0


def _env_int(name: str, default: Optional[int] = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        if default is None:
            raise ValueError(f"DistributedContext.from_env: environment variable {name} is not set; launch with "
                             f"`torchrun --nproc-per-node N ...` (it sets RANK, WORLD_SIZE, LOCAL_RANK, "
                             f"MASTER_ADDR, MASTER_PORT) or set them yourself.")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"DistributedContext.from_env: environment variable {name} must be an integer, got "
                         f"{raw!r}.") from None


@dataclass
class DistributedContext:
    """One rank of a multi-process run (see the module docstring).

    Attributes:
        rank, world_size: this process's rank in ``0 .. world_size - 1``.
        local_rank: rank on this node (selects the GPU under NCCL).
        backend: ``"gloo"`` (CPU tensors) or ``"nccl"`` (CUDA tensors).
        device: where this rank's tensors live (``cuda:LOCAL_RANK`` under NCCL, else ``cpu``).
        group: the process group for collectives (None: the default group); ``owns_group`` says whether
            :meth:`close` should destroy it.
    """

    rank: int
    world_size: int
    local_rank: int = 0
    backend: str = "gloo"
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    group: Any = None
    owns_group: bool = False
    connected: bool = False
    grad_weight: float = field(default=1.0, init=False, repr=False)
    _checked_params: bool = field(default=False, init=False, repr=False)

    def __post_init__(self):
        self.world_size = positive_int("world_size", self.world_size, owner="DistributedContext")
        self.rank = positive_int("rank", self.rank, minimum=0, owner="DistributedContext")
        if self.rank >= self.world_size:
            raise ValueError(f"DistributedContext: rank must be in 0 .. {self.world_size - 1} for world_size="
                             f"{self.world_size}, got {self.rank}.")
        if self.backend not in BACKENDS:
            raise ValueError(f"DistributedContext: unknown backend {self.backend!r}; valid names: "
                             f"{', '.join(map(repr, BACKENDS))}.")
        self.device = torch.device(self.device)

    # --- construction -----------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, backend: str = "auto", device: str = "auto",
                 timeout_s: float = 1800.0) -> Optional["DistributedContext"]:
        """Join the process group described by torchrun's environment; None when not under torchrun.

        Returns None when ``WORLD_SIZE`` is unset or 1 (plain single-process run). Otherwise reads ``RANK``,
        ``LOCAL_RANK`` (default ``RANK``), ``MASTER_ADDR`` and ``MASTER_PORT`` and initialises
        :mod:`torch.distributed` (unless already initialised, in which case the existing group is used).

        Args:
            backend: ``"auto"`` (NCCL when CUDA is available and ``device`` is not ``"cpu"``, else gloo),
                ``"gloo"`` or ``"nccl"``.
            device: ``"auto"``, ``"cpu"`` or ``"cuda"``; under NCCL each rank uses ``cuda:LOCAL_RANK`` (made the
                process's current CUDA device, so ``TrainConfig(device="auto")`` lands there).
            timeout_s: collective timeout.
        """
        world = _env_int("WORLD_SIZE", 1)
        if world <= 1:
            return None
        import torch.distributed as dist

        rank = _env_int("RANK")
        local_rank = _env_int("LOCAL_RANK", rank)
        if not dist.is_initialized():
            for name in REQUIRED_ENV[1:]:
                if not os.environ.get(name):
                    _env_int(name)  # raises with the launch hint
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"DistributedContext.from_env: device must be 'auto', 'cpu' or 'cuda', got {device!r}.")
        cuda = torch.cuda.is_available() and device != "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise ValueError("DistributedContext.from_env: device='cuda' but CUDA is not available; use "
                             "device='cpu' (gloo).")
        if backend == "auto":
            backend = "nccl" if cuda else "gloo"
        if backend not in BACKENDS:
            raise ValueError(f"DistributedContext.from_env: unknown backend {backend!r}; valid names: 'auto', "
                             f"{', '.join(map(repr, BACKENDS))}.")
        if backend == "nccl" and not cuda:
            raise ValueError("DistributedContext.from_env: backend='nccl' needs CUDA; use backend='gloo' on CPU.")
        dev = torch.device("cuda", local_rank) if backend == "nccl" else torch.device("cpu")
        owns = False
        if not dist.is_initialized():
            if backend == "nccl":
                # one process per GPU (torchrun's model): bind this rank to its GPU before the group exists
                torch.cuda.set_device(dev)
            dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world,
                                    timeout=datetime.timedelta(seconds=timeout_s))
            owns = True
        else:
            rank, world = dist.get_rank(), dist.get_world_size()
        log.info("distributed: rank %d of %d (%s, %s)", rank, world, backend, dev)
        return cls(rank=rank, world_size=world, local_rank=local_rank, backend=backend, device=dev,
                   owns_group=owns, connected=True)

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.connected and self.owns_group:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
        self.connected = False

    def __enter__(self) -> "DistributedContext":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- the Trainer protocol ---------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        """True on rank 0, the only rank that writes files."""
        return self.rank == 0

    def rank_seed(self, seed: int) -> int:
        """Seed of the trainer's run generator: ``seed`` itself, the same on every rank.

        Per-rank randomness does not come from here but from :func:`seed_for_rank` applied each step to one
        integer drawn from this shared stream (see :meth:`shard_task`); keeping the run generator identical
        on every rank is what lets one checkpoint, written by rank 0, resume all ranks exactly.
        """
        return int(seed)

    def all_reduce_gradients(self, params: Sequence[torch.nn.Parameter], loss: torch.Tensor) -> torch.Tensor:
        """Replace every ``p.grad`` by its mean over ranks and return the mean loss (call after ``backward``).

        One flat buffer per (dtype, device) holds the gradients (None as zeros), a has-gradient flag per
        parameter and the loss; one ``all_reduce(SUM)`` each. A parameter whose gradient is None on every rank
        stays None (no path to the loss: Adam then skips it exactly as in one process).

        Returns:
            the mean of the ranks' losses: a 0-d tensor (detached) of ``loss``'s dtype and device.
        """
        import torch.distributed as dist

        self._require_group("all_reduce_gradients")
        params = [p for p in params if p.requires_grad]
        if not self._checked_params:
            self._check_same_parameters(params)
        groups: dict[tuple, list[torch.nn.Parameter]] = {}
        for p in params:
            groups.setdefault((p.dtype, p.device), []).append(p)
        loss_key = (loss.dtype, loss.device)
        groups.setdefault(loss_key, [])
        mean_loss = loss.detach()
        for (dtype, device), ps in groups.items():
            grads = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in ps]
            flags = torch.tensor([float(p.grad is not None) for p in ps], dtype=dtype, device=device)
            with_loss = (dtype, device) == loss_key
            buf = torch.cat(grads + [flags] + ([loss.detach().reshape(1)] if with_loss else []))
            n_grad = buf.numel() - flags.numel() - int(with_loss)
            if self.grad_weight != 1.0:  # unequal shards (SupervisedTask full batch): weight by share
                buf[:n_grad] *= self.grad_weight
                if with_loss:
                    buf[-1] *= self.grad_weight
            dist.all_reduce(buf, op=dist.ReduceOp.SUM, group=self.group)
            buf /= self.world_size
            has_grad = (buf[n_grad: n_grad + len(ps)] > 0).tolist()
            offset = 0
            for p, has in zip(ps, has_grad):
                n = p.numel()
                # views into one buffer, no copy; a flag of 0 on every rank means no path to the loss
                p.grad = buf[offset: offset + n].view_as(p) if has else None
                offset += n
            if with_loss:
                mean_loss = buf[-1]
        return mean_loss

    # --- sharding -----------------------------------------------------------------------------------------
    def shard_task(self, task) -> "ShardedTask":
        """Wrap a task so this rank draws its share of every batch and evaluation is gathered.

        * :class:`~pde_kan.solvers.tasks.PDETask`: ``ceil(n_interior / W)`` interior and
          ``ceil(n_boundary / W)`` boundary points per rank (a total that is not a multiple of W is rounded up,
          logged once), probes from the rank's generator; evaluation points split between ranks and gathered.
        * :class:`~pde_kan.solvers.tasks.SupervisedTask`: full batch — the training rows are split between
          ranks and each rank's gradient is weighted by its share (exactly the full-batch gradient); minibatch
          — ``ceil(batch_size / W)`` rows per rank.
        * anything else: each rank draws a full batch from its own generator (an effective batch W times
          larger), logged as a warning.
        """
        return ShardedTask(task, self)

    def shard_generator(self, generator: torch.Generator) -> torch.Generator:
        """This step's per-rank generator: one integer from the shared run ``generator``, the rank folded in."""
        step_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return torch.Generator().manual_seed(seed_for_rank(step_seed, self.rank))

    # --- collectives used by evaluation and I/O -----------------------------------------------------------
    def _require_group(self, what: str) -> None:
        if not self.connected and self.world_size > 1:
            raise RuntimeError(f"DistributedContext.{what}: this context has no process group (built by hand for "
                               f"rank {self.rank}); use DistributedContext.from_env() under torchrun.")

    def _check_same_parameters(self, params) -> None:
        import torch.distributed as dist

        with torch.no_grad():
            sig = torch.stack([torch.stack([p.detach().double().sum(), (p.detach().double() ** 2).sum()]).cpu()
                               for p in params]).reshape(-1).to(self.device)
            lo, hi = sig.clone(), sig.clone()
            dist.all_reduce(lo, op=dist.ReduceOp.MIN, group=self.group)
            dist.all_reduce(hi, op=dist.ReduceOp.MAX, group=self.group)
        if not torch.equal(lo, hi):
            raise RuntimeError("DistributedContext: model parameters differ between ranks at the first step; build "
                               "the model with the same seed on every rank or call ctx.broadcast_parameters(model) "
                               "before training.")
        self._checked_params = True

    def broadcast_parameters(self, module: torch.nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank."""
        import torch.distributed as dist

        self._require_group("broadcast_parameters")
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0, group=self.group)

    def all_gather_rows(self, local: torch.Tensor) -> torch.Tensor:
        """Concatenate every rank's ``local: (n_r, ...)`` in rank order (sizes may differ by rank)."""
        import torch.distributed as dist

        self._require_group("all_gather_rows")
        comm = local.to(self.device)
        n = torch.tensor([comm.shape[0]], device=self.device)
        sizes = [torch.zeros_like(n) for _ in range(self.world_size)]
        dist.all_gather(sizes, n, group=self.group)
        sizes = [int(s) for s in sizes]
        pad = comm.new_zeros((max(sizes), *comm.shape[1:]))
        pad[: comm.shape[0]] = comm
        out = [torch.empty_like(pad) for _ in range(self.world_size)]
        dist.all_gather(out, pad, group=self.group)
        return torch.cat([o[:s] for o, s in zip(out, sizes)]).to(local.device)

    def barrier(self) -> None:
        import torch.distributed as dist

        self._require_group("barrier")
        if self.backend == "nccl":
            dist.barrier(group=self.group, device_ids=[self.device.index])
        else:
            dist.barrier(group=self.group)

    def save_solution(self, solution, path, **kwargs):
        """Rank 0 writes ``solution.save(path)``; every rank waits until the file exists. Returns the path."""
        out = solution.save(path, **kwargs) if self.is_main else path
        if self.connected:
            self.barrier()
        return out


# --- the task wrapper -------------------------------------------------------------------------------------
def _shard_pde(task: PDETask, ctx: DistributedContext):
    cfg = task.sampling
    n, nb = shard_size(cfg.n_interior, ctx.world_size), shard_size(cfg.n_boundary, ctx.world_size)
    if n * ctx.world_size != cfg.n_interior or nb * ctx.world_size != cfg.n_boundary:
        log.info("distributed: n_interior=%d, n_boundary=%d are not multiples of world_size=%d; each rank draws "
                 "%d and %d points", cfg.n_interior, cfg.n_boundary, ctx.world_size, n, nb)
    local = copy.copy(task)  # shares the evaluation points set by task.prepare
    local.sampling = cfg.replace(n_interior=n, n_boundary=nb)
    local._fixed = None
    return local


def _shard_supervised(task: SupervisedTask, ctx: DistributedContext):
    local = copy.copy(task)
    if task.batch_size is None or task.batch_size >= task.x_train.shape[0]:
        n = task.x_train.shape[0]
        rows = torch.tensor_split(torch.arange(n, device=task.x_train.device), ctx.world_size)[ctx.rank]
        local.x_train, local.y_train = task.x_train[rows], task.y_train[rows]
        local.batch_size = None
        ctx.grad_weight = rows.numel() * ctx.world_size / n
    else:
        local.batch_size = shard_size(task.batch_size, ctx.world_size)
    return local


SHARDERS: dict[type, Callable[[Any, DistributedContext], Any]] = {PDETask: _shard_pde, SupervisedTask: _shard_supervised}


class ShardedTask:
    """A task as one rank sees it: batches drawn from the rank's generator at the rank's size, gathered
    evaluation. Attributes not defined here (``problem``, ``x_eval``, ``predict``, ...) come from the wrapped
    task."""

    def __init__(self, task, ctx: DistributedContext):
        self.task = task
        self.ctx = ctx
        self.local = None

    def __getattr__(self, name):
        if name in ("task", "ctx", "local"):
            raise AttributeError(name)
        return getattr(self.task, name)

    def prepare(self, dtype, device):
        self.task.prepare(dtype, device)
        sharder = next((SHARDERS[c] for c in type(self.task).__mro__ if c in SHARDERS), None)
        if sharder is None:
            log.warning("distributed: no sharder for %s; every rank draws a full batch from its own generator",
                        type(self.task).__name__)
            self.local = self.task
        else:
            self.local = sharder(self.task, self.ctx)

    def batch(self, step, generator, dtype, device):
        return self.local.batch(step, self.ctx.shard_generator(generator), dtype, device)

    def loss(self, model, batch):
        return self.local.loss(model, batch)

    def evaluate(self, model):
        if isinstance(self.task, PDETask) and self.ctx.connected and self.task.u_eval is not None:
            x = self.task.x_eval
            part = torch.tensor_split(x, self.ctx.world_size)[self.ctx.rank]
            pred = self.ctx.all_gather_rows(self.task.predict(model, part))
            return error_metrics(pred, self.task.u_eval)
        return self.task.evaluate(model)


__all__ = ["DistributedContext", "ShardedTask", "seed_for_rank", "shard_size"]
