"""-Δu = (π²/4) Σ sin(π x_i / 2) on [0, 1]^5 with a soft Dirichlet boundary loss, Sobol interior points.

    python examples/hypercube_soft_bc.py --steps 1000
"""
import argparse

from pde_kan import SlimKAN
from pde_kan.problems import Poisson
from pde_kan.solvers import SamplingConfig, TrainConfig, solve


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args(argv)

    problem = Poisson.sine_cube(dim=5).with_params(sampler="sobol")
    config = TrainConfig(steps=args.steps, lr=1e-2, eval_every=0)
    sampling = SamplingConfig(n_interior=128, n_boundary=128, n_eval=5000)
    solution = solve(problem, SlimKAN([5, 16, 16, 1], ranks=(8, 5, 4)), config, sampling)
    print(f"rel L2 {solution.metrics['rel_l2']:.3e}, boundary loss {solution.history[-1]['loss_bc']:.2e}")
    return solution


if __name__ == "__main__":
    main()
