"""benchmarks/images.py's comparison with measurements of the reference code (--reference-measurements)."""
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def images_benchmark(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("images", None)
    import images
    return images


def test_reference_measurements_are_compared_per_seed_and_by_median(images_benchmark, tmp_path):
    measured = {"backbones": {"mlp": {"seeds": [0, 5], "test_accuracy_per_seed": [0.5, 0.9]}}}
    (tmp_path / "ref.json").write_text(json.dumps(measured))
    out = tmp_path / "out.json"
    assert images_benchmark.main(["--preset", "reference", "--backbones", "mlp", "--epochs", "1", "--seeds", "0",
                                  "--reference-measurements", str(tmp_path / "ref.json"), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    mine = res["summary"]["mlp"]["test_accuracy_per_seed"][0]
    cmp = res["reference_comparison"]["mlp"]
    assert cmp["seeds"] == [0] and cmp["reference_code"] == [0.5]  # seed 5 was not run here
    assert cmp["median_difference_points"] == pytest.approx(100 * (mine - 0.5), abs=1e-3)
    assert cmp["within_1_point"] == (abs(100 * (mine - 0.5)) <= 1)
    assert res["reference_code_measurements"] == measured
    assert res["load_average"]["start"] is None or len(res["load_average"]["start"]) == 3


def test_reference_measurements_must_name_run_backbones(images_benchmark, tmp_path):
    (tmp_path / "ref.json").write_text(json.dumps({"backbones": {"kan": {"seeds": [0],
                                                                         "test_accuracy_per_seed": [0.9]}}}))
    with pytest.raises(SystemExit):
        images_benchmark.main(["--backbones", "mlp", "--reference-measurements", str(tmp_path / "ref.json"),
                               "--out", str(tmp_path / "o.json")])
