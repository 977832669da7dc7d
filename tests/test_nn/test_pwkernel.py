"""MetaKAN's fused CPU kernels (pde_kan/nn/_pwkernel.c) against the torch operations they replace."""
from __future__ import annotations

import shutil

import pytest
import torch

from conftest import gen
from pde_kan.nn import MetaKAN
from pde_kan.nn import _metakan_autograd as M
from pde_kan.nn._metakan_autograd import PiecewiseGenerate, PiecewiseLinear, Workspace, piecewise_tables

F64 = torch.float64
needs_kernel = pytest.mark.skipif(M._KERNEL is None, reason="the C kernel module was not built (no C compiler)")


def test_kernel_is_built_where_a_compiler_exists():
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("no C compiler on this machine: the torch fallback is what runs")
    assert M._KERNEL is not None, "pde_kan.nn._pwkernel was not built: reinstall with `pip install -e .`"


def tables(h=6, n_out=9, dtype=F64, seed=0):
    w1 = torch.randn(h, 1, generator=gen(seed), dtype=dtype)
    w1[1] = 0.0  # a constant unit: an infinite breakpoint
    params = (w1, torch.randn(h, generator=gen(seed + 1), dtype=dtype),
              torch.randn(n_out, h, generator=gen(seed + 2), dtype=dtype),
              torch.randn(n_out, generator=gen(seed + 3), dtype=dtype))
    return [p.requires_grad_(True) for p in params]


def embeddings(s, n, dtype=F64, seed=5):
    e = torch.randn(n, generator=gen(seed), dtype=dtype) * 2
    finite = s[torch.isfinite(s)]
    e[:finite.shape[0]] = finite.detach()  # ties: an embedding exactly on a breakpoint belongs to the lower segment
    return e.requires_grad_(True)


def run_both(monkeypatch, fn):
    """``fn()`` with the kernels, then with the torch operations."""
    fused = fn()
    monkeypatch.setattr(M, "_KERNEL", None)
    return fused, fn()


@needs_kernel
@pytest.mark.parametrize("dtype,tol", [(F64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("n_out", [8, 9, 5])
def test_generate_and_its_gradients_equal_torch(monkeypatch, dtype, tol, n_out):
    params = tables(n_out=n_out, dtype=dtype)
    e = embeddings(piecewise_tables(*params)[0], 300, dtype)
    probe = torch.randn(300, n_out, generator=gen(9), dtype=dtype)

    def fn():
        w = PiecewiseGenerate.apply(e, *piecewise_tables(*params))
        return (w, *torch.autograd.grad((w * probe).sum(), [e, *params]))

    for x, y in zip(*run_both(monkeypatch, fn)):
        torch.testing.assert_close(x, y, atol=tol, rtol=tol)


@needs_kernel
@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("affine", [False, True])
def test_linear_and_its_gradients_equal_torch(monkeypatch, keep, affine):
    rows, n_in, n_out, n = 4, 5, 9, 7
    params = tables(n_out=n_out)

    def make_tables():  # affine: one segment, no breakpoints at all; its A is a transposed (strided) view
        if affine:
            return params[0].new_empty(0), params[2][:, :1].T * 0.5, params[3].unsqueeze(0)
        return piecewise_tables(*params)

    e = embeddings(make_tables()[0], rows * n_in)
    f = torch.randn(n, n_in * n_out, generator=gen(7), dtype=F64, requires_grad=True)
    probe = torch.randn(n, rows, generator=gen(8), dtype=F64)
    ws = Workspace()

    def fn():
        y = PiecewiseLinear.apply(f, e, *make_tables(), rows, keep, ws)
        used = [f, e, *(params[2:] if affine else params)]
        return (y, *torch.autograd.grad((y * probe).sum(), used))

    for x, y in zip(*run_both(monkeypatch, fn)):
        torch.testing.assert_close(x, y, atol=1e-12, rtol=1e-12)


@needs_kernel
def test_kept_weights_survive_a_second_backward():
    params = tables()
    s, a, b = piecewise_tables(*params)
    e = embeddings(s, 3 * 4)
    f = torch.randn(5, 4 * 9, generator=gen(7), dtype=F64, requires_grad=True)
    y = PiecewiseLinear.apply(f, e, s, a, b, 3, True, Workspace()).square().sum()
    first = torch.autograd.grad(y, [f, e], retain_graph=True)
    for x, z in zip(first, torch.autograd.grad(y, [f, e])):
        torch.testing.assert_close(x, z, atol=0, rtol=0)


@needs_kernel
def test_metakan_training_step_and_second_derivatives_equal_torch(monkeypatch):
    model = MetaKAN([3, 8, 8, 1], chunk_size=20, seed=4)
    x = torch.rand(11, 3, generator=gen(3), dtype=F64).requires_grad_(True)

    def fn():
        y = model(x)
        (gx,) = torch.autograd.grad(y.sum(), x, create_graph=True)
        loss = y.square().mean() + gx.square().mean()
        return (y, *torch.autograd.grad(loss, list(model.parameters())))

    for p, q in zip(*run_both(monkeypatch, fn)):
        torch.testing.assert_close(p, q, atol=1e-11, rtol=1e-11)


def test_fused_is_declined_where_the_kernels_do_not_apply():
    e = torch.randn(10, dtype=F64)
    s = torch.zeros(3, dtype=F64)
    with torch.no_grad():  # as inside an autograd function's forward and a plain backward
        assert M._fused(s, e) is (M._KERNEL is not None)
        assert not M._fused(torch.zeros(256, dtype=F64), e)  # segments no longer fit one byte
        assert not M._fused(s, e.float(), torch.zeros(2, dtype=F64))  # mixed dtypes
        assert not M._fused(s, e.to(torch.float16))
        assert not M._fused(s, torch.randn(4, 3, dtype=F64).T)  # embeddings not contiguous
        assert not M._fused(s.float(), e)  # breakpoints in another dtype
        assert M._fused(s, e, torch.randn(4, 3, dtype=F64).T) is (M._KERNEL is not None)  # tables: made contiguous
    assert not M._fused(s, e)  # autograd recording (create_graph): the differentiable torch formulas
