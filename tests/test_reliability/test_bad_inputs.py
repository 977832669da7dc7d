"""Catalogue of bad inputs across the Python API and the CLI.

Every case must raise a clear error (the argument, the value received and the fix, checked with
``pytest.raises(match=...)``) and must leave the working directory exactly as it was: no new file, no partial
file, no changed file. Each case id is listed in docs/reliability.md with what it guards.
"""
import contextlib
import gzip
import hashlib
import io
import json
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest
import torch

from pde_kan import KAN, MLP, MetaKAN, SlimKAN, get_backbone
from pde_kan.diff import laplacian
from pde_kan.nn import BSplineBasis, backbone_from_config, hosvd
from pde_kan.problems import AllenCahn, Ball, Box, Poisson, get_problem
from pde_kan.solvers import (Checkpoint, EarlyStopping, SamplingConfig, SupervisedTask, TrainConfig, Trainer, fit,
                             load_checkpoint, load_solution, save_checkpoint, solve)
from pde_kan.transfer import LoTRAConfig, inject_lotra, load_adapter, transfer
from pde_kan.validation.feynman import get_equation
from pde_kan.validation.images import DataFileError, load_cifar10, load_dataset, load_idx_dataset

F64 = torch.float64
DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Path], Callable[[], object]]  # tmp dir -> the failing call (files it needs made here)
    exc: type
    match: str


class CLIFailed(Exception):
    """The CLI exited non-zero; the message holds the exit status and what it printed on stderr."""


def cli(*argv):
    from pde_kan.cli import main

    def run():
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                rc = main([str(a) for a in argv])
            except SystemExit as e:  # argparse
                rc = e.code
        if rc != 0:  # a user error is exactly one line on stderr, never a traceback or argparse's usage
            lines = [line for line in err.getvalue().splitlines() if line.strip()]
            assert len(lines) == 1 and lines[0].startswith("pde-kan: error: "), f"stderr was: {lines}"
            raise CLIFailed(f"exit {rc}: {lines[-1]}")

    return run


def using(setup, call):
    """A case whose files are made by ``setup(tmp)`` before the snapshot; the failing call is ``call(made)``."""
    return lambda t: (lambda made: lambda: call(made))(setup(t))


def x(n, d, dtype=F64):
    return torch.rand(n, d, generator=torch.Generator().manual_seed(0), dtype=dtype)


def bad(value, at=(0, 0), n=4, d=3):
    t = x(n, d)
    t[at] = value
    return t


CPU = dict(device="cpu")
EVAL16 = SamplingConfig(n_eval=16)


def checked(model):
    """``model`` with the per-forward finite check on (off by default: the entry points check once)."""
    model.check_finite = True
    return model


def _ckpt(tmp: Path, model=None, **cfg) -> Path:
    """A real checkpoint of a 2-step sine-square run in ``tmp/ck/last.pt``."""
    config = TrainConfig(steps=2, eval_every=0, **CPU, **cfg)
    solve(Poisson.sine_square(), model or KAN([2, 4, 1]), config, EVAL16, callbacks=[Checkpoint(tmp / "ck", every=1)])
    return tmp / "ck" / "last.pt"


def _truncated(tmp: Path, src: Path, name: str) -> Path:
    data = src.read_bytes()
    out = tmp / name
    out.write_bytes(data[: len(data) // 2])
    return out


def _results(tmp: Path) -> Path:
    sol = solve(Poisson.sine_square(), KAN([2, 3, 1]), TrainConfig(steps=2, eval_every=0, **CPU), EVAL16)
    return sol.save(tmp / "run" / "results.h5")


class Foreign:
    """Something that is not tensors: a weights-only loader must refuse to unpickle it."""

    def __init__(self):
        self.payload = [1, 2, 3]


def _file(tmp: Path, name: str = "a_file") -> Path:
    p = tmp / name
    p.write_text("not a directory")
    return p


def _run_dir(tmp: Path, results_bytes: bytes) -> Path:
    d = tmp / "src"
    d.mkdir()
    (d / "run.json").write_text(json.dumps({"problem": {"name": "poisson-sine-square"}, "model": {},
                                            "train": {"steps": 1}}))
    (d / "results.h5").write_bytes(results_bytes)
    return d


SOLVE = ("solve", "--no-progress", "--no-plots", "--n-eval", 16, "--hidden", 3)

CASES = [
    # ---- networks ------------------------------------------------------------------------------------------
    Case("nn-input-width", lambda t: lambda: KAN([3, 4, 1])(x(4, 5)), ValueError,
         r"KAN: x must have shape \(N, 3\), got \(4, 5\)"),
    Case("nn-input-dtype", lambda t: lambda: MetaKAN([3, 4, 1])(x(4, 3, torch.float32)), TypeError,
         r"MetaKAN: x must have dtype torch.float64, got torch.float32; convert with x.to\(torch.float64\) or build "
         r"the model with dtype=torch.float32"),
    Case("nn-input-nan", lambda t: lambda: checked(SlimKAN([3, 4, 1]))(bad(math.nan)), ValueError,
         r"SlimKAN: x contains 1 non-finite value\(s\) \(NaN or inf\); clean the input first"),
    Case("nn-input-inf", lambda t: lambda: checked(MLP([3, 4, 1]))(bad(-math.inf, at=(2, 1))), ValueError,
         r"MLP: x contains 1 non-finite value\(s\)"),
    Case("nn-input-not-tensor", lambda t: lambda: KAN([3, 4, 1])(np.zeros((4, 3))), TypeError,
         r"KAN: x must be a torch.Tensor of shape \(N, 3\), got ndarray"),
    Case("nn-unknown-backbone", lambda t: lambda: get_backbone("resnet", [2, 3, 1]), ValueError,
         r"unknown backbone 'resnet'; valid names: 'kan', 'metakan', 'mlp', 'slimkan'"),
    Case("nn-config-without-name", lambda t: lambda: backbone_from_config({"widths": [2, 3, 1]}), ValueError,
         r"backbone config must be a dict with a 'backbone' key, got \{'widths': \[2, 3, 1\]\}"),
    Case("nn-widths-too-short", lambda t: lambda: KAN([3]), ValueError,
         r"KAN: widths must list at least two layer widths like \[2, 16, 1\], got \[3\]"),
    Case("nn-widths-float", lambda t: lambda: KAN([2, 3.5, 1]), TypeError,
         r"KAN: widths\[1\] must be an integer >= 1, got 3.5 \(float\)"),
    Case("nn-width-zero", lambda t: lambda: MetaKAN([2, 0, 1]), ValueError,
         r"MetaKAN: widths\[1\] must be an integer >= 1, got 0"),
    Case("nn-slimkan-rank-above-basis", lambda t: lambda: SlimKAN([2, 4, 1], ranks=(2, 2, 9)), ValueError,
         r"SlimKAN: ranks must be \(r_out, r_in, r_basis\) with r_basis <= n_basis=8, got \(2, 2, 9\); lower "
         r"r_basis or raise grid_size"),
    Case("nn-slimkan-rank-fraction", lambda t: lambda: SlimKAN([2, 4, 1], ranks=0.0), ValueError,
         r"SlimKAN: ranks as a fraction must lie in \(0, 1\], got 0.0"),
    Case("nn-hosvd-rank-above-dim", lambda t: lambda: hosvd(torch.ones(4, 3, 8, dtype=F64), (5, 3, 8)), ValueError,
         r"hosvd: ranks r_out=5 must be between 1 and the tensor's dimension 4 .*lower the rank"),
    Case("nn-spline-order-zero", lambda t: lambda: KAN([2, 3, 1], spline_order=0), ValueError,
         r"KAN: spline_order must be an integer >= 1, got 0"),
    Case("nn-derivative-above-order", lambda t: lambda: BSplineBasis(5, 1)(x(3, 2), derivatives=2), ValueError,
         r"derivative order 2 requested with spline_order=1.*Use spline_order >= 3"),
    Case("nn-grid-size-zero", lambda t: lambda: KAN([2, 3, 1], grid_size=0), ValueError,
         r"grid_size must be an integer >= 1, got 0"),
    Case("nn-grid-range-reversed", lambda t: lambda: KAN([2, 3, 1], grid_range=(1, -1)), ValueError,
         r"grid_range must satisfy low < high, got \(1, -1\)"),
    Case("nn-unknown-activation", lambda t: lambda: MLP([2, 3, 1], activation="relu2"), ValueError,
         r"unknown activation 'relu2'; valid names: .*'tanh'"),
    Case("nn-unknown-dtype", lambda t: lambda: KAN([2, 3, 1], dtype="half"), ValueError,
         r"unknown dtype 'half'; valid names: 'float64'"),
    # ---- derivative engines ------------------------------------------------------------------------------
    Case("diff-unknown-engine", lambda t: lambda: laplacian(KAN([3, 4, 1]), x(4, 3), "exact"), ValueError,
         r"unknown engine 'exact'; valid names: 'jet', 'sdgd'"),
    Case("diff-sdgd-n-probes-above-dim", lambda t: lambda: laplacian(
        KAN([3, 4, 1]), x(4, 3), "sdgd", n_probes=4, generator=torch.Generator()), ValueError,
         r"sdgd: n_probes=4 exceeds the dimension d=3; use n_probes <= d or engine='jet'"),
    Case("diff-stochastic-without-generator", lambda t: lambda: laplacian(KAN([3, 4, 1]), x(4, 3), "hutchinson",
                                                                          n_probes=2), ValueError,
         r"engine 'hutchinson' is stochastic and needs an explicit torch.Generator \(generator=...\)"),
    Case("diff-points-nan", lambda t: lambda: laplacian(KAN([3, 4, 1]), bad(math.nan), "jet"), ValueError,
         r"KAN: x contains 1 non-finite value\(s\) \(NaN or inf\); clean the input first"),
    Case("diff-points-1d", lambda t: lambda: laplacian(KAN([3, 4, 1]), torch.zeros(3, dtype=F64)), ValueError,
         r"x must have shape \(N, d\), got \(3,\); reshape a single point with x.reshape\(1, -1\)"),
    Case("diff-points-int", lambda t: lambda: laplacian(KAN([3, 4, 1]), torch.zeros(2, 3, dtype=torch.long)),
         TypeError, r"KAN: x must have dtype torch.float64, got torch.int64"),
    # ---- problems ----------------------------------------------------------------------------------------
    Case("problem-unknown-name", lambda t: lambda: get_problem("poisson-3d"), ValueError,
         r"unknown problem 'poisson-3d'; valid names: 'allen-cahn-time', .*'poisson-two-body'"),
    Case("problem-unknown-keyword", lambda t: lambda: get_problem("poisson-two-body", dim=3, sed=1), ValueError,
         r"poisson-two-body: unknown keyword 'sed'; valid keywords: 'dim', 'seed'"),
    Case("problem-two-body-dim-1", lambda t: lambda: Poisson.two_body(1), ValueError,
         r"two_body: dim must be an integer >= 2, got 1"),
    Case("problem-ball-radius-zero", lambda t: lambda: Ball(3, radius=0), ValueError,
         r"Ball: radius must be a finite number > 0, got 0"),
    Case("problem-box-lows-ge-highs", lambda t: lambda: Box((0, 0), (1, 0)), ValueError,
         r"Box: lows\[1\] must be < highs\[1\], got lows\[1\]=0.0 >= highs\[1\]=0.0; swap them or widen the box"),
    Case("problem-unknown-sampler", lambda t: lambda: Poisson.sine_cube(3, sampler="grid"), ValueError,
         r"PoissonSineCube: unknown sampler 'grid'; valid names: 'uniform', 'sobol'"),
    Case("problem-negative-boundary-weight", lambda t: lambda: Poisson.sine_cube(3, boundary_weight=-1), ValueError,
         r"PoissonSineCube: boundary_weight must be a finite number >= 0, got -1"),
    Case("problem-weight-with-hard-bc", lambda t: lambda: Poisson.sine_square(boundary_weight=1.0), ValueError,
         r"boundary_weight must be 0 for a problem with a hard boundary condition .*got 1.0"),
    Case("problem-coeffs-length", lambda t: lambda: Poisson.two_body(3).with_params(coeffs=(1.0,)), ValueError,
         r"PoissonTwoBody: coeffs must have dim - 1 = 2 entries .*got 1; to scale the coefficients pass"),
    Case("problem-unknown-param", lambda t: lambda: Poisson.two_body(3).with_params(coef=(1.0, 2.0)), ValueError,
         r"PoissonTwoBody.with_params: unknown parameter 'coef'; valid names: .*'coeffs'"),
    Case("problem-c-nan", lambda t: lambda: AllenCahn.time(2, c=math.nan), ValueError,
         r"AllenCahnTime: c must be finite, got nan"),
    Case("problem-sampler-needs-generator", lambda t: lambda: Poisson.sine_square().sample_interior(5, 3),
         TypeError, r"generator must be a torch.Generator, got int; pass generator=torch.Generator\(\).manual_seed"),
    Case("problem-points-shape", lambda t: lambda: Poisson.two_body(3).exact(x(4, 2)), ValueError,
         r"PoissonTwoBody: x must have shape \(N, 3\), got \(4, 2\)"),
    Case("problem-raw-shape", lambda t: lambda: Poisson.two_body(3).ansatz(x(4, 3), x(4, 2)), ValueError,
         r"PoissonTwoBody: raw must have shape \(4, 1\) \(one network output per point\), got \(4, 2\)"),
    # ---- training configuration and solve ------------------------------------------------------------------
    Case("train-steps-zero", lambda t: lambda: TrainConfig(steps=0), ValueError,
         r"TrainConfig: steps must be an integer >= 1, got 0"),
    Case("train-steps-negative", lambda t: lambda: TrainConfig(steps=-5), ValueError,
         r"TrainConfig: steps must be an integer >= 1, got -5"),
    Case("train-steps-float", lambda t: lambda: TrainConfig(steps=2.5), TypeError,
         r"TrainConfig: steps must be an integer >= 1, got 2.5 \(float\)"),
    Case("train-lr-nan", lambda t: lambda: TrainConfig(lr=math.nan), ValueError,
         r"TrainConfig: lr must be a finite number > 0, got nan"),
    Case("train-lr-inf", lambda t: lambda: TrainConfig(lr=math.inf), ValueError,
         r"TrainConfig: lr must be a finite number > 0, got inf"),
    Case("train-group-lr-nan", lambda t: lambda: TrainConfig(group_lr={"hypernet": math.nan}), ValueError,
         r"TrainConfig: group_lr\['hypernet'\] must be a finite number > 0, got nan"),
    Case("train-unknown-optimizer", lambda t: lambda: TrainConfig(optimizer="sgd"), ValueError,
         r"TrainConfig: unknown optimizer 'sgd'; valid names: 'adam', 'adamw', 'lbfgs', 'adam\+lbfgs'"),
    Case("sampling-stochastic-without-n-probes", lambda t: lambda: SamplingConfig(engine="sdgd"), ValueError,
         r"engine='sdgd' is stochastic and needs n_probes, the number of probe directions per point "
         r"\(e.g. n_probes=4\)"),
    Case("train-sampling-field", lambda t: lambda: TrainConfig.from_dict({"n_interior": 10}), ValueError,
         r"TrainConfig: field\(s\) \['n_interior'\] moved to SamplingConfig \(TOML \[sampling\]"),
    Case("train-lr-string", lambda t: lambda: TrainConfig.from_dict({"lr": "1e-3"}), TypeError,
         r"TrainConfig: lr must be a number, got the string '1e-3'; write it without quotes"),
    Case("sampling-resample-string", lambda t: lambda: SamplingConfig(resample="no"), TypeError,
         r"SamplingConfig: resample must be true or false, got 'no' \(str\)"),
    Case("train-unknown-field", lambda t: lambda: TrainConfig.from_dict({"stpes": 3}), ValueError,
         r"TrainConfig: unknown field\(s\) \['stpes'\]; valid fields:"),
    Case("train-unknown-device", lambda t: lambda: solve(Poisson.sine_square(), KAN([2, 3, 1]),
                                                         TrainConfig(steps=1, device="tpu")), ValueError,
         r"unknown device 'tpu'; use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    *([] if torch.cuda.is_available() else [Case(
        "train-cuda-unavailable", lambda t: lambda: solve(Poisson.sine_square(), KAN([2, 3, 1]),
                                                          TrainConfig(steps=1, device="cuda")), ValueError,
        r"device 'cuda' requested but CUDA is not available here; use device='cpu' or device='auto'")]),
    Case("solve-dim-mismatch", lambda t: lambda: solve(Poisson.two_body(10), KAN([3, 4, 1]), TrainConfig(**CPU),
                                                       EVAL16),
         ValueError, r"PoissonTwoBody \(dim=10\): model.in_features must equal the problem dimension 10, got 3; "
                     r"build the model with widths starting at 10"),
    Case("solve-two-outputs", lambda t: lambda: solve(Poisson.sine_square(), KAN([2, 4, 2]), TrainConfig(**CPU),
                                                      EVAL16),
         ValueError, r"model.out_features must be 1 \(one scalar field u\), got 2; end the model widths with 1"),
    Case("solve-config-not-trainconfig", lambda t: lambda: solve(Poisson.sine_square(), KAN([2, 4, 1]),
                                                                 {"steps": 1}), TypeError,
         r"solve: config must be a TrainConfig, got dict; build one with TrainConfig\(steps=...\)"),
    Case("solve-sampling-not-samplingconfig", lambda t: lambda: solve(Poisson.sine_square(), KAN([2, 4, 1]),
                                                                      TrainConfig(**CPU), [Checkpoint(t / "ck")]),
         TypeError, r"solve: sampling must be a SamplingConfig, got list; build one with SamplingConfig\("),
    Case("solve-old-argument-order", lambda t: lambda: solve(KAN([2, 4, 1]), Poisson.sine_square()), TypeError,
         r"solve: the first argument is the problem and the second the model, got a KAN model first and a "
         r"PoissonSineSquare second; call solve\(problem, model, config\)"),
    Case("fit-old-argument-order", lambda t: lambda: fit(KAN([2, 3, 1]), _task(), TrainConfig(**CPU)), TypeError,
         r"fit: the first argument is the task and the second the model, got a KAN model first"),
    Case("train-unknown-group", lambda t: lambda: Trainer(MetaKAN([2, 3, 1]), _task(),
                                                          TrainConfig(group_lr={"core": 1e-3}, **CPU)), ValueError,
         r"TrainConfig.group_lr names unknown parameter group\(s\) \['core'\]; this model has groups "
         r"\['embeddings', 'hypernet'\]"),
    Case("train-nan-data", lambda t: lambda: fit(_task(nan=True), KAN([2, 3, 1]), TrainConfig(steps=1, **CPU)),
         ValueError, r"KAN: x contains 2 non-finite value\(s\)"),
    Case("train-supervised-rows", lambda t: lambda: SupervisedTask(x(3, 2), x(4, 1), x(3, 2), x(3, 1)), ValueError,
         r"SupervisedTask: x_train has 3 rows but y_train has 4; they must match"),
    Case("callback-checkpoint-every-zero", lambda t: lambda: Checkpoint(t / "ck", every=0), ValueError,
         r"Checkpoint: every must be an integer >= 1, got 0"),
    Case("callback-early-stopping-mode", lambda t: lambda: EarlyStopping(1e-3, mode="lower"), ValueError,
         r"EarlyStopping: mode must be 'min' or 'max', got 'lower'"),
    # ---- files: checkpoints -------------------------------------------------------------------------------
    Case("ckpt-missing", lambda t: lambda: load_checkpoint(t / "nope.pt"), FileNotFoundError,
         r"checkpoint '.*nope.pt' does not exist; pass the path of a checkpoint written by pde_kan"),
    Case("ckpt-truncated", lambda t: (lambda p: lambda: load_checkpoint(p))(_truncated(t, _ckpt(t), "half.pt")),
         ValueError, r"checkpoint '.*half.pt' is corrupt or not a pde_kan checkpoint \(\w+Error: .*\); use an "
                     r"intact checkpoint"),
    Case("ckpt-garbage", lambda t: (lambda p: lambda: load_checkpoint(p))(
        (t / "junk.pt", (t / "junk.pt").write_bytes(bytes(range(256)) * 4))[0]), ValueError,
         r"checkpoint '.*junk.pt' is corrupt or not a pde_kan checkpoint \(UnpicklingError: not a tensors-only torch "
         r"file\)"),
    Case("ckpt-foreign-pickle", lambda t: (lambda p: lambda: load_checkpoint(p))(
        (t / "obj.pt", torch.save({"format_version": 1, "x": Foreign()}, t / "obj.pt"))[0]), ValueError,
         r"checkpoint '.*obj.pt' is corrupt or not a pde_kan checkpoint \(UnpicklingError: not a tensors-only"),
    Case("ckpt-not-pde-kan", lambda t: (lambda p: lambda: load_checkpoint(p))(
        (t / "w.pt", torch.save({"weight": torch.ones(2)}, t / "w.pt"))[0]), ValueError,
         r"checkpoint '.*w.pt' is not a pde_kan checkpoint \(format_version None, expected 1\)"),
    Case("ckpt-other-architecture", lambda t: (lambda p: lambda: solve(
        Poisson.sine_square(), KAN([2, 5, 1]), TrainConfig(steps=3, eval_every=0, **CPU), EVAL16, resume=p))(
        _ckpt(t)),
         ValueError, r"checkpoint '.*last.pt' does not fit this model: Error\(s\) in loading state_dict for KAN"),
    Case("ckpt-changed-config", lambda t: (lambda p: lambda: solve(
        Poisson.sine_square(), KAN([2, 4, 1]), TrainConfig(steps=3, eval_every=0, lr=0.5, **CPU), EVAL16,
        resume=p))(_ckpt(t)), ValueError,
         r"was written with a different config for \['train.lr'\]; resume with the same settings"),
    Case("ckpt-changed-sampling", lambda t: (lambda p: lambda: solve(
        Poisson.sine_square(), KAN([2, 4, 1]), TrainConfig(steps=3, eval_every=0, **CPU),
        SamplingConfig(n_eval=16, n_interior=50), resume=p))(_ckpt(t)), ValueError,
         r"was written with a different config for \['sampling.n_interior'\]; resume with the same settings"),
    Case("ckpt-parent-is-a-file", lambda t: (lambda f: lambda: save_checkpoint(f / "last.pt", {}))(_file(t)),
         OSError, r"cannot create directory '.*a_file' for '.*a_file/last.pt'.*; choose a writable path"),
    # ---- files: results (HDF5) ------------------------------------------------------------------------------
    Case("results-missing", lambda t: lambda: load_solution(t / "results.h5"), FileNotFoundError,
         r"results file '.*results.h5' does not exist; pass a results.h5 written by Solution.save"),
    Case("results-truncated", lambda t: (lambda p: lambda: load_solution(p))(_truncated(t, _results(t), "cut.h5")),
         ValueError, r"results file '.*cut.h5' is corrupt or not HDF5 \(.*truncated file.*\); rerun or restore it"),
    Case("results-not-hdf5", lambda t: (lambda p: lambda: load_solution(p))(
        (t / "r.h5", (t / "r.h5").write_text("time,loss\n1,2\n"))[0]), ValueError,
         r"results file '.*r.h5' is corrupt or not HDF5"),
    Case("results-foreign-hdf5", lambda t: (lambda p: lambda: load_solution(p))(_h5(t, fmt="other")), ValueError,
         r"results file '.*f.h5' is not a pde_kan solution \(format 'other', expected 'pde_kan.solution'\)"),
    Case("results-incomplete", lambda t: (lambda p: lambda: load_solution(p))(_h5(t, fmt="pde_kan.solution")),
         ValueError, r"results file '.*f.h5' is incomplete or damaged \(KeyError: .*'history'.*\); rerun or restore"),
    Case("results-edited-model", lambda t: (lambda p: lambda: load_solution(p))(_edited(_results(t))), ValueError,
         r"the stored model state does not fit its model_config \(.*size mismatch.*\); the file was edited"),
    Case("results-parent-is-a-file", lambda t: (lambda f: lambda: _solution().save(f / "results.h5"))(_file(t)),
         OSError, r"cannot create directory '.*a_file' .*; choose a writable path"),
    # ---- transfer (LoTRA adapters) -------------------------------------------------------------------------
    Case("adapter-mismatched-base", lambda t: (lambda d: lambda: load_adapter(KAN([2, 4, 1], seed=1), d))(
        _adapter(t)), ValueError,
         r"load_adapter: the adapter in '.*adapter' was trained on different base weights \(base hash \w+\.\.\., "
         r"this model \w+\.\.\.\); load it onto the base model it was saved from"),
    Case("adapter-other-architecture", lambda t: (lambda d: lambda: load_adapter(KAN([2, 5, 1], seed=0), d))(
        _adapter(t)), ValueError, r"load_adapter: the adapter in '.*adapter' was trained on different base weights"),
    Case("adapter-missing", lambda t: lambda: load_adapter(KAN([2, 4, 1]), t / "none"), FileNotFoundError,
         r"LoTRA adapter '.*none': adapter_config.json is missing; pass a directory written by "
         r"LoTRAModel.save_adapter"),
    Case("adapter-truncated", lambda t: (lambda d: lambda: load_adapter(KAN([2, 4, 1], seed=0), d))(
        _cut_adapter(_adapter(t))), ValueError,
         r"LoTRA adapter '.*adapter': adapter.pt does not match the hash in adapter_config.json \(altered or from "
         r"another save\); save the adapter again"),
    Case("adapter-config-corrupt", lambda t: (lambda d: lambda: load_adapter(KAN([2, 4, 1], seed=0), d))(
        _bad_adapter_json(_adapter(t))), ValueError,
         r"LoTRA adapter '.*adapter': adapter_config.json is not valid JSON"),
    Case("lotra-rank-zero", lambda t: lambda: LoTRAConfig(ranks=(0, 2, 2)), ValueError,
         r"LoTRAConfig: ranks r_out must be an integer >= 1, got 0"),
    Case("lotra-unknown-target", lambda t: lambda: inject_lotra(KAN([2, 4, 1]), LoTRAConfig(targets=("conv*",))),
         ValueError, r"LoTRAConfig: unknown target 'conv\*': it matches no KAN layer of KAN; valid layer names: "
                     r"'layers.0', 'layers.1'"),
    Case("lotra-merge-hypernet-mode", lambda t: lambda: inject_lotra(
        MetaKAN([2, 4, 1]), LoTRAConfig(metakan_mode="hypernet")).merge(), RuntimeError,
         r"LoTRAModel.merge: MetaKAN hypernet mode trains the hypernets in place; there is no separate delta to "
         r"merge or unmerge"),
    Case("transfer-unknown-method", lambda t: (lambda s: lambda: transfer(Poisson.sine_square(), s, method="lora"))(
        _solution()), ValueError, r"unknown transfer method 'lora'; valid names: 'full', 'last_layer', 'lotra'"),
    Case("transfer-dim-mismatch", lambda t: (lambda s: lambda: transfer(
        Poisson.two_body(3), s, method="full", config=TrainConfig(steps=1, **CPU), sampling=EVAL16))(_solution()),
         ValueError,
         r"PoissonTwoBody \(dim=3\): model.in_features must equal the problem dimension 3, got 2"),
    # ---- data sets (validation suites) ---------------------------------------------------------------------
    Case("dataset-idx-truncated", using(lambda t: _mnist(t, "truncate"), load_idx_dataset), DataFileError,
         r"train-images-idx3-ubyte: truncated IDX file: the header declares shape \(4, 5, 5\) \(116 bytes\) but the "
         r"file has 66 bytes. Dataset 'mnist' expects"),
    Case("dataset-idx-not-idx", using(lambda t: _mnist(t, "junk"), load_idx_dataset), DataFileError,
         r"train-images-idx3-ubyte: not an IDX file \(magic bytes 3c68746d; expected 00 00 <type> <ndim>"),
    Case("dataset-idx-swapped", using(lambda t: _mnist(t, "swap"), load_idx_dataset), DataFileError,
         r"mislabeled file: holds a 1-D uint8 array of shape \(4,\), but train-images-idx3-ubyte must hold ubyte "
         r"images \(N, rows, cols\) \(are the file names swapped\?\)"),
    Case("dataset-idx-label-range", using(lambda t: _mnist(t, "label"), load_idx_dataset), DataFileError,
         r"t10k-labels-idx1-ubyte: label 12 outside 0..9; dataset 'mnist' expects"),
    Case("dataset-gzip-corrupt", using(lambda t: _mnist(t, "gzip"), load_idx_dataset), DataFileError,
         r"train-labels-idx1-ubyte.gz: truncated or corrupt gzip file \(.*\); download it again"),
    Case("dataset-missing-files", lambda t: lambda: load_idx_dataset(t), DataFileError,
         r"missing train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
         r"\(plain or .gz\)"),
    Case("dataset-no-data-dir", lambda t: lambda: load_dataset("fashion-mnist"), DataFileError,
         r"dataset 'fashion-mnist' is read from local files and nothing is downloaded; pass data_dir="),
    Case("dataset-cifar-code-in-pickle", using(lambda t: _cifar(t, evil=True), load_cifar10), DataFileError,
         r"data_batch_1: truncated or corrupt CIFAR-10 batch \(UnpicklingError: refusing to load global "
         r"pathlib.*\(only numpy arrays are allowed\)"),
    Case("dataset-cifar-truncated", using(lambda t: _cifar(t, cut=True), load_cifar10), DataFileError,
         r"test_batch: truncated or corrupt CIFAR-10 batch"),
    Case("dataset-unknown-name", lambda t: lambda: load_dataset("imagenet"), ValueError,
         r"unknown dataset 'imagenet'; valid names: 'cifar10', 'digits'"),
    Case("feynman-unknown-equation", lambda t: lambda: get_equation("I.99.99"), ValueError,
         r"get_equation: unknown equation 'I.99.99'; valid names: 'I.6.20a'"),
    # ---- command line --------------------------------------------------------------------------------------
    Case("cli-unknown-problem", lambda t: cli(*SOLVE, "--problem", "nope", "--out", t / "o"), CLIFailed,
         r"exit 2: pde-kan: error: unknown problem 'nope'; valid names: 'allen-cahn-time'"),
    Case("cli-no-problem", lambda t: cli(*SOLVE, "--out", t / "o"), CLIFailed,
         r"exit 2: .*no problem given; pass --problem NAME \(see `pde-kan list`\)"),
    Case("cli-steps-zero", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--steps", 0, "--out", t / "o"),
         CLIFailed, r"exit 2: .*TrainConfig: steps must be an integer >= 1, got 0"),
    Case("cli-negative-lr", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--lr=-1", "--out", t / "o"),
         CLIFailed, r"exit 2: .*TrainConfig: lr must be a finite number > 0, got -1.0"),
    Case("cli-unknown-backbone", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--backbone", "resnet",
                                               "--out", t / "o"), CLIFailed,
         r"exit 2: .*unknown backbone 'resnet'; valid names: 'kan', 'metakan'"),
    Case("cli-dim-mismatch", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--dim", 3, "--out", t / "o"),
         CLIFailed, r"exit 2: .*poisson-sine-square: dim must be 2 \(the problem lives on \[-1, 1\]\^2\), got 3"),
    Case("cli-unknown-engine", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--engine", "fd",
                                             "--out", t / "o"), CLIFailed,
         r"exit 2: .*unknown engine 'fd'; valid names: 'jet'"),
    Case("cli-stochastic-without-n-probes", lambda t: cli(*SOLVE, "--problem", "poisson-two-body", "--dim", 3,
                                                          "--engine", "hutchinson", "--out", t / "o"), CLIFailed,
         r"exit 2: .*engine='hutchinson' is stochastic and needs n_probes"),
    Case("cli-old-sampling-key", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--set",
                                               "train.laplacian=sdgd", "--out", t / "o"), CLIFailed,
         r"exit 2: .*TrainConfig: field\(s\) \['laplacian'\] moved to SamplingConfig \(TOML \[sampling\], --set "
         r"sampling.F=V\) as \['engine'\]"),
    Case("cli-set-without-section", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--set", "lr=1",
                                                  "--out", t / "o"), CLIFailed,
         r"exit 2: .*--set expects section.key=value \(sections: problem, model, train, sampling\), got 'lr=1'"),
    Case("cli-set-unknown-section", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--set", "optim.lr=1",
                                                  "--out", t / "o"), CLIFailed,
         r"exit 2: .*unknown section 'optim'; valid sections: 'problem', 'model', 'train', 'sampling'"),
    Case("cli-set-unknown-train-field", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--set",
                                                      "train.stpes=3", "--out", t / "o"), CLIFailed,
         r"exit 2: .*unknown field\(s\) \['stpes'\]"),
    Case("cli-config-missing", lambda t: cli(*SOLVE, "--config", t / "run.toml", "--out", t / "o"), CLIFailed,
         r"exit 2: .*--config '.*run.toml' does not exist; pass a TOML file with \[problem\], \[model\], \[train\], "
         r"\[sampling\]"),
    Case("cli-config-not-toml", lambda t: cli(*SOLVE, "--config", (t / "c.toml", (t / "c.toml").write_text(
        "[train\nsteps = 3"))[0], "--out", t / "o"), CLIFailed, r"exit 2: .*--config '.*c.toml' is not valid TOML"),
    Case("cli-out-under-a-file", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--steps", 1,
                                               "--out", _file(t) / "run"), CLIFailed,
         r"exit 2: .*--out '.*a_file/run' cannot be created \(.*\); choose a writable directory"),
    Case("cli-resume-missing", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--steps", 1,
                                             "--resume", t / "none.pt", "--out", t / "o"), CLIFailed,
         r"exit 2: .*--resume: checkpoint '.*none.pt' does not exist"),
    Case("cli-resume-corrupt", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--steps", 1, "--resume",
                                             (t / "bad.pt", (t / "bad.pt").write_bytes(b"\x00" * 64))[0],
                                             "--out", t / "o"), CLIFailed,
         r"exit 2: .*--resume: checkpoint '.*bad.pt' is corrupt or not a pde_kan checkpoint"),
    Case("cli-checkpoint-every-zero", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--checkpoint-every",
                                                    0, "--out", t / "o"), CLIFailed,
         r"exit 2: .*argument --checkpoint-every: must be an integer >= 1 \(steps between checkpoints\), got '0'"),
    Case("cli-unknown-suite", lambda t: cli("validate", "physics"), CLIFailed,
         r"exit 2: .*argument suite: invalid choice: 'physics'"),
    Case("cli-validate-missing-data", lambda t: cli("validate", "images", "--dataset", "mnist", "--data-dir", t,
                                                    "--out", t / "o", "--no-progress"), CLIFailed,
         r"exit 2: pde-kan: error: .*missing train-images-idx3-ubyte"),
    Case("cli-transfer-from-missing", lambda t: cli("transfer", "--from", t / "nowhere", "--out", t / "o",
                                                    "--no-progress"), CLIFailed,
         r"exit 2: .*--from '.*nowhere': no run.json next to the results; pass the --out directory of a "
         r"`pde-kan solve` run"),
    Case("cli-transfer-rank-zero", lambda t: cli("transfer", "--from", _solved_dir(t), "--ranks", 0, 2, 2,
                                                 "--out", t / "o", "--no-progress"), CLIFailed,
         r"exit 2: .*LoTRAConfig: ranks r_out must be an integer >= 1, got 0"),
    Case("cli-transfer-corrupt-results", lambda t: cli("transfer", "--from", _run_dir(t, b"\x89HDF\r\n" + b"0" * 50),
                                                       "--out", t / "o", "--no-progress"), CLIFailed,
         r"exit 2: .*results file '.*results.h5' is corrupt or not HDF5"),
    # issue 16: errors that used to surface after --out was touched (traceback, exit 1, run.json rewritten)
    Case("cli-resume-other-lr", lambda t: cli(*_run4(t), "--resume", "--lr", 0.5), CLIFailed,
         r"exit 2: pde-kan: error: --resume '.*last.pt' belongs to a different run \(train.lr: checkpoint \(not set\), "
         r"now 0.5\); resume with that run's settings"),
    Case("cli-resume-other-hidden", lambda t: cli(*_run4(t, hidden=5), "--resume"), CLIFailed,
         r"exit 2: .*belongs to a different run \(model.hidden: checkpoint \[3\], now \[5\]; model.widths: "
         r"checkpoint \[4, 3, 1\], now \[4, 5, 1\]\)"),
    Case("cli-resume-other-problem", lambda t: cli(*_run4(t), "--resume", "--problem-seed", 3), CLIFailed,
         r"exit 2: .*belongs to a different run \(problem.seed: checkpoint \(default\), now 3; problem.coeffs: "),
    Case("cli-resume-other-sampling", lambda t: cli(*_run4(t), "--resume", "--n-interior", 7), CLIFailed,
         r"exit 2: .*belongs to a different run \(sampling.n_interior: checkpoint 100, now 7\); resume with that "
         r"run's settings"),
    Case("cli-resume-other-backbone", lambda t: cli(*_run4(t), "--resume", "--backbone", "slimkan"), CLIFailed,
         r"exit 2: .*belongs to a different run \(model.backbone: checkpoint 'kan', now 'slimkan'"),
    Case("cli-resume-beyond-steps", lambda t: cli(*_run4(t, steps=1), "--resume"), CLIFailed,
         r"exit 2: .*is at step 2, beyond this run's 1 steps; pass --steps 2 or more"),
    Case("cli-resume-and-overwrite", lambda t: cli(*_run4(t), "--resume", "--overwrite"), CLIFailed,
         r"exit 2: .*--resume and --overwrite contradict each other"),
    Case("cli-out-not-empty", lambda t: cli(*_run4(t)), CLIFailed,
         r"exit 2: .*--out '.*r' is not empty \(checkpoints, history.csv, results.h5, run.json\); pass --resume to "
         r"continue the run there, --overwrite to replace its results"),
    *([] if torch.cuda.is_available() else [Case(
        "cli-device-cuda-unavailable", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--device", "cuda",
                                                     "--out", t / "o"), CLIFailed,
        r"exit 2: .*--device: device 'cuda' requested but CUDA is not available here")]),
    Case("cli-device-gpu", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--device", "gpu",
                                         "--out", t / "o"), CLIFailed,
         r"exit 2: .*unknown device 'gpu'; use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    Case("cli-sdgd-n-probes-above-dim", lambda t: cli(*SOLVE, "--problem", "poisson-two-body", "--dim", 4,
                                                      "--engine", "sdgd", "--n-probes", 99, "--out", t / "o"),
         CLIFailed, r"exit 2: .*sdgd: n_probes=99 exceeds the dimension d=4; use n_probes <= d or engine='jet'"),
    Case("cli-transfer-lotra-field", lambda t: cli("transfer", "--from", _solved_dir(t), "--set", "lotra.alpha=0",
                                                   "--out", t / "o", "--no-progress"), CLIFailed,
         r"exit 2: .*--set lotra.\*: LoTRAConfig: alpha must be a finite number > 0, got 0"),
    Case("cli-transfer-lotra-unknown-field", lambda t: cli("transfer", "--from", _solved_dir(t), "--set",
                                                           "lotra.rnak=2", "--out", t / "o", "--no-progress"),
         CLIFailed, r"exit 2: .*LoTRAConfig: unknown field\(s\) \['rnak'\]"),
    Case("cli-transfer-unknown-method", lambda t: cli("transfer", "--from", _solved_dir(t), "--method", "bogus",
                                                      "--out", t / "o", "--no-progress"), CLIFailed,
         r"exit 2: .*--method: unknown transfer method 'bogus'; valid names: 'full', 'last_layer', 'lotra'"),
    Case("cli-transfer-other-dim", lambda t: cli("transfer", "--from", _run4(t, run=True), "--set", "problem.dim=6",
                                                 "--out", t / "o", "--no-progress"), CLIFailed,
         r"exit 2: .*PoissonTwoBody \(dim=6\): model.in_features must equal the problem dimension 6, got 4"),
    Case("cli-transfer-out-not-empty", lambda t: cli("transfer", "--from", _run4(t, run=True), "--out", t / "r",
                                                     "--no-progress"), CLIFailed,
         r"exit 2: .*--out '.*r' is not empty"),
    Case("cli-demo-steps-zero", lambda t: cli("demo", "--steps", 0, "--out", t / "d", "--no-progress"), CLIFailed,
         r"exit 2: .*--steps: TrainConfig: steps must be an integer >= 1, got 0"),
    Case("cli-demo-out-not-empty", lambda t: cli("demo", "--steps", 1, "--out", _file(t).parent, "--no-progress"),
         CLIFailed, r"exit 2: .*is not empty \(a_file\); pass --resume to continue the run there, --overwrite"),
    Case("cli-set-quoted-number", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--set",
                                                'train.lr="0.001"', "--out", t / "o"), CLIFailed,
         r"exit 2: .*TrainConfig: lr must be a number, got the string '0.001'; write it without quotes"),
    Case("cli-toml-string-number", lambda t: cli(*SOLVE, "--config", (t / "c.toml", (t / "c.toml").write_text(
        '[problem]\nname = "poisson-sine-square"\n[train]\nlr = "1e-3"\n'))[0], "--out", t / "o"), CLIFailed,
         r"exit 2: .*TrainConfig: lr must be a number, got the string '1e-3'"),
    Case("cli-flag-not-a-number", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--steps", "ten",
                                                "--out", t / "o"), CLIFailed,
         r"exit 2: pde-kan: error: solve: argument --steps: must be an integer, got 'ten'"),
    Case("cli-unknown-flag", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--stepz", 3,
                                           "--out", t / "o"), CLIFailed,
         r"exit 2: pde-kan: error: unrecognized arguments: --stepz 3"),
    Case("cli-predict-points-missing", lambda t: cli("predict", "--from", _solved_dir(t), "--points", t / "p.npy",
                                                     "--out", t / "pred.h5"), CLIFailed,
         r"exit 2: .*--points '.*p.npy' does not exist; pass a .npy or .csv file with one point \(2 coordinates\)"),
    Case("cli-predict-points-shape", lambda t: cli("predict", "--from", _solved_dir(t), "--points", _points(t, 3),
                                                   "--out", t / "pred.h5"), CLIFailed,
         r"exit 2: .*must hold numbers of shape \(N, 2\) .*got float64 of shape \(5, 3\)"),
    Case("cli-predict-out-exists", lambda t: cli("predict", "--from", _solved_dir(t), "--points", _points(t, 2),
                                                 "--out", _file(t, "pred.h5")), CLIFailed,
         r"exit 2: .*--out '.*pred.h5' exists; pass --overwrite to replace it"),
    Case("cli-group-lr-unknown", lambda t: cli(*SOLVE, "--problem", "poisson-sine-square", "--set",
                                               "train.group_lr={core=0.1}", "--out", t / "o"), CLIFailed,
         r"exit 2: .*train.group_lr names unknown parameter group\(s\) \['core'\]; this model has groups "
         r"\['embeddings', 'hypernet'\]"),
    Case("cli-plot-from-missing", lambda t: cli("plot", "--from", t / "nowhere"), CLIFailed,
         r"exit 2: .*--from '.*nowhere': no results.h5 there"),
]


def _run4(t: Path, hidden: int = 3, steps: int = 2, run: bool = False):
    """A finished 2-step KAN run on the 4-D two-body problem in ``t/r`` (made once); returns the argv of the
    same run (``steps`` and ``hidden`` changed as asked), or the run directory with ``run=True``."""
    argv = ["solve", "--no-progress", "--no-plots", "--n-eval", 16, "--problem", "poisson-two-body", "--dim", 4,
            "--backbone", "kan", "--out", t / "r"]
    if not (t / "r").exists():
        cli(*argv, "--hidden", 3, "--steps", 2)()
    return t / "r" if run else [*argv, "--hidden", hidden, "--steps", steps]


def _points(t: Path, d: int) -> Path:
    np.save(t / "p.npy", np.full((5, d), 0.1))
    return t / "p.npy"


def _idx(path: Path, arr: np.ndarray) -> None:
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(head + arr.astype(np.uint8).tobytes())


def _mnist(tmp: Path, fault: str) -> Path:
    """The four MNIST IDX files (4 images of 5x5 each split), with one fault."""
    d = tmp / "mnist"
    d.mkdir()
    images, labels = np.arange(100).reshape(4, 5, 5) % 256, np.array([1, 2, 3, 4])
    for split in ("train", "t10k"):
        _idx(d / f"{split}-images-idx3-ubyte", images)
        _idx(d / f"{split}-labels-idx1-ubyte", labels)
    img, lab = d / "train-images-idx3-ubyte", d / "train-labels-idx1-ubyte"
    if fault == "truncate":
        img.write_bytes(img.read_bytes()[:16 + 50])
    elif fault == "junk":
        img.write_text("<html>404 Not Found</html>")
    elif fault == "swap":
        _idx(img, labels)
    elif fault == "label":
        _idx(d / "t10k-labels-idx1-ubyte", np.array([1, 2, 12, 4]))
    elif fault == "gzip":
        data = gzip.compress(lab.read_bytes())
        lab.unlink()
        (d / "train-labels-idx1-ubyte.gz").write_bytes(data[: len(data) // 2])
    return d


class _Touch:
    """Unpickling this would create a file (the catalogue check would see it): code, not data."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _cifar(tmp: Path, evil=False, cut=False) -> Path:
    d = tmp / "cifar"
    d.mkdir()
    batch = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (d / name).write_bytes(pickle.dumps(batch))
    if evil:
        (d / "data_batch_1").write_bytes(pickle.dumps({b"data": _Touch(tmp / "pwned"), b"labels": [0]}))
    if cut:
        raw = (d / "test_batch").read_bytes()
        (d / "test_batch").write_bytes(raw[: len(raw) // 2])
    return d


def _adapter(tmp: Path) -> Path:
    return inject_lotra(KAN([2, 4, 1], seed=0), LoTRAConfig(ranks=(2, 2, 2))).save_adapter(tmp / "adapter")


def _cut_adapter(d: Path) -> Path:
    _truncated(d, d / "adapter.pt", "adapter.pt.half").replace(d / "adapter.pt")
    return d


def _bad_adapter_json(d: Path) -> Path:
    (d / "adapter_config.json").write_text("{not json")
    return d


def _solved_dir(tmp: Path) -> Path:
    cli(*SOLVE, "--problem", "poisson-sine-square", "--steps", 1, "--backbone", "kan", "--out", tmp / "src")()
    return tmp / "src"


def _task(nan=False):
    xs = x(16, 2)
    if nan:
        xs[3, 1] = math.nan
        xs[5, 0] = math.inf
    y = xs[:, :1] ** 2
    return SupervisedTask(xs, y, xs, y)


def _h5(tmp: Path, fmt: str) -> Path:
    p = tmp / "f.h5"
    with h5py.File(p, "w") as f:
        f.attrs["format"] = fmt
    return p


def _edited(path: Path) -> Path:
    with h5py.File(path, "r+") as f:
        cfg = json.loads(f.attrs["model_config"])
        f.attrs["model_config"] = json.dumps({**cfg, "widths": [2, 5, 1]})
    return path


def _solution():
    return solve(Poisson.sine_square(), KAN([2, 3, 1]), TrainConfig(steps=1, eval_every=0, **CPU), EVAL16)


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


def test_catalogue_is_large_and_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40
    assert sum(i.startswith("cli-") for i in ids) >= 10


def test_every_case_is_documented():
    text = DOC.read_text()
    missing = [c.id for c in CASES if f"`{c.id}`" not in text]
    assert not missing, f"add these cases to docs/reliability.md: {missing}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_clear_error_and_leaves_no_file(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative defaults (runs/...) would land here
    call = case.build(tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(case.exc, match=case.match):
        call()
    after = _snapshot(tmp_path)
    assert after == before, f"files changed: {sorted(set(after.items()) ^ set(before.items()))}"


# every item alone makes `pde-kan solve` a user error; combined at random they must still be refused in one line
BAD_ARGS = [
    ["--problem", "x"], ["--dim", "1"], ["--dim", "-2"], ["--dim", "2.0"], ["--backbone", ""], ["--hidden", "0"],
    ["--lr", "nan"], ["--lr", "inf"], ["--lr", "0"], ["--lr", "1e400"], ["--engine", "hutchinson", "--n-probes", "0"],
    ["--engine", "sdgd", "--n-probes", "9"], ["--optimizer", "Adam"], ["--n-interior", "0"], ["--n-eval", "0"],
    ["--eval-every", "-1"], ["--seed", "-1"], ["--device", "meta"], ["--device", ""], ["--device", "gpu"],
    ["--set", "train.dtype=float16"], ["--set", "train.schedule=cos"], ["--set", "train.grad_clip=0"],
    ["--set", "sampling.boundary_weight=-1"], ["--set", "problem.sampler=sobol2"], ["--set", "model.grid_range=[1,-1]"],
    ["--set", "model.ranks=[0,2,2]"], ["--set", "sampling.n_boundary=-3"], ["--set", "sampling.resample=0"],
    ["--set", "model.dtype='half'"], ["--set", "train.group_lr={a=1}"], ["--set", "problem.coeffs=[1]"],
    ["--set", "train.max_retries=-1"], ["--set", "model.hidden=[0]"], ["--set", "problem.name=3"],
    ["--set", "model.backbone=3"], ["--set", 'train.lr="1e-3"'], ["--set", "model.spline_order=1"],
    ["--steps", "1.5"], ["--checkpoint-every", "0"], ["--resume", "nowhere.pt"], ["--stepz", "1"],
]


def test_random_bad_command_lines_are_refused_in_one_line_before_writing(tmp_path, monkeypatch):
    import random

    monkeypatch.chdir(tmp_path)
    rng = random.Random(16)
    for i in range(60):
        argv = [*SOLVE, "--problem", "poisson-two-body", "--dim", 3, "--steps", 1, "--out", tmp_path / f"o{i}"]
        for _ in range(rng.randint(1, 3)):
            argv += rng.choice(BAD_ARGS)
        with pytest.raises(CLIFailed, match=r"^exit 2: pde-kan: error: "):  # one line asserted inside cli()
            cli(*argv)()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
