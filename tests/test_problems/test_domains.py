"""Domains and samplers: distributions (KS tests with fixed seeds), containment, boundaries, QMC, validation."""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.stats import qmc

from conftest import gen
from pde_kan.problems import Ball, Box, SpaceTime
from pde_kan.problems.sampling import CUBE_SAMPLERS, RADIAL_SAMPLERS, unit_cube

DT = torch.float64


@pytest.mark.parametrize("d", [1, 2, 5, 10])
def test_ball_uniform_sampling_has_uniform_r_to_the_d(d):
    x = Ball(d).sample_interior(4000, gen(d))
    r = torch.linalg.vector_norm(x, dim=1).numpy()
    assert r.max() <= 1
    assert stats.kstest(r ** d, "uniform").pvalue > 1e-3
    # directions are isotropic: the mean of x is near 0 (standard error ~ 1/sqrt(n d))
    assert np.abs(x.mean(0).numpy()).max() < 5 / math.sqrt(4000)


@pytest.mark.parametrize("d", [5, 10])
def test_uniform_radius_option_is_uniform_in_radius_not_volume(d):
    x = Ball(d).sample_interior(4000, gen(1), sampler="uniform-radius")
    r = torch.linalg.vector_norm(x, dim=1).numpy()
    assert stats.kstest(r, "uniform").pvalue > 1e-3
    assert stats.kstest(r ** d, "uniform").pvalue < 1e-10


def test_ball_center_radius_and_boundary():
    ball = Ball(3, radius=2.5, center=(1.0, -1.0, 0.5))
    x = ball.sample_interior(2000, gen(2))
    assert ball.contains(x).all() and not ball.on_boundary(x).any()
    r = torch.linalg.vector_norm(x - torch.tensor([1.0, -1.0, 0.5], dtype=DT), dim=1)
    assert stats.kstest((r / 2.5).numpy() ** 3, "uniform").pvalue > 1e-3
    xb = ball.sample_boundary(500, gen(3))
    assert ball.on_boundary(xb).all()
    torch.testing.assert_close(ball.distance_from_center(xb), torch.full((500,), 2.5, dtype=DT))
    assert not ball.contains(torch.tensor([[1.0, -1.0, 3.1]], dtype=DT)).any()
    assert Ball(2, center=0.5).center == (0.5, 0.5)


def test_sphere_samples_are_uniform_on_the_sphere():
    # the first coordinate of a uniform point on S^2 is uniform on [-1, 1] (Archimedes)
    xb = Ball(3).sample_boundary(4000, gen(4))
    assert stats.kstest(xb[:, 0].numpy(), "uniform", args=(-1, 2)).pvalue > 1e-3


@pytest.mark.parametrize("sampler", list(CUBE_SAMPLERS))
def test_box_samplers_stay_inside_and_are_deterministic(sampler):
    box = Box((0.0, -2.0, 1.0), (1.0, 2.0, 1.5))
    x = box.sample_interior(300, gen(5), sampler=sampler)
    assert x.shape == (300, 3) and x.dtype == DT and box.contains(x).all()
    torch.testing.assert_close(x, box.sample_interior(300, gen(5), sampler=sampler), rtol=0, atol=0)
    g = gen(5)
    first, second = box.sample_interior(300, g, sampler=sampler), box.sample_interior(300, g, sampler=sampler)
    assert not torch.equal(first, second)  # fresh points from an advanced generator
    # each coordinate is uniform on its interval
    lo, hi = np.array(box.lows), np.array(box.highs)
    for i in range(3):
        assert stats.kstest(x[:, i].numpy(), "uniform", args=(lo[i], hi[i] - lo[i])).pvalue > 1e-3


def test_qmc_samplers_are_more_even_than_uniform():
    disc = {s: qmc.discrepancy(unit_cube(256, 2, gen(6), s).numpy()) for s in CUBE_SAMPLERS}
    for s in ("sobol", "halton", "latin-hypercube"):
        assert disc[s] < disc["uniform"], disc


def test_latin_hypercube_fills_every_stratum():
    u = unit_cube(50, 3, gen(7), "latin-hypercube").numpy()
    for i in range(3):
        assert sorted(np.floor(u[:, i] * 50).astype(int)) == list(range(50))


def test_box_boundary_is_uniform_over_faces():
    cube = Box.cube(3)
    xb = cube.sample_boundary(6000, gen(8))
    assert cube.on_boundary(xb).all() and cube.contains(xb).all()
    on_face = torch.cat([(xb == 0), (xb == 1)], dim=1).sum(0).numpy()  # counts per face
    assert stats.chisquare(on_face).pvalue > 1e-3
    # faces weighted by area: on a 4 x 1 rectangle the two long sides (normal to y) get 4/5 of the points
    rect = Box((0.0, 0.0), (4.0, 1.0))
    xr = rect.sample_boundary(5000, gen(9))
    frac = ((xr[:, 1] == 0) | (xr[:, 1] == 1)).double().mean().item()
    assert abs(frac - 0.8) < 0.03


def test_box_in_one_dimension():
    seg = Box((-1.0,), (2.0,))
    xb = seg.sample_boundary(100, gen(10))
    assert set(xb[:, 0].tolist()) == {-1.0, 2.0}


def test_dtype_and_device_arguments():
    x = Ball(3).sample_interior(10, gen(), dtype=torch.float32, device="cpu")
    assert x.dtype == torch.float32 and x.device.type == "cpu"
    y = Box.cube(2).sample_boundary(10, gen(), dtype=torch.float32)
    assert y.dtype == torch.float32


def test_same_seed_same_points():
    for dom in (Ball(4), Box.cube(4), SpaceTime(Ball(2))):
        torch.testing.assert_close(dom.sample_interior(50, gen(3)), dom.sample_interior(50, gen(3)), rtol=0, atol=0)
        torch.testing.assert_close(dom.sample_boundary(50, gen(3)), dom.sample_boundary(50, gen(3)), rtol=0, atol=0)
        assert not torch.equal(dom.sample_interior(50, gen(3)), dom.sample_interior(50, gen(4)))


def test_space_time_domain():
    st = SpaceTime(Ball(2), 0.0, 2.0)
    assert st.dim == 3 and st.interior_samplers == tuple(RADIAL_SAMPLERS)
    x = st.sample_interior(3000, gen(11))
    assert st.contains(x).all()
    assert stats.kstest(x[:, 2].numpy(), "uniform", args=(0, 2)).pvalue > 1e-3
    xb = st.sample_boundary(100, gen(12))
    torch.testing.assert_close(torch.linalg.vector_norm(xb[:, :2], dim=1), torch.ones(100, dtype=DT))
    x0 = st.sample_initial(100, gen(13))
    assert (x0[:, 2] == 0).all()


@pytest.mark.parametrize("make,match,err", [
    (lambda: Ball(3, radius=0.0), r"Ball: radius must be a finite number > 0, got 0.0", ValueError),
    (lambda: Ball(3, radius=-1), r"radius must be a finite number > 0, got -1", ValueError),
    (lambda: Ball(0), r"Ball: dim must be an integer >= 1, got 0", ValueError),
    (lambda: Ball(2.5), r"Ball: dim must be an integer >= 1, got 2.5", TypeError),
    (lambda: Ball(3, center=(0.0, 1.0)), r"center must have 3 entries.*got 2", ValueError),
    (lambda: Ball(2, center=(0.0, float("nan"))), r"center must be finite", ValueError),
    (lambda: Box((0.0, 1.0), (1.0, 1.0)), r"lows\[1\] must be < highs\[1\], got lows\[1\]=1.0 >= highs\[1\]=1.0",
     ValueError),
    (lambda: Box((2.0,), (1.0,)), r"lows\[0\] must be < highs\[0\]", ValueError),
    (lambda: Box((0.0, 0.0), (1.0,)), r"same length, got 2 and 1", ValueError),
    (lambda: Box((), ()), r"at least one entry \(dim >= 1\)", ValueError),
    (lambda: Box.cube(0), r"dim must be an integer >= 1, got 0", ValueError),
    (lambda: Box("ab", "cd"), r"lows must be a sequence of numbers", TypeError),
    (lambda: SpaceTime(Ball(2), 1.0, 1.0), r"t0 must be < t1, got t0=1.0 >= t1=1.0", ValueError),
])
def test_domain_validation(make, match, err):
    with pytest.raises(err, match=match):
        make()


def test_sampler_argument_validation():
    with pytest.raises(ValueError, match=r"unknown ball sampler 'sobol'; valid names: 'uniform', 'uniform-radius'"):
        Ball(2).sample_interior(10, gen(), sampler="sobol")
    with pytest.raises(ValueError, match=r"unknown box sampler 'lhs'; valid names: .*'latin-hypercube'"):
        Box.cube(2).sample_interior(10, gen(), sampler="lhs")
    with pytest.raises(ValueError, match=r"n must be an integer >= 1, got 0"):
        Ball(2).sample_interior(0, gen())
    with pytest.raises(TypeError, match=r"generator must be a torch.Generator, got int; pass generator=torch.Generator"):
        Box.cube(2).sample_interior(10, 0)


def test_every_domain_gives_its_bounding_box():
    """The plots take a domain's extent from ``domain.bounds`` (no probing for ``radius`` / ``lows``)."""
    from pde_kan.solvers.plots import _bounds

    ball = Ball(2, radius=0.5, center=(0.25, -0.25))
    assert ball.bounds == ((-0.25, -0.75), (0.75, 0.25))
    assert Box.cube(2).bounds == ((0.0, 0.0), (1.0, 1.0))
    st = SpaceTime(ball, 0.0, 2.0)
    assert st.bounds == ((-0.25, -0.75, 0.0), (0.75, 0.25, 2.0))
    lo, hi = _bounds(st, 3)
    np.testing.assert_array_equal(lo, [-0.25, -0.75, 0.0])
    np.testing.assert_array_equal(hi, [0.75, 0.25, 2.0])
    lo, hi = _bounds(None, 2)  # a domain of another type: [-1, 1] per coordinate
    np.testing.assert_array_equal(lo, [-1.0, -1.0])
