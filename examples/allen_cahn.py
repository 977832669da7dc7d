"""Allen–Cahn Δu + u - u³ = f on the 5-D unit ball with a KAN, comparing the exact jet Laplacian with a
stochastic (SDGD, 2 of 5 coordinates per step) one.

    python examples/allen_cahn.py --steps 1000
"""
import argparse

from pde_kan import KAN
from pde_kan.problems import AllenCahn
from pde_kan.solvers import SamplingConfig, TrainConfig, solve


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args(argv)

    problem = AllenCahn.two_body(dim=5, seed=0)
    results = {}
    config = TrainConfig(steps=args.steps, lr=1e-2, eval_every=0)
    for engine, n_probes in (("jet", None), ("sdgd", 2)):
        sampling = SamplingConfig(engine=engine, n_probes=n_probes, n_eval=5000)
        results[engine] = solve(problem, KAN([5, 16, 16, 1]), config, sampling).metrics
        print(f"{engine:5s} rel L2 {results[engine]['rel_l2']:.3e}  {results[engine]['seconds']:.1f} s")
    return results


if __name__ == "__main__":
    main()
