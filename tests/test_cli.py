"""The pde-kan command line end to end in a temporary directory."""
import json
import re
import subprocess
import sys

import h5py
import pytest

from pde_kan.cli import main, parse_value


def run(*argv):
    return main([str(a) for a in argv])


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
                   '[train]\nsteps = 4\nn_eval = 100\n')
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
    (["--problem", "poisson-sine-square", "--laplacian", "sdgd"], "needs k"),
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
    assert "metakan" in text and "poisson-two-body" in text and "hutchinson" in text
    assert parse_value("1e-3") == 1e-3 and parse_value("[1, 2]") == [1, 2] and parse_value("abc") == "abc"


def test_console_script_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "pde_kan.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("pde-kan ")


def test_demo_runs_with_tiny_step_count(tmp_path, capsys):
    assert run("demo", "--out", tmp_path, "--steps", 2, "--no-progress", "--no-plots") == 0
    text = capsys.readouterr().out
    for name in ("kan", "metakan", "slimkan", "mlp"):
        assert name in text
        assert (tmp_path / name / "results.h5").is_file()


def test_transfer_from_a_solve_run_writes_results_and_adapter(tmp_path, capsys):
    src, dst = tmp_path / "src", tmp_path / "dst"
    common = ["--no-progress", "--no-plots"]
    assert run("solve", "--problem", "poisson-two-body", "--dim", 3, "--backbone", "kan", "--hidden", 4,
               "--steps", 3, "--n-eval", 100, "--out", src, *common) == 0
    assert run("transfer", "--from", src, "--problem-set", "seed=1", "--method", "lotra", "--ranks", 2, 2, 2,
               "--steps", 3, "--out", dst, *common) == 0
    assert "lotra" in capsys.readouterr().out
    assert (dst / "results.h5").is_file() and (dst / "adapter" / "adapter_config.json").is_file()
    saved = json.loads((dst / "run.json").read_text())
    assert saved["problem"]["seed"] == 1 and saved["transfer"]["ranks"] == [2, 2, 2]
    # a transfer of a transfer reads the LoTRA-adapted source back
    assert run("transfer", "--from", dst, "--method", "full", "--steps", 2, "--out", tmp_path / "again",
               *common) == 0
