"""PDE suite: the problem registry's analytic cases solved with chosen backbones, errors against the exact
solutions.

Each case is a registered problem (:func:`pde_kan.problems.get_problem`) with a closed-form solution, solved with
:func:`pde_kan.solvers.solve` (the one training loop) and evaluated on Monte-Carlo points of its domain:
relative L2 and L1 errors, maximum absolute error, trainable parameters and seconds.

The default cases are the Poisson and Allen–Cahn two-body problems on the unit ball at ``dim``, the Poisson sine
hypercube ``[0, 1]^dim`` and the 2-D sine square.

Example::

    from pde_kan.validation.pde import run_pde
    report = run_pde(["poisson-sine-square"], backbones=("kan", "mlp"), steps=500)
    print(report.to_text())
"""
from __future__ import annotations

import inspect
import logging
import time
from typing import Any, Iterable, Mapping, Optional, Sequence

from .._checks import positive_int
from .report import Report
from .suite import Callbacks, Suite, backbone_kwargs, backbone_names, build_backbone, run_callbacks

log = logging.getLogger("pde_kan")

DEFAULT_PROBLEMS = ("poisson-two-body", "allen-cahn-two-body", "poisson-sine-cube", "poisson-sine-square")
PDE_BACKBONES = ("kan", "metakan", "slimkan", "mlp")


def make_problem(name: str, dim: int = 5, seed: int = 0):
    """A registered problem at input dimension ``dim`` (ignored by the fixed-dimension 2-D sine square)."""
    from ..problems import get_problem
    from ..problems.registry import PROBLEMS

    if name not in PROBLEMS:
        return get_problem(name)  # raises the registry's error listing the valid names
    params = inspect.signature(PROBLEMS[name]).parameters
    kw: dict[str, Any] = {}
    if "dim" in params and name != "poisson-sine-square":
        kw["dim"] = positive_int("dim", dim, minimum=2, owner="make_problem")
    if "seed" in params:
        kw["seed"] = seed
    return get_problem(name, **kw)


def pde_config(steps: int = 2000, lr: float = 1e-2, lr_final_factor: float = 0.05, seed: int = 0,
               device: str = "auto"):
    """Adam with an exponential decay to ``lr * lr_final_factor``, float64, evaluation at the end."""
    from ..solvers import TrainConfig

    return TrainConfig(steps=steps, lr=lr, schedule="exponential", lr_final_factor=lr_final_factor,
                       eval_every=0, seed=seed, dtype="float64", device=device)


def pde_sampling(n_interior: int = 100, n_eval: int = 10000, engine: str = "jet"):
    """Fresh collocation points every step, the exact jet Laplacian, ``n_eval`` evaluation points."""
    from ..solvers import SamplingConfig

    return SamplingConfig(n_interior=n_interior, engine=engine, n_eval=n_eval)


class PDESuite(Suite):
    """Solve each analytic case with each backbone and report the errors.

    Args:
        problems: registry names (default :data:`DEFAULT_PROBLEMS`).
        dim: input dimension of the dimension-free problems.
        hidden: hidden widths of every backbone (``[problem.dim, *hidden, 1]``).
        seed: problem and model seed.
        backbone_settings: backbone keywords, one flat mapping for all backbones (each takes those its
            constructor has, :func:`~pde_kan.validation.suite.backbone_kwargs`); every keyword not given keeps
            the constructor's default (MetaKAN: embedding 1, hypernet hidden 16, as the reference PDE runs).
        sampling: :class:`~pde_kan.solvers.SamplingConfig` of every run (default :func:`pde_sampling`).
    """

    progress_metric = "rel_l2"

    def __init__(self, problems: Optional[Iterable[str]] = None, dim: int = 5, hidden: Sequence[int] = (32, 32),
                 seed: int = 0, backbone_settings: Optional[Mapping[str, Any]] = None, sampling=None):
        names = list(DEFAULT_PROBLEMS if problems is None else problems)
        if not names:
            raise ValueError("PDESuite: problems is empty; pass None for the default cases or registry names.")
        self.dim = positive_int("dim", dim, minimum=2, owner="PDESuite")
        self.seed = positive_int("seed", seed, minimum=0, owner="PDESuite")
        self.hidden = [positive_int(f"hidden[{i}]", h, owner="PDESuite") for i, h in enumerate(hidden)]
        self.problems = [make_problem(n, self.dim, self.seed) for n in names]
        self.backbone_settings = dict(backbone_settings or {})
        self.sampling = pde_sampling() if sampling is None else sampling

    def run(self, backbones: Any = PDE_BACKBONES, config=None, callbacks: Optional[Callbacks] = None) -> Report:
        """Train every (problem, backbone) pair with :func:`~pde_kan.solvers.solve`.

        Args:
            backbones: registry names.
            config: :class:`~pde_kan.solvers.TrainConfig` (default :func:`pde_config`).
            callbacks: ``(problem, backbone) -> callbacks`` for each run.

        Returns:
            :class:`Report` titled ``"pde"``: ``task`` (= ``problem``), ``problem``, ``dim``, ``backbone``,
            ``rel_l2``, ``rel_l1``, ``max_abs``, ``params``, ``seconds``.
        """
        from ..solvers import solve

        config = pde_config() if config is None else config
        names = backbone_names(backbones)
        settings = dict(self.backbone_settings, seed=self.seed, dtype=config.dtype)
        stated = {b: {k: list(v) if isinstance(v, tuple) else v
                      for k, v in backbone_kwargs(b, self.backbone_settings).items()} for b in names}
        report = Report("pde", metadata={"hidden": self.hidden, "dim": self.dim, "seed": self.seed,
                                         "config": config.to_dict(), "sampling": self.sampling.to_dict(),
                                         "backbone_kwargs": stated})
        for problem in self.problems:
            for name in names:
                model = build_backbone(name, [problem.dim, *self.hidden, 1], settings)
                cbs = run_callbacks(callbacks, problem.name, name)
                start = time.perf_counter()
                sol = solve(problem, model, config, self.sampling, callbacks=cbs)
                seconds = time.perf_counter() - start
                m = sol.metrics
                report.add({"task": problem.name, "problem": problem.name, "dim": problem.dim, "backbone": name,
                            "rel_l2": m["rel_l2"], "rel_l1": m["rel_l1"], "max_abs": m["max_abs"],
                            "params": model.n_parameters(), "steps": int(m["steps"]), "seconds": seconds})
                log.info("pde %s (d=%d) %s: rel L2 %.3e", problem.name, problem.dim, name, m["rel_l2"])
        return report


def run_pde(problems: Optional[Iterable[str]] = None, backbones: Sequence[str] = PDE_BACKBONES,
            steps: int = 2000, dim: int = 5, hidden: Sequence[int] = (32, 32), lr: float = 1e-2, seed: int = 0,
            device: str = "auto", out=None, progress: bool = False,
            callbacks: Optional[Callbacks] = None) -> Report:
    """The PDE suite with :func:`pde_config`; returns its :class:`Report`.

    Args:
        problems: registry names (default :data:`DEFAULT_PROBLEMS`).
        backbones: registry names.
        steps, lr: Adam steps and initial learning rate.
        dim, hidden: problem dimension and hidden widths.
        out: directory to save the report in (CSV, HDF5, text, figure); nothing is written without it.
        progress: a tqdm bar per run.
        callbacks: ``(problem, backbone) -> callbacks`` for each run.
    """
    suite = PDESuite(problems, dim=dim, hidden=hidden, seed=seed)
    config = pde_config(steps=steps, lr=lr, seed=seed, device=device)
    report = suite.run(backbones, config, callbacks=suite.callbacks_with_progress(callbacks, progress))
    if out is not None:
        report.save(out, x="params", y="rel_l2", group="backbone")
    return report
