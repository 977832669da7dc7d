"""u_t = k Δu on [0, 1]^2 x [0, 1] with u = 0 on the sides and u(x, y, 0) = sin(πx) sin(πy) (docs/problems.md).

Both conditions are imposed exactly by the automatic ansatz u = u0 + φ(x) t raw. Pass --no-exact to train
without the exact solution: the run then reports the residual loss only (no error metric is invented).

    python examples/heat_2d.py --steps 2000
"""
import argparse
import math

import torch

from pde_kan import KAN
from pde_kan.problems import PDE, Box, Dirichlet, Initial, SpaceTime
from pde_kan.solvers import SamplingConfig, TrainConfig, solve

PI = math.pi
K = 0.1


def u0(x):                                       # x: (N, 3) = (x, y, t); here t = 0
    return torch.sin(PI * x[:, 0]) * torch.sin(PI * x[:, 1])


def exact(x):
    return torch.exp(-2 * PI ** 2 * K * x[:, 2]) * u0(x)


def heat(x, u):                                  # the residual, (N,)
    return u.dt - K * u.laplacian


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--no-exact", action="store_true", help="train without the exact solution")
    args = ap.parse_args(argv)

    problem = PDE(heat, domain=SpaceTime(Box.cube(2, 0.0, 1.0), 0.0, 1.0),
                  conditions=[Dirichlet(0.0), Initial(u0)], exact=None if args.no_exact else exact)
    config = TrainConfig(steps=args.steps, lr=1e-2, schedule="exponential", lr_final_factor=0.05, eval_every=0)
    solution = solve(problem, KAN([3, 16, 16, 1]), config, SamplingConfig(n_interior=256, n_eval=5000))
    shown = {k: f"{v:.3e}" for k, v in solution.metrics.items() if k in ("rel_l2", "residual_mse")}
    print(f"{shown} after {args.steps} steps")
    return solution


if __name__ == "__main__":
    main()
