"""The pde-kan command line end to end in a temporary directory."""
import json
import re
import subprocess
import sys

import h5py
import numpy as np
import torch
import pytest

from pde_kan.cli import main, parse_value


def run(*argv):
    return main([str(a) for a in argv])


@pytest.mark.slow
def test_solve_end_to_end_writes_every_file(tmp_path, capsys):
    out = tmp_path / "p3"
    rc = run("solve", "--problem", "poisson-two-body", "--dim", 3, "--backbone", "kan", "--hidden", 4,
             "--steps", 6, "--eval-every", 3, "--n-eval", 200, "--out", out, "--no-progress")
    assert rc == 0
    text = capsys.readouterr().out
    assert "rel_l2" in text and "kan" in text
    for name in ("results.h5", "history.csv", "run.json", "history.png", "slice.png", "checkpoints/last.pt"):
        assert (out / name).is_file(), name
    with h5py.File(out / "results.h5") as f:
        assert json.loads(f.attrs["config"])["steps"] == 6
    assert json.loads((out / "run.json").read_text())["model"]["hidden"] == [4]


def test_toml_config_and_set_overrides(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[problem]\nname = "poisson-sine-square"\n[model]\nbackbone = "mlp"\nhidden = [8]\n'
                   '[train]\nsteps = 4\n[sampling]\nn_eval = 100\n')
    out = tmp_path / "o"
    assert run("solve", "--config", cfg, "--set", "train.lr=0.005", "--set", "model.activation='sin'",
               "--out", out, "--no-progress", "--no-plots") == 0
    saved = json.loads((out / "run.json").read_text())
    assert saved["train"]["lr"] == 0.005 and saved["model"]["activation"] == "sin"


def test_resume_continues_from_last_checkpoint(tmp_path):
    args = ["solve", "--problem", "poisson-sine-square", "--backbone", "kan", "--hidden", 4, "--n-eval", 100,
            "--out", tmp_path, "--no-progress", "--no-plots", "--checkpoint-every", 2]
    assert run(*args, "--steps", 4) == 0
    assert run(*args, "--steps", 6, "--resume") == 0
    with h5py.File(tmp_path / "results.h5") as f:
        assert list(f["history/step"][()]) == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("argv, match", [
    (["--problem", "heat"], "unknown problem 'heat'"),
    (["--problem", "poisson-sine-square", "--backbone", "resnet"], "unknown backbone 'resnet'"),
    (["--problem", "poisson-sine-square", "--steps", "0"], "steps must be an integer >= 1, got 0"),
    (["--problem", "poisson-sine-square", "--set", "lr=3"], "--set expects section.key=value"),
    (["--problem", "poisson-sine-square", "--set", "optim.lr=3"], "unknown section 'optim'"),
    (["--problem", "poisson-sine-square", "--set", "train.stepz=3"], r"unknown field\(s\) \['stepz'\]"),
    (["--config", "/nonexistent/run.toml"], "--config '/nonexistent/run.toml' does not exist"),
    ([], "no problem given; pass --problem NAME"),
    (["--problem", "poisson-sine-square", "--engine", "sdgd"], "needs n_probes"),
    (["--problem", "poisson-sine-square", "--set", "train.n_eval=5"],
     r"field\(s\) \['n_eval'\] moved to SamplingConfig"),
])
def test_bad_solve_arguments_exit_2_with_clear_message(tmp_path, capsys, argv, match):
    rc = run("solve", *argv, "--out", tmp_path / "x", "--no-progress")
    err = capsys.readouterr().err
    assert rc == 2
    assert re.search(match, err), err
    assert not (tmp_path / "x" / "results.h5").exists()


def test_unwritable_out_is_reported(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    rc = run("solve", "--problem", "poisson-sine-square", "--steps", 1, "--out", blocker / "sub", "--no-progress")
    assert rc == 2 and "cannot be created" in capsys.readouterr().err


def test_list_and_parse_value(capsys):
    assert run("list") == 0
    text = capsys.readouterr().out
    assert "metakan" in text and "poisson-two-body" in text and "engines:" in text and "hutchinson" in text
    assert parse_value("1e-3") == 1e-3 and parse_value("[1, 2]") == [1, 2] and parse_value("abc") == "abc"


@pytest.mark.slow
def test_console_script_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "pde_kan.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("pde-kan ")


@pytest.mark.slow
def test_demo_runs_with_tiny_step_count(tmp_path, capsys):
    out = tmp_path / "demo"
    assert run("demo", "--out", out, "--steps", 2, "--no-progress") == 0
    text = capsys.readouterr().out
    assert "each backbone in its own process" in text
    for name in ("kan", "metakan", "slimkan", "mlp"):  # every backbone writes its plots (was: MetaKAN only)
        assert name in text
        for f in ("results.h5", "history.png", "slice.png", "run.json"):
            assert (out / name / f).is_file(), (name, f)
        with h5py.File(out / name / "results.h5") as f:
            assert json.loads(f.attrs["metrics"])["peak_memory_mb"] > 0
    assert (out / "comparison.png").stat().st_size > 10_000
    assert run("demo", "--out", out, "--steps", 2, "--no-progress", "--no-plots") == 2  # not empty any more



def test_transfer_from_a_solve_run_writes_results_and_adapter(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    common = ["--no-progress", "--no-plots"]
    assert run("solve", "--problem", "poisson-two-body", "--dim", 3, "--backbone", "kan", "--hidden", 4,
               "--steps", 3, "--n-eval", 100, "--out", src, *common) == 0
    assert run("transfer", "--from", src, "--set", "problem.seed=1", "--method", "lotra", "--ranks", 2, 2, 2,
               "--set", "lotra.alpha=0.5", "--set", "lotra.targets=[-1]", "--steps", 3, "--out", dst, *common) == 0
    assert "lotra" in capsys.readouterr().out
    assert (dst / "results.h5").is_file() and (dst / "adapter" / "adapter_config.json").is_file()
    saved = json.loads((dst / "run.json").read_text())
    assert saved["problem"]["seed"] == 1 and saved["transfer"]["ranks"] == [2, 2, 2]
    assert saved["transfer"]["lotra"]["alpha"] == 0.5 and saved["transfer"]["lotra"]["targets"] == [-1]
    assert saved["sampling"]["n_eval"] == 100  # the source run's sampling settings carry over
    # a transfer of a transfer reads the LoTRA-adapted source back
    assert run("transfer", "--from", dst, "--method", "full", "--steps", 2, "--out", tmp_path / "again",
               *common) == 0


def test_transfer_reads_a_run_json_written_before_the_sampling_section(tmp_path):
    src = _solve(tmp_path / "src")
    old = json.loads((src / "run.json").read_text())
    old["train"].update(old.pop("sampling"), laplacian="hutchinson", k=2)  # the layout before [sampling]
    (src / "run.json").write_text(json.dumps(old))
    assert run("transfer", "--from", src, "--method", "full", "--steps", 2, "--out", tmp_path / "t",
               "--no-progress", "--no-plots") == 0
    saved = json.loads((tmp_path / "t" / "run.json").read_text())
    assert saved["sampling"] == {"n_eval": 5000, "engine": "hutchinson", "n_probes": 2}
    assert "laplacian" not in saved["train"] and "n_eval" not in saved["train"]


def test_transfer_uses_each_methods_default_rate_unless_the_user_sets_one(tmp_path):
    from pde_kan.nn import KAN
    from pde_kan.transfer import default_lr

    src = _solve(tmp_path / "src")  # KAN at its recommended rate
    for name, method, extra, expected in [
            ("full", "full", [], default_lr("full", KAN.recommended_lr)),
            ("lotra", "lotra", ["--ranks", "auto", "--rank-budget", 0.3], default_lr("lotra")),
            ("set", "full", ["--set", "train.lr=0.002"], 0.002)]:
        out = tmp_path / name
        assert run("transfer", "--from", src, "--method", method, "--steps", 2, "--out", out, "--no-progress",
                   "--no-plots", *extra) == 0
        with h5py.File(out / "results.h5") as f:
            assert json.loads(f.attrs["metrics"])["lr"] == pytest.approx(expected)
    assert default_lr("full", KAN.recommended_lr) != KAN.recommended_lr  # the method's rate, not the source's


def test_transfer_many_trains_one_adapter_per_set_into_one_bank(tmp_path, capsys):
    from pde_kan.transfer import AdapterBank

    src = _solve(tmp_path / "src")
    sets = tmp_path / "sets.csv"
    sets.write_text("id,coeffs[0],coeffs[1]\na,0.5,-0.2\nb,0.6,-0.1\n")
    out = tmp_path / "many"
    assert run("transfer", "--from", src, "--many", sets, "--ranks", 1, "--steps", 2, "--out", out,
               "--no-progress", "--no-plots") == 0
    text = capsys.readouterr().out
    assert "a" in text and "b" in text and "2 adapters" in text
    assert AdapterBank.load(out / "bank.h5", str(src / "results.h5")).keys() == ["a", "b"]
    # every set keeps its own history (none overwrites another's) and the table of the runs is on disk
    for key in ("a", "b"):
        assert len((out / "sets" / key / "history.csv").read_text().splitlines()) == 3  # header + 2 steps
    table = (out / "sets.csv").read_text().splitlines()
    assert table[0].startswith("set,warm start,rel_l2") and [r.split(",")[0] for r in table[1:]] == ["a", "b"]
    # --overwrite removes what the family run wrote, then writes it again
    assert run("transfer", "--from", src, "--many", sets, "--ranks", 1, "--steps", 2, "--out", out,
               "--no-progress", "--no-plots", "--overwrite") == 0
    # refused before anything is written: --many with another method, a set file naming an unknown field, ids that
    # repeat or cannot name a folder
    bad = tmp_path / "bad.csv"
    bad.write_text("id,kappa\na,1.0\n")
    twice = tmp_path / "twice.csv"
    twice.write_text("id,coeffs[0],coeffs[1]\na,0.5,-0.2\na,0.6,-0.1\n")
    slash = tmp_path / "slash.csv"
    slash.write_text("id,coeffs[0],coeffs[1]\na/b,0.5,-0.2\n")
    for extra in (["--many", sets, "--method", "full"], ["--many", bad], ["--many", twice], ["--many", slash]):
        target = tmp_path / f"refused{extra[1].stem}{len(extra)}"
        assert run("transfer", "--from", src, "--steps", 2, "--out", target, "--no-progress", *extra) == 2
        assert not target.exists()
    err = capsys.readouterr().err
    assert "'a' appears more than once" in err and "'a/b' cannot name a bank member" in err
    assert run("transfer", "--from", src, "--ranks", 2, 2, "--out", tmp_path / "r2", "--no-progress") == 2
    # a source LoTRA cannot adapt (an MLP): one line, exit 2, nothing written
    mlp = _solve(tmp_path / "mlp_src", "mlp")
    assert run("transfer", "--from", mlp, "--set", "problem.seed=1", "--out", tmp_path / "mlp_t", "--no-progress") == 2
    assert not (tmp_path / "mlp_t").exists()
    assert "has no KAN layers to adapt" in capsys.readouterr().err


def test_solve_family_base_then_transfer_to_new_sets(tmp_path, capsys):
    from pde_kan.nn import MixedHeads
    from pde_kan.solvers import load_solution

    sets = tmp_path / "sets.toml"
    sets.write_text('[[set]]\nid = "a"\ncoeffs = [1.0, 0.0]\n[[set]]\nid = "b"\ncoeffs = [0.0, 1.0]\n')
    base = tmp_path / "base"
    common = ["--problem", "poisson-two-body", "--dim", 3, "--backbone", "kan", "--hidden", 6, "--n-eval", 500,
              "--no-progress", "--no-plots"]
    assert run("solve", *common, "--family", sets, "--steps", 40, "--out", base) == 0
    text = capsys.readouterr().out
    assert re.search(r"^\s+a\s+\d", text, re.M) and re.search(r"^\s+b\s+\d", text, re.M) and "all (mean)" in text
    sol = load_solution(base / "results.h5")
    assert sol.model.out_features == 2 and sol.attrs["family_sets"] == ["a", "b"]
    assert [p["coeffs"] for p in sol.attrs["family"]] == [[1.0, 0.0], [0.0, 1.0]]
    assert json.loads((base / "run.json").read_text())["family"] == {"file": str(sets), "sets": ["a", "b"]}
    # a new set: the heads' mix fitted to its residual, then LoTRA on the mixed model
    new = tmp_path / "new"
    assert run("transfer", "--from", base, "--set", "problem.coeffs=[0.5,2.0]", "--steps", 3, "--out", new,
               "--no-progress", "--no-plots") == 0
    moved = load_solution(new / "results.h5")
    mixed = moved.model.merge_and_unload()
    assert moved.problem.coeffs == (0.5, 2.0) and isinstance(mixed, MixedHeads)
    mix = mixed.layers[-1].weight.detach().flatten()
    assert not torch.allclose(mix, torch.full_like(mix, 0.5), atol=0.05)  # fitted, not the default 1/H each
    assert "family" not in json.loads((new / "run.json").read_text())  # the transfer solves one set
    many = tmp_path / "many.csv"
    many.write_text("id,coeffs[0],coeffs[1]\nx,0.3,0.7\n")
    assert run("transfer", "--from", base, "--many", many, "--ranks", 1, "--steps", 2, "--out", tmp_path / "bank",
               "--no-progress", "--no-plots") == 0
    # resume: the same sets continue; other sets are refused naming the set and the field
    assert run("solve", *common, "--family", sets, "--steps", 45, "--out", base, "--resume") == 0
    assert load_solution(base / "results.h5").metrics["steps"] == 45
    other = tmp_path / "other.toml"
    other.write_text(sets.read_text().replace("[0.0, 1.0]", "[0.0, 2.0]"))
    capsys.readouterr()
    assert run("solve", *common, "--family", other, "--steps", 50, "--out", base, "--resume") == 2
    assert "problem.family set 2 (head 1) coeffs: checkpoint [0.0, 1.0], now [0.0, 2.0]" in capsys.readouterr().err
    # a family base is no single solution: predict says how to get one; one set is no family
    pts = tmp_path / "pts.npy"
    np.save(pts, np.full((2, 3), 0.1))
    assert run("predict", "--from", base, "--points", pts, "--out", tmp_path / "p.h5") == 2
    one = tmp_path / "one.toml"
    one.write_text('[[set]]\ncoeffs = [1.0, 0.0]\n')
    assert run("solve", *common, "--family", one, "--steps", 2, "--out", tmp_path / "one") == 2
    err = capsys.readouterr().err
    assert "is a family base (2 heads, sets a, b)" in err and "needs at least 2" in err
    assert not (tmp_path / "one").exists() and not (tmp_path / "p.h5").exists()


# --- issue 16: results a user can use after the run --------------------------------------------------------
def _solve(out, backbone="kan", *extra):
    assert run("solve", "--problem", "poisson-two-body", "--dim", 3, "--backbone", backbone, "--hidden", 4,
               "--steps", 3, "--n-eval", 5000, "--out", out, "--no-progress", "--no-plots", *extra) == 0
    return out


@pytest.mark.parametrize("backbone", ["kan", "metakan", "slimkan"])
def test_round_trip_predict_equals_stored_prediction_bit_for_bit(tmp_path, backbone):
    from pde_kan.solvers import load_solution

    sol = load_solution(_solve(tmp_path / "r", backbone) / "results.h5")
    assert sol.problem is not None and sol.problem.name == "poisson-two-body"
    x, stored = sol.arrays["x"], sol.arrays["prediction"]
    assert np.array_equal(sol.predict(x), stored)
    # the raw network output is not u: the ansatz matters
    raw = sol.model(torch.as_tensor(x)).detach().numpy().ravel()
    assert not np.allclose(raw, stored)
    assert sol.evaluate()["rel_l2"] == pytest.approx(sol.metrics["rel_l2"], rel=1e-12)


def test_round_trip_for_a_lotra_transfer_run(tmp_path):
    from pde_kan.solvers import load_solution
    from pde_kan.transfer import LoTRAModel

    src = _solve(tmp_path / "src")
    assert run("transfer", "--from", src, "--set", "problem.seed=1", "--ranks", 2, 2, 2, "--steps", 2,
               "--out", tmp_path / "t", "--no-progress", "--no-plots") == 0
    sol = load_solution(tmp_path / "t" / "results.h5")
    assert isinstance(sol.model, LoTRAModel) and sol.problem is not None
    assert np.array_equal(sol.predict(sol.arrays["x"]), sol.arrays["prediction"])


def test_round_trip_for_a_problem_outside_the_registry(tmp_path):
    from dataclasses import dataclass

    from pde_kan import KAN
    from pde_kan.problems import PoissonSineSquare
    from pde_kan.solvers import SamplingConfig, TrainConfig, load_solution, solve

    @dataclass(frozen=True, kw_only=True)
    class MySine(PoissonSineSquare):
        name = "my-sine"

    problem = MySine()
    solve(problem, KAN([2, 4, 1]), TrainConfig(steps=2, device="cpu"), SamplingConfig(n_eval=300)).save(
        tmp_path / "r.h5")
    bare = load_solution(tmp_path / "r.h5")
    assert bare.problem is None
    with pytest.raises(ValueError, match=r"load_solution\(path, problem=your_problem\)"):
        bare.predict(bare.arrays["x"])
    sol = load_solution(tmp_path / "r.h5", problem=problem)
    assert np.array_equal(sol.predict(sol.arrays["x"]), sol.arrays["prediction"])
    assert np.array_equal(sol.predict(torch.as_tensor(sol.arrays["x"])).numpy(), sol.arrays["prediction"])


def test_predict_command_from_npy_and_csv(tmp_path, capsys):
    from pde_kan.solvers import load_solution

    src = _solve(tmp_path / "r")
    pts = np.random.default_rng(0).uniform(-0.5, 0.5, (7, 3))
    np.save(tmp_path / "p.npy", pts)
    (tmp_path / "p.csv").write_text("x1,x2,x3\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in pts))
    expected = load_solution(src / "results.h5").predict(pts)
    for name in ("p.npy", "p.csv"):
        out = tmp_path / f"{name}.h5"
        assert run("predict", "--from", src, "--points", tmp_path / name, "--out", out) == 0
        with h5py.File(out) as f:
            assert np.array_equal(f["x"][()], pts)
            assert np.array_equal(f["prediction"][()], expected)
            assert np.allclose(f["error"][()], f["prediction"][()] - f["exact"][()])
    assert "u at 7 points" in capsys.readouterr().out


@pytest.mark.slow
def test_plot_command_redraws_from_a_loaded_run(tmp_path):
    src = _solve(tmp_path / "r")
    assert not (src / "slice.png").exists()
    assert run("plot", "--from", src) == 0
    assert (src / "history.png").stat().st_size > 10_000 and (src / "slice.png").stat().st_size > 10_000
    assert run("plot", "--from", src / "results.h5", "--out", tmp_path / "figs") == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["history.png", "slice.png"]


# --- issue 16: a command line that never corrupts a run -----------------------------------------------------
@pytest.mark.slow
def test_overwrite_replaces_a_previous_run_and_leaves_no_stale_plots(tmp_path):
    out = tmp_path / "r"
    assert run("solve", "--problem", "poisson-sine-square", "--backbone", "kan", "--hidden", 3, "--steps", 2,
               "--n-eval", 50, "--out", out, "--no-progress") == 0
    (out / "notes.txt").write_text("mine")
    assert (out / "slice.png").is_file()
    assert run("solve", "--problem", "poisson-sine-square", "--backbone", "kan", "--hidden", 3, "--steps", 3,
               "--n-eval", 50, "--out", out, "--no-progress", "--no-plots", "--overwrite") == 0
    assert not (out / "slice.png").exists() and not (out / "history.png").exists()
    assert (out / "notes.txt").read_text() == "mine"  # only the files a run writes are replaced
    assert json.loads((out / "run.json").read_text())["train"]["steps"] == 3


def test_a_refused_resume_leaves_the_run_byte_identical(tmp_path, capsys):
    import hashlib

    out = _solve(tmp_path / "r")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}
    rc = run("solve", "--problem", "poisson-two-body", "--dim", 3, "--backbone", "kan", "--hidden", 4, "--steps", 5,
             "--n-eval", 5000, "--lr", 0.3, "--out", out, "--no-progress", "--resume")
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "train.lr: checkpoint (not set), now 0.3" in err[0]
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*")) if p.is_file()}
    assert after == before


def test_numbers_from_set_toml_and_flags_follow_one_rule(tmp_path):
    assert parse_value(".001") == 0.001 and parse_value("3") == 3 and parse_value('"3"') == "3"
    out = tmp_path / "o"
    assert run("solve", "--problem", "poisson-sine-square", "--hidden", 3, "--steps", 1, "--n-eval", 20,
               "--set", "train.lr=.001", "--out", out, "--no-progress", "--no-plots") == 0
    assert json.loads((out / "run.json").read_text())["train"]["lr"] == 0.001
    with h5py.File(out / "results.h5") as f:
        assert json.loads(f.attrs["config"])["lr"] == 0.001


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_anywhere_logs_every_evaluation(tmp_path, capsys, where):
    argv = ["solve", "--problem", "poisson-sine-square", "--backbone", "kan", "--hidden", 3, "--steps", 6,
            "--eval-every", 2, "--n-eval", 50, "--out", tmp_path / "o", "--no-progress", "--no-plots"]
    assert run(*(["-v", *argv] if where == "before" else [*argv, "-v"])) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["2/6", "4/6", "6/6"]
    assert all(re.search(r"loss \S+ .*rel_l2 \S+ .*lr \S+ +[\d.]+ steps/s$", line) for line in lines), lines


def test_ctrl_c_keeps_results_says_where_it_stopped_and_exits_130(tmp_path, capsys, monkeypatch):
    import os
    import signal

    from pde_kan.solvers import HistoryCSV

    def interrupt_at_step_3(self, trainer, logs):
        if trainer.step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(HistoryCSV, "on_step", interrupt_at_step_3)
    out = tmp_path / "o"
    rc = run("solve", "--problem", "poisson-sine-square", "--backbone", "kan", "--hidden", 3, "--steps", 50,
             "--n-eval", 50, "--out", out, "--no-progress", "--no-plots")
    assert rc == 130
    assert re.search(r"interrupted at step [34] of 50", capsys.readouterr().out)
    with h5py.File(out / "results.h5") as f:
        assert f.attrs["stop_reason"] == "interrupted (SIGINT)"
    assert run("solve", "--problem", "poisson-sine-square", "--backbone", "kan", "--hidden", 3, "--steps", 6,
               "--n-eval", 50, "--out", out, "--no-progress", "--no-plots", "--resume") == 0


def test_flags_mirror_the_python_names():
    from pde_kan.cli import CLIError, make_parser

    parser = make_parser()
    assert parser.parse_args(["validate", "pde", "--backbone", "kan", "mlp"]).backbone == ["kan", "mlp"]
    assert parser.parse_args(["validate", "pde", "--backbone", "kan"]).backbone == ["kan"]
    args = parser.parse_args(["solve", "--problem", "p", "--engine", "sdgd", "--n-probes", "4", "--out", "o"])
    assert (args.engine, args.n_probes) == ("sdgd", 4)
    for old in (["validate", "pde", "--backbones", "kan"], ["solve", "--laplacian", "jet", "--out", "o"],
                ["solve", "--k", "4", "--out", "o"],
                ["transfer", "--from", "r", "--problem-set", "seed=1", "--out", "o"]):
        with pytest.raises(CLIError, match="unrecognized arguments"):
            parser.parse_args(old)


@pytest.mark.parametrize("backbone", ["kan", "mlp", "metakan"])
def test_resume_accepts_a_checkpoint_written_before_newer_settings_existed(tmp_path, backbone):
    """A setting a checkpoint predates (model.init, train.weight_decay, ...) is not a difference when the run
    keeps its default (what the older run had): the run resumes. Another value of it is refused."""
    import torch

    args = ["solve", "--problem", "poisson-sine-square", "--backbone", backbone, "--hidden", 4, "--n-eval", 100,
            "--out", tmp_path, "--no-progress", "--no-plots", "--checkpoint-every", 2]
    assert run(*args, "--steps", 4) == 0
    path = tmp_path / "checkpoints" / "last.pt"
    state = torch.load(path, weights_only=False)
    state["model_config"].pop("init", None)
    for key in ("weight_decay", "group_weight_decay", "group_schedule", "schedule_period"):
        state["config"].pop(key, None)
    torch.save(state, path)
    # the older run had the default init: resuming it as another init is another run
    assert run(*args, "--steps", 6, "--resume", "--set", "model.init=reference") == 2
    assert run(*args, "--steps", 6, "--resume") == 0
