"""The function-fitting suite: every backbone fitted to every Feynman equation with the one training loop."""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import torch

from ..._checks import positive_int, resolve_dtype
from ...nn import n_parameters
from ..report import Report
from ..suite import Callbacks, Suite, backbone_names, build_backbone, run_callbacks
from .equations import Equation, available_equations, dataset, get_equation, normalize_inputs

log = logging.getLogger("pde_kan")

FEYNMAN_BACKBONES = ("kan", "metakan", "slimkan", "mlp")
#: hidden widths of the MLP baseline (about as many parameters as the reference KAN)
MLP_HIDDEN = (20, 20)
BackboneFactory = Callable[[int], torch.nn.Module]


def reference_backbones(names: Sequence[str] = FEYNMAN_BACKBONES, hidden: Sequence[int] = (5, 5, 5),
                        grid_size: int = 5, spline_order: int = 3, grid_range=(-1.0, 1.0), seed: int = 0,
                        dtype=torch.float64) -> dict[str, BackboneFactory]:
    """Factories ``n_vars -> model`` with the reference MetaKAN function-fitting settings.

    KAN / MetaKAN / Slim KAN: widths ``[n_vars, *hidden, 1]`` (``[n, 5, 5, 5, 1]``), G=5, k=3. MetaKAN: embedding
    size 1, hypernet hidden width 16, one hypernet shared by all layers. Slim KAN: Tucker ranks (3, 3, 4). MLP
    baseline: tanh, widths ``[n_vars, 20, 20, 1]`` (about as many parameters as the KAN).
    """
    hidden = [positive_int(f"hidden[{i}]", h, owner="reference_backbones") for i, h in enumerate(hidden)]
    for name in names:
        if name not in FEYNMAN_BACKBONES:
            raise ValueError(f"reference_backbones: unknown backbone {name!r}; valid names: "
                             f"{', '.join(map(repr, FEYNMAN_BACKBONES))}.")
    settings = dict(grid_size=grid_size, spline_order=spline_order, grid_range=tuple(grid_range), seed=seed,
                    dtype=dtype, embedding_dim=1, hyper_hidden=16, share_hypernet=True, ranks=(3, 3, 4),
                    activation="tanh")

    def factory(name: str) -> BackboneFactory:
        inner = MLP_HIDDEN if name == "mlp" else hidden
        return lambda n: build_backbone(name, [n, *inner, 1], settings)

    return {name: factory(name) for name in names}


def feynman_config(steps: int = 200, optimizer: str = "lbfgs", lr: float = 1e-2, seed: int = 0,
                   device: str = "auto"):
    """The reference optimiser: ``steps`` L-BFGS steps (lr 1, strong-Wolfe line search, up to 20 inner
    iterations each) in float64; ``optimizer="adam"`` uses Adam with ``lr`` instead."""
    from ...solvers import TrainConfig

    return TrainConfig(steps=steps, optimizer=optimizer, lr=lr, lbfgs_lr=1.0, eval_every=0, seed=seed,
                       dtype="float64", device=device)


class FunctionFittingSuite(Suite):
    """Fit every backbone to every Feynman equation with the one training loop and report test errors.

    Inputs are mapped from each variable's sampling range onto the spline grid range; targets are standardised
    with the training mean and standard deviation (the model fits ``(y - mean) / std``). Errors are reported in
    the equation's own units (``rmse``) and relative to the test targets' standard deviation (``nrmse``), so
    equations of very different scales can be compared.

    Args:
        equations: names (see :func:`available_equations`) or None for the 120 benchmark equations.
        n_train, n_test: samples per equation (pykan's default 1000 / 1000).
        seed: data seed (the model seeds are the factories' business).
        grid_range: interval the inputs are mapped onto.
    """

    progress_metric = "test_rmse"

    def __init__(self, equations: Optional[Iterable[Any]] = None, n_train: int = 1000, n_test: int = 1000,
                 seed: int = 0, grid_range=(-1.0, 1.0)):
        names = available_equations("benchmark") if equations is None else list(equations)
        if not names:
            raise ValueError("FunctionFittingSuite: equations is empty; pass None for all or a list of names.")
        self.equations = [get_equation(n) for n in names]
        self.n_train = positive_int("n_train", n_train, owner="FunctionFittingSuite")
        self.n_test = positive_int("n_test", n_test, owner="FunctionFittingSuite")
        self.seed = positive_int("seed", seed, minimum=0, owner="FunctionFittingSuite")
        self.grid_range = tuple(float(v) for v in grid_range)

    def data(self, eq: Equation, dtype=torch.float64):
        """Normalised train/test tensors and the target scaling ``(x_tr, y_tr, x_te, y_te, mean, std)``."""
        x_tr, y_tr, x_te, y_te = dataset(eq, self.n_train, self.n_test, self.seed, dtype=dtype)
        mean, std = y_tr.mean(), y_tr.std().clamp_min(1e-12)
        return (normalize_inputs(x_tr, eq, self.grid_range), (y_tr - mean) / std,
                normalize_inputs(x_te, eq, self.grid_range), y_te, mean, std)

    def run(self, backbones: Any = FEYNMAN_BACKBONES, config=None, callbacks: Optional[Callbacks] = None) -> Report:
        """Train and evaluate.

        Args:
            backbones: names from ``FEYNMAN_BACKBONES`` (the :func:`reference_backbones` with the suite's seed),
                ``{name: factory}`` with ``factory(n_vars) -> model``, or a single factory (reported as
                ``"model"``).
            config: a :class:`~pde_kan.solvers.TrainConfig` (default :func:`feynman_config`).
            callbacks: ``(equation, backbone) -> callbacks`` for each run.

        Returns:
            :class:`Report` titled ``"feynman"``: one row per (equation, backbone) with ``rmse``, ``nrmse``,
            ``train_nrmse``, ``params`` (trainable), ``seconds`` and ``status`` (``"ok"`` or ``"diverged"``).
        """
        from ...solvers import DivergenceError, SupervisedTask, fit

        config = feynman_config() if config is None else config
        if callable(backbones) and not isinstance(backbones, Mapping):
            backbones = {"model": backbones}
        elif not isinstance(backbones, Mapping):
            backbones = reference_backbones(backbone_names(backbones), seed=self.seed)
        report = Report("feynman", metadata={"n_train": self.n_train, "n_test": self.n_test, "seed": self.seed,
                                             "grid_range": list(self.grid_range), "config": config.to_dict()})
        dtype = resolve_dtype(config.dtype)
        for eq in self.equations:
            x_tr, y_tr, x_te, y_te, mean, std = self.data(eq, dtype)
            for name, factory in backbones.items():
                model = factory(eq.n_vars)
                params = n_parameters(model)
                task = SupervisedTask(x_tr, y_tr, x_te, (y_te - mean) / std, loss="mse")
                start = time.perf_counter()
                row = {"task": eq.name, "n_vars": eq.n_vars, "backbone": name, "params": params}
                try:
                    cbs = run_callbacks(callbacks, eq.name, name)
                    sol = fit(task, model, config, callbacks=cbs)
                except DivergenceError as e:
                    log.warning("feynman %s / %s diverged: %s", eq.name, name, e)
                    row.update(rmse=math.nan, nrmse=math.nan, train_nrmse=math.nan, status="diverged")
                else:
                    model = sol.model
                    with torch.no_grad():
                        dev = next(model.parameters()).device
                        pred = model(x_te.to(dev)).cpu() * std + mean
                        fit_tr = model(x_tr.to(dev)).cpu()
                    rmse = float(((pred - y_te) ** 2).mean().sqrt())
                    row.update(rmse=rmse, nrmse=rmse / float(y_te.std().clamp_min(1e-12)),
                               train_nrmse=float(((fit_tr - y_tr) ** 2).mean().sqrt()), status="ok")
                row["seconds"] = time.perf_counter() - start
                report.add(row)
                log.info("feynman %s / %s: rmse %.3e, nrmse %.3e, %d parameters", eq.name, name,
                         row["rmse"], row["nrmse"], params)
        return report


def run_feynman(equations: Optional[Iterable[Any]] = None, backbones: Sequence[str] = FEYNMAN_BACKBONES,
                steps: int = 200, optimizer: str = "lbfgs", lr: float = 1e-2, n_train: int = 1000,
                n_test: int = 1000, seed: int = 0, device: str = "auto", out=None, progress: bool = False,
                callbacks: Optional[Callbacks] = None) -> Report:
    """The function-fitting suite with the reference backbones and optimiser (see :func:`reference_backbones`,
    :func:`feynman_config`).

    Args:
        equations: names or None for the 120 benchmark equations.
        backbones: names from ``FEYNMAN_BACKBONES``.
        steps, optimizer, lr: the optimiser (L-BFGS steps by default).
        out: directory to save the report in (CSV, HDF5, text, figure); nothing is written without it.
        progress: a tqdm bar per run.
        callbacks: ``(equation, backbone) -> callbacks`` for each run (added to the progress bar).

    Returns:
        The suite's :class:`Report`.
    """
    suite = FunctionFittingSuite(equations, n_train=n_train, n_test=n_test, seed=seed)
    config = feynman_config(steps=steps, optimizer=optimizer, lr=lr, seed=seed, device=device)

    cbs = suite.callbacks_with_progress(callbacks, progress)
    report = suite.run(reference_backbones(backbone_names(backbones), seed=seed), config, cbs)
    if out is not None:
        report.save(out, y="nrmse", label=None)
    return report
