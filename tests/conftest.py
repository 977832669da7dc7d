"""Shared test helpers and fixtures.

Fixtures (found by name, no import): ``one_thread``. Plain helpers, imported by the test modules
(``from conftest import params``; pytest puts this folder on ``sys.path`` before collecting):

- :func:`params`: every parameter of a model as one flat tensor (bit-identity checks);
- :func:`gen`: a seeded ``torch.Generator``;
- :func:`spline_basis`: a ``BSplineBasis`` from a hypothesis ``(grid_size, spline_order, low, width)`` draw;
- :func:`two_body_source`: a trained 3-D Poisson two-body solve, the source of the transfer tests.

The ``slow`` marker (pyproject.toml) tags the end-to-end and subprocess tests: ``make test`` runs everything,
``make test-fast`` (``-m "not slow"``) the rest in under a minute.
"""
import pytest
import torch


def params(model) -> torch.Tensor:
    """Every parameter of ``model``, detached and flattened into one tensor."""
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def gen(seed: int = 0) -> torch.Generator:
    """A CPU generator seeded with ``seed``."""
    return torch.Generator().manual_seed(seed)


def spline_basis(grid):
    """``BSplineBasis(grid_size, spline_order, (low, low + width))`` from ``grid = (grid_size, spline_order, low,
    width)``, the tuple the property tests draw."""
    from pde_kan.nn import BSplineBasis

    g, k, a, w = grid
    return BSplineBasis(g, k, (a, a + w))


def two_body_source(config, sampling=None):
    """``(problem, solution)``: a 3-D Poisson two-body problem solved by a small seeded KAN under ``config`` and
    ``sampling``."""
    from pde_kan import KAN
    from pde_kan.problems import Poisson
    from pde_kan.solvers import solve

    problem = Poisson.two_body(dim=3, seed=0)
    return problem, solve(problem, KAN([3, 6, 4, 1], seed=0), config, sampling)


@pytest.fixture
def one_thread():
    """One intra-op thread for the test: bit-identity needs the same thread count (reductions are split by
    thread), and on tiny tensors extra threads only add synchronisation (20x slower per step on a loaded 2-core
    CPU)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
