"""AdapterBank: one adapter per coefficient set, nearest-coefficient warm starts, one-file round trip, family files."""
import pytest
import torch

from conftest import two_body_source
from pde_kan import KAN, MetaKAN
from pde_kan.problems import Poisson
from pde_kan.solvers import SamplingConfig, TrainConfig, solve
from pde_kan.transfer import AdapterBank, LoTRAModel, coefficient_vector, read_family, train_family

CFG = TrainConfig(steps=4, lr=1e-2, eval_every=0, device="cpu")
SMP = SamplingConfig(n_interior=16, n_eval=64)


@pytest.fixture(scope="module")
def source():
    return two_body_source(CFG, SMP)


def scaled(problem, s):
    return problem.with_params(coeffs=[s * c for c in problem.coeffs])


def points(n=20):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 3, generator=g, dtype=torch.float64) * 1.6 - 0.8


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bank_trains_warm_starts_from_the_nearest_and_round_trips_one_file(source, tmp_path, dtype):
    problem, base = source
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    bank = AdapterBank(base, tmp_path / "bank.h5", dtype=dtype)
    first = bank.add(scaled(problem, 1.5))
    assert first.attrs["bank"] == {"key": "set0", "warm_start_from": None, "warm_start_distance": None}
    assert bank.add(scaled(problem, 3.0), "far").attrs["bank"]["warm_start_from"] == "set0"
    sol = bank.add(scaled(problem, 1.4), "near")  # nearer to 1.5 than to 3.0
    assert sol.attrs["bank"]["warm_start_from"] == "set0" and sol.attrs["transfer"]["warm_start"]
    assert bank.keys() == ["set0", "far", "near"] and len(bank) == 3
    # nearer to the base problem (1.0 c) than to any member: starts from the base itself, not a member
    assert bank.nearest(scaled(problem, 1.1), include_base=True)[0] is None
    assert bank.nearest(scaled(problem, 1.1))[0] == "near"
    key, dist = bank.nearest(scaled(problem, 2.9))
    assert key == "far" and dist == pytest.approx(0.1 * float(torch.tensor(problem.coeffs).norm()))
    assert all(torch.equal(v, base.model.state_dict()[k]) for k, v in before.items())  # the base is untouched

    x = points()
    loaded = AdapterBank.load(tmp_path / "bank.h5", base.model)  # written after every add; a bare backbone
    assert loaded.nearest(scaled(problem, 1.1), include_base=True)[0] is None  # the base's coefficients are kept
    assert loaded.keys() == bank.keys() and loaded.dtype == dtype and loaded.lotra == bank.lotra
    for k in bank.keys():
        y = bank.model(k)(x)
        assert isinstance(bank.model(k), LoTRAModel)
        if dtype == "float64":
            assert torch.equal(loaded.model(k)(x), y)
        else:
            torch.testing.assert_close(loaded.model(k)(x), y, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(loaded.model(k, merged=True)(x), loaded.model(k)(x), rtol=0, atol=1e-12)
    # the trained adapter is the one the member's run ended with
    if dtype == "float64":
        assert torch.equal(bank.model("near")(x), sol.model(x))
    assert loaded.model(scaled(problem, 2.9))(x).shape == (20, 1)  # a problem selects its nearest member


def test_float32_bank_is_smaller_and_much_smaller_than_the_model(source, tmp_path):
    problem, base = source
    sizes = {}
    for dtype in ("float32", "float64"):
        bank = AdapterBank(base, dtype=dtype)
        bank.add(scaled(problem, 2.0))
        sizes[dtype] = bank.save(tmp_path / f"{dtype}.h5").stat().st_size
    tensors = sum(v.numel() for v in bank.entries["set0"].tensors.values())
    assert sizes["float32"] < sizes["float64"]
    assert sizes["float64"] - sizes["float32"] >= 4 * tensors  # every adapter number is stored in 4 bytes


def test_bank_refuses_another_base_and_bad_input(source, tmp_path):
    problem, base = source
    bank = AdapterBank(base, tmp_path / "b.h5")
    bank.add(scaled(problem, 2.0), "a")
    with pytest.raises(ValueError, match=r"trained on different base weights \(base hash [0-9a-f]{12}"):
        AdapterBank.load(tmp_path / "b.h5", KAN([3, 6, 4, 1], seed=7))
    with pytest.raises(ValueError, match="key 'a' is already stored"):
        bank.add(scaled(problem, 2.0), "a")
    with pytest.raises(ValueError, match="key must be 1-128 characters"):
        bank.add(scaled(problem, 2.0), "a/b")
    with pytest.raises(KeyError, match="no adapter 'zz'; stored keys: 'a'"):
        bank.model("zz")
    with pytest.raises(ValueError, match="dtype must be one of 'float32', 'float64', got 'half'"):
        AdapterBank(base, dtype="half")
    with pytest.raises(ValueError, match="no stored adapter is comparable"):
        bank.model(Poisson.two_body(dim=4, seed=0))
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="is not an HDF5 file"):
        AdapterBank.load(tmp_path / "x.h5", base.model)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        AdapterBank.load(tmp_path / "nowhere.h5", base.model)


def test_coefficient_vector_separates_numbers_from_the_signature():
    p = Poisson.two_body(dim=3, seed=0)
    sig, vec = coefficient_vector(p)
    sig2, vec2 = coefficient_vector(scaled(p, 2.0))
    assert sig == sig2 and vec.shape == vec2.shape and not (vec == vec2).all()
    assert coefficient_vector(Poisson.two_body(dim=4, seed=0))[0] != sig  # a coefficient more: not comparable


def test_read_family_from_toml_and_csv(source, tmp_path):
    problem, _ = source
    (tmp_path / "sets.toml").write_text('[[set]]\nid = "a"\ncoeffs = [1.0, 2.0]\n\n[[set]]\ncoeffs = [0.5, -1.0]\n')
    sets = read_family(tmp_path / "sets.toml", problem)
    assert [k for k, _ in sets] == ["a", None] and list(sets[1][1].coeffs) == [0.5, -1.0]
    (tmp_path / "sets.csv").write_text("id,coeffs[0],coeffs[1]\nx,1.0,2.0\ny,3,4e-1\n")
    sets = read_family(tmp_path / "sets.csv", problem)
    assert [k for k, _ in sets] == ["x", "y"] and list(sets[1][1].coeffs) == [3.0, 0.4]
    (tmp_path / "bad.csv").write_text("coeffs[0],coeffs[2]\n1,2\n")
    with pytest.raises(ValueError, match=r"column coeffs\[1\] is missing"):
        read_family(tmp_path / "bad.csv", problem)
    (tmp_path / "bad2.csv").write_text("coeffs[0],coeffs[1]\n1,two\n")
    with pytest.raises(ValueError, match=r"line 2: coeffs\[1\] must be a number, got 'two'"):
        read_family(tmp_path / "bad2.csv", problem)
    (tmp_path / "bad.toml").write_text('[[set]]\nkappa = 1.0\n')
    with pytest.raises(ValueError, match=r"set 1: .*unknown parameter 'kappa'"):
        read_family(tmp_path / "bad.toml", problem)
    with pytest.raises(ValueError, match="must end in .toml or .csv"):
        read_family(_touch(tmp_path / "s.txt"), problem)


def _touch(path):
    path.write_text("")
    return path


def test_train_family_from_a_file_on_metakan(tmp_path):
    problem = Poisson.two_body(dim=3, seed=0)
    base = solve(problem, MetaKAN([3, 4, 1], hyper_hidden=4), CFG.replace(steps=2), SMP)
    (tmp_path / "sets.toml").write_text('[[set]]\ncoeffs = [1.0, 2.0]\n\n[[set]]\nid = "b"\ncoeffs = [1.1, 2.0]\n')
    bank, sols = train_family(base, tmp_path / "sets.toml", path=tmp_path / "bank.h5",
                              config=CFG.replace(steps=2))
    assert bank.keys() == ["set0", "b"] and sols[1].attrs["bank"]["warm_start_from"] == "set0"
    x = points()
    plain = AdapterBank.load(tmp_path / "bank.h5", base).model("b", merged=True)  # MetaKAN merges too
    assert type(plain) is MetaKAN
    torch.testing.assert_close(plain(x), bank.model("b")(x), rtol=1e-5, atol=1e-6)  # float32 storage
