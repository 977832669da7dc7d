"""``pde-kan validate``, ``pde-kan demo`` and ``pde-kan list``."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from ._common import (EXIT_INTERRUPTED, METRIC_COLUMNS, add_verbose, callbacks, check_flags, check_out,
                      clear_run_files, format_table, integer, log_to_stderr, period, start_out, unlog, write_outputs)
from ._config import CLIError

DEMO_BACKBONES = {"metakan": dict(hyper_hidden=16), "kan": {}, "slimkan": dict(ranks=(8, 8, 4)), "mlp": {}}


def cmd_validate(args) -> int:
    from .. import validation

    runner = getattr(validation, f"run_{args.suite}", None)
    if runner is None:
        raise CLIError(f"validation suite {args.suite!r} is not available in this installation.")
    if args.out is not None:  # the suite's own argument checks come first, inside the runner, before it writes
        check_out(Path(args.out), overwrite=args.overwrite)
    kwargs = {"out": args.out, "progress": not args.no_progress}
    if args.suite == "feynman":
        kwargs.update(equations=args.equations, steps=args.steps, backbones=args.backbone)
    elif args.suite == "images":
        kwargs.update(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, backbones=args.backbone)
    else:
        kwargs.update(problems=args.problems, steps=args.steps, backbones=args.backbone)
    try:
        report = runner(**{k: v for k, v in kwargs.items() if v is not None})
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    print(report.to_text())
    return 0


def _demo_run(name: str, kw: dict, hidden: list, config_dict: dict, sampling_dict: dict, out: str, progress: bool,
              plots: bool, checkpoint_every: int, verbose: bool) -> dict:
    """One demo backbone, run in a fresh process so that its peak memory is its own (a process's peak RSS
    never goes down, and freed memory stays mapped). Returns metrics and history columns."""
    import argparse

    from ..nn import get_backbone
    from ..problems import get_problem
    from ..solvers import SamplingConfig, TrainConfig, solve
    from ..solvers._runtime import proc_status_mb

    handler = log_to_stderr(verbose)
    try:
        problem = get_problem("poisson-two-body", dim=10, seed=0)
        config, sampling = TrainConfig.from_dict(config_dict), SamplingConfig.from_dict(sampling_dict)
        model = get_backbone(name, [problem.dim, *hidden, 1], **kw)
        start_out(Path(out), {"problem": problem.params(), "model": model.config, "train": config.to_dict(),
                              "sampling": sampling.to_dict()})
        args = argparse.Namespace(no_progress=not progress, checkpoint_every=checkpoint_every)
        start_mb = proc_status_mb("VmRSS")  # this process after its imports: interpreter, torch, the model
        sol = solve(problem, model, config, sampling, callbacks=callbacks(Path(out), args, None))
        if start_mb is not None:
            sol.metrics["memory_above_start_mb"] = sol.metrics["peak_memory_mb"] - start_mb
        write_outputs(sol, Path(out), plots=plots)
        return {"metrics": sol.metrics, "history": {k: v.tolist() for k, v in sol.history_table().items()},
                "stop_reason": sol.stop_reason}
    finally:
        unlog(handler)


def cmd_demo(args) -> int:
    """Poisson two-body d=10 with each backbone for a short run; a metrics table and files in --out."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

    from ..solvers import SamplingConfig, TrainConfig, plot_comparison
    from ..solvers.plots import backbone_label

    check_flags(args)
    out = Path(args.out)
    hidden = [32, 32]
    try:
        config = TrainConfig(steps=args.steps, lr=1e-2, schedule="exponential", lr_final_factor=0.05,
                             eval_every=max(args.steps // 20, 1), device="cpu")
    except (ValueError, TypeError) as e:
        raise CLIError(f"--steps: {e}") from None
    sampling = SamplingConfig(n_interior=100, n_eval=5000)
    check_out(out, overwrite=args.overwrite)
    if args.overwrite and (out / "comparison.png").is_file():
        (out / "comparison.png").unlink()
    rows, histories = [], {}
    start = time.perf_counter()
    verbose = logging.getLogger("pde_kan").isEnabledFor(logging.INFO)
    with _sigint_flag() as interrupted:  # Ctrl-C reaches the child too; it stops after its step and reports
        for name, kw in DEMO_BACKBONES.items():
            if args.overwrite:
                check_out(out / name, overwrite=True)
                clear_run_files(out / name)
            try:
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    res = pool.submit(_demo_run, name, kw, hidden, config.to_dict(), sampling.to_dict(),
                                      str(out / name), not args.no_progress, not args.no_plots,
                                      args.checkpoint_every, verbose).result()
            except BaseException:  # the child was interrupted before its training loop started
                if interrupted:
                    break
                raise
            rows.append({"backbone": name, **res["metrics"]})
            histories[backbone_label({"backbone": name})] = {k: np.asarray(v) for k, v in res["history"].items()}
            if res["stop_reason"] or interrupted:
                break
    total = time.perf_counter() - start
    files = []
    if not args.no_plots:
        files.append(plot_comparison(histories, out / "comparison.png",
                                     title=f"Poisson two-body, d=10, hidden {hidden}: backbones compared"))
    print(f"\nPoisson two-body, d=10, hidden {hidden}, {args.steps} steps, 100 fresh points/step, exact jet "
          f"Laplacian ({total:.0f} s total; each backbone in its own process: peak_memory_mb is that process's "
          f"peak RSS, memory_above_start_mb its peak above the RSS after imports and model construction)")
    memory = ["memory_above_start_mb"] if all("memory_above_start_mb" in r for r in rows) else []
    print(format_table(rows, ["backbone", *METRIC_COLUMNS, *memory]))
    print(f"results, histories, checkpoints and plots in {out}/<backbone>/" +
          (f", the backbones compared in {files[0]}" if files else ""))
    if len(rows) < len(DEMO_BACKBONES) or any(r.get("steps", args.steps) < args.steps for r in rows):
        last = rows[-1] if rows else {"backbone": list(DEMO_BACKBONES)[0], "steps": 0}
        print(f"interrupted at step {last.get('steps', '?')} of {args.steps} ({last['backbone']}, Ctrl-C); "
              f"{len(rows)} of {len(DEMO_BACKBONES)} backbones ran")
        return EXIT_INTERRUPTED
    return 0


class _sigint_flag:
    """While active, the first Ctrl-C only sets a flag (returned list becomes non-empty) so the demo can report
    what ran; a second one aborts as usual. Main thread only (elsewhere it does nothing)."""

    def __enter__(self) -> list:
        import signal
        import threading

        self.flag: list = []
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                signal.signal(signal.SIGINT, self.previous)
                self.flag.append(True)

            self.previous = signal.signal(signal.SIGINT, handler)
        return self.flag

    def __exit__(self, *exc) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def cmd_list(args) -> int:
    from ..diff import available_engines
    from ..nn import available_backbones
    from ..problems import available_problems

    print("backbones:  " + ", ".join(available_backbones()))
    print("problems:   " + ", ".join(available_problems()))
    print("engines:    " + ", ".join(available_engines()))
    return 0


def add_parsers(sub) -> None:
    v = sub.add_parser("validate", help="run a validation suite")
    v.add_argument("suite", choices=["feynman", "images", "pde"])
    v.add_argument("--out", help="directory for the report (table, CSV, HDF5, figure)")
    v.add_argument("--no-progress", action="store_true")
    v.add_argument("--overwrite", action="store_true", help="write the report into a non-empty --out")
    v.add_argument("--backbone", nargs="+", help="one or more backbones (default: the suite's)")
    v.add_argument("--equations", nargs="+", help="feynman: equation names (default all)")
    v.add_argument("--steps", type=integer)
    v.add_argument("--dataset", help="images: digits | mnist | fashion-mnist | kmnist | cifar10")
    v.add_argument("--data-dir", help="images: directory with the IDX / CIFAR files")
    v.add_argument("--epochs", type=integer)
    v.add_argument("--problems", nargs="+", help="pde: problem names")
    add_verbose(v)
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("demo", help="a one-minute Poisson d=10 solve comparing the backbones")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--steps", type=integer, default=400)
    d.add_argument("--overwrite", action="store_true", help="replace the results of a previous demo in --out")
    d.add_argument("--no-progress", action="store_true")
    d.add_argument("--no-plots", action="store_true")
    d.add_argument("--checkpoint-every", type=period, default=500)
    add_verbose(d)
    d.set_defaults(func=cmd_demo)

    ls = sub.add_parser("list", help="list backbones, problems and derivative engines")
    add_verbose(ls)
    ls.set_defaults(func=cmd_list)
