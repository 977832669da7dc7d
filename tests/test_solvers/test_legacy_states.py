"""Model states written before the parameter renames (``coefficients`` -> ``source``, ``weight`` ->
``spline_weight``, LoTRA ``delta`` -> ``tucker``, hypernet-mode sources under ``source.base``) still load."""
import h5py
import pytest
import torch

from pde_kan import KAN, MetaKAN, SlimKAN, load_solution
from pde_kan.nn._legacy import upgrade_state_dict
from pde_kan.problems import Poisson
from pde_kan.solvers import SamplingConfig, TrainConfig, solve
from pde_kan.transfer import LoTRAConfig, inject_lotra


def _legacy_kan_key(key: str) -> str:
    """The name an earlier pde_kan gave ``key`` (for KAN, Slim KAN, MetaKAN and embedding / dense LoTRA)."""
    key = key.replace(".source.", ".coefficients.").replace(".tucker.", ".delta.")
    return key[:-len("spline_weight")] + "weight" if key.endswith(".spline_weight") else key


def _legacy_hypernet_key(key: str) -> str:
    """Hypernet-mode LoTRA: the wrapper held no ``base`` submodule, the source's tensors sat on it directly."""
    return key.replace(".source.base.", ".coefficients.")


MODELS = {  # name -> (model factory, the legacy naming of its keys)
    "kan": (lambda: KAN([3, 4, 1]), _legacy_kan_key),
    "slimkan": (lambda: SlimKAN([3, 4, 1], ranks=(2, 2, 2)), _legacy_kan_key),
    "metakan": (lambda: MetaKAN([3, 4, 1]), _legacy_kan_key),
    "lotra-kan": (lambda: inject_lotra(KAN([3, 4, 1]), LoTRAConfig(ranks=(2, 2, 2))), _legacy_kan_key),
    "lotra-metakan": (lambda: inject_lotra(MetaKAN([3, 4, 1]), LoTRAConfig()), _legacy_kan_key),
    "lotra-hypernet": (lambda: inject_lotra(MetaKAN([3, 4, 1]), LoTRAConfig(metakan_mode="hypernet")),
                       _legacy_hypernet_key),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_legacy_keys_map_back_to_todays_names(name):
    build, legacy = MODELS[name]
    state = build().state_dict()
    old = {legacy(k): v for k, v in state.items()}
    assert set(old) != set(state)  # the legacy layout really differs
    upgraded = upgrade_state_dict(old, state.keys())
    assert set(upgraded) == set(state)
    for k, v in state.items():
        assert upgraded[k] is old[legacy(k)]


def test_current_and_foreign_states_are_left_alone():
    m = KAN([3, 4, 1])
    state = m.state_dict()
    assert upgrade_state_dict(state, state.keys()) == state
    foreign = {"layers.0.coefficients.weight": torch.zeros(1), "head.weight": torch.zeros(1),
               "layers.9.coefficients.weight": torch.zeros(1)}
    # legacy keys are renamed only onto names the model has; the others keep their own names, so
    # load_state_dict names them
    assert set(upgrade_state_dict(foreign, state.keys())) == {"layers.0.source.spline_weight", "head.weight",
                                                              "layers.9.coefficients.weight"}
    with pytest.raises(RuntimeError, match="Unexpected key.*head.weight"):
        m.load_state_dict(upgrade_state_dict(foreign, state.keys()))


def test_results_file_with_legacy_names_loads_bit_for_bit(tmp_path):
    problem = Poisson.two_body(dim=3, seed=0)
    sol = solve(problem, KAN([3, 4, 1]), TrainConfig(steps=3, eval_every=3), SamplingConfig(n_eval=64))
    path = tmp_path / "results.h5"
    sol.save(path)
    with h5py.File(path, "r+") as f:  # rewrite the stored state under the names an earlier version used
        group = f["model"]
        for k in list(group):
            group.move(k, _legacy_kan_key(k))
        assert "layers.0.coefficients.weight" in group
    loaded = load_solution(path)
    x = torch.rand(16, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.5
    assert torch.equal(loaded.predict(x), sol.predict(x))
