"""Solve the 10-D two-body Poisson problem on the unit ball with a MetaKAN and save the results.

    python examples/poisson_10d.py --steps 2000 --out runs/poisson10d
"""
import argparse

from pde_kan import MetaKAN
from pde_kan.problems import Poisson
from pde_kan.solvers import ProgressBar, SamplingConfig, TrainConfig, plot_history, solve


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--out", default=None, help="directory for results.h5 and history.png (optional)")
    args = ap.parse_args(argv)

    problem = Poisson.two_body(dim=10, seed=0)  # Δu = f on the unit ball, u = (1 - |x|²) Σ c_i sin(...)
    net = MetaKAN([10, 32, 32, 1], embedding_dim=1, hyper_hidden=16)
    config = TrainConfig(steps=args.steps, lr=1e-2, schedule="exponential", lr_final_factor=0.05,
                         eval_every=max(args.steps // 5, 1))
    sampling = SamplingConfig(n_interior=100, engine="jet", n_eval=5000)
    solution = solve(problem, net, config, sampling, callbacks=[ProgressBar(desc="poisson-10d")])
    print({k: round(v, 5) for k, v in solution.metrics.items()})
    if args.out:
        solution.save(f"{args.out}/results.h5")
        plot_history(solution, f"{args.out}/history.png")
    return solution


if __name__ == "__main__":
    main()
