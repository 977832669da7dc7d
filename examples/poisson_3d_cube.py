"""-Δu = f on the unit cube [0, 1]^3, u = g on its faces, written as the equation reads (docs/problems.md).

The exact solution u = sin(πx) sin(πy) sin(πz) + xyz is given for the error metrics only: the residual and the
Dirichlet data are ordinary functions of the points, and the library builds the hard ansatz u = g + φ·raw from
the cube's distance function.

    python examples/poisson_3d_cube.py --steps 2000
"""
import argparse
import math

import torch

from pde_kan import KAN
from pde_kan.problems import PDE, Box, Dirichlet
from pde_kan.solvers import SamplingConfig, TrainConfig, solve

PI = math.pi


def exact(x):                                    # x: (N, 3)
    return torch.prod(torch.sin(PI * x), dim=1) + x.prod(dim=1)


def source(x):                                   # f = -Δu = 3π² sin sin sin (xyz is harmonic)
    return 3 * PI ** 2 * torch.prod(torch.sin(PI * x), dim=1)


def poisson(x, u):                               # the residual, (N,)
    return -u.laplacian - source(x)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args(argv)

    problem = PDE(poisson, domain=Box.cube(3, 0.0, 1.0), conditions=[Dirichlet(exact)], exact=exact)
    config = TrainConfig(steps=args.steps, lr=1e-2, schedule="exponential", lr_final_factor=0.05, eval_every=0)
    solution = solve(problem, KAN([3, 16, 16, 1]), config, SamplingConfig(n_interior=256, n_eval=5000))
    print(f"routing: {problem.routing()}")
    print(f"rel L2 {solution.metrics['rel_l2']:.3e} after {args.steps} steps")
    return solution


if __name__ == "__main__":
    main()
