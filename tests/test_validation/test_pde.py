"""PDE suite: cases come from the problem registry, training goes through solve, errors are reported."""
import pytest

from pde_kan.validation.pde import DEFAULT_PROBLEMS, PDESuite, make_problem, pde_config, pde_sampling, run_pde


def test_default_cases_are_built_at_the_chosen_dimension():
    suite = PDESuite(dim=4)
    assert [p.name for p in suite.problems] == list(DEFAULT_PROBLEMS)
    assert [p.dim for p in suite.problems] == [4, 4, 4, 2]  # the sine square is 2-D whatever dim says


def test_unknown_problem_and_empty_list_are_rejected():
    with pytest.raises(ValueError, match="unknown problem 'heat'; valid names"):
        make_problem("heat")
    with pytest.raises(ValueError, match="problems is empty"):
        PDESuite([])


def test_a_short_two_body_solve_reports_its_errors():
    report = run_pde(["poisson-two-body"], backbones=("kan",), steps=60, dim=3, hidden=(8,), device="cpu")
    (row,) = report.rows
    assert row["problem"] == row["task"] == "poisson-two-body" and row["dim"] == 3 and row["steps"] == 60
    assert row["params"] == (3 * 8 + 8 * 1) * 9  # KAN [3, 8, 1], G=5, k=3: 8 coefficients + base weight per edge
    assert row["rel_l2"] < 0.2, row  # 0.084 measured; the untrained hard-BC ansatz is near 1
    assert 0 < row["max_abs"] and 0 < row["rel_l1"] < 0.3
    assert report.metadata["config"] == pde_config(steps=60, device="cpu").to_dict()
    assert report.metadata["sampling"] == pde_sampling().to_dict()
