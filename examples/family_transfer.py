"""A family of coefficient sets: pretrain one multi-head KAN on several sets of the 10-D two-body Poisson problem
at once, then solve new sets from a fitted mix of its heads plus a LoTRA adapter each, stored in one bank file.

    python examples/family_transfer.py --steps 3000 --out runs/family
"""
import argparse

from pde_kan import KAN
from pde_kan.problems import Poisson
from pde_kan.problems.poisson import draw_coeffs
from pde_kan.solvers import SamplingConfig, TrainConfig
from pde_kan.transfer import AdapterBank, pretrain_family


def shifted(problem, seed, eps=0.3):
    """``c + eps * δ`` with ``δ`` a standard normal draw: a neighbour of ``problem`` in its family."""
    return problem.with_params(coeffs=[c + eps * d for c, d in zip(problem.coeffs, draw_coeffs(problem.dim, seed))])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=3000, help="pretraining steps (each member gets steps // 20)")
    ap.add_argument("--heads", type=int, default=10, help="coefficient sets in the pretraining (>= 2)")
    ap.add_argument("--out", default=None, help="directory for the bank file (optional: in memory otherwise)")
    args = ap.parse_args(argv)

    source = Poisson.two_body(dim=10, seed=0)
    pretraining = [source] + [shifted(source, 200 + j) for j in range(args.heads - 1)]
    sampling = SamplingConfig(n_interior=100, n_eval=2000)
    config = TrainConfig(steps=args.steps, lr=1e-2, schedule="exponential", lr_final_factor=0.1, eval_every=0)
    base = pretrain_family(pretraining, KAN([10, 32, 32, len(pretraining)]), config, sampling)
    print(f"family base: rel L2 {base.metrics['rel_l2']:.2e} (mean over heads), worst head "
          f"{base.metrics['rel_l2_max']:.2e}")

    bank = AdapterBank(base, None if args.out is None else f"{args.out}/bank.h5", sampling=sampling,
                       config=config.replace(steps=max(args.steps // 20, 1)))
    for k in range(3):  # new members: each starts from the heads' mix fitted to it
        member = bank.add(shifted(source, 100 + k))
        print(f"{member.attrs['bank']['key']}: rel L2 {member.metrics['rel_l2']:.2e}")
    return bank


if __name__ == "__main__":
    main()
