"""One-seed check: LoTRA on a MetaKAN with a free base weight, with and without the base weight's low-rank delta.

    python benchmarks/transfer_metakan_free.py --out benchmarks/results/transfer_metakan_free.json

Base: MetaKAN [10, 32, 32, 1] (base_weight="free") trained 1000 steps on Poisson two-body d = 10; target: the
same family at 2c; LoTRA 150 steps at its default rates, adapt_base_weight True vs False.
"""
import argparse
import json
import os
import time

import torch

from _common import command_line, write_json
from pde_kan import LoTRAConfig, MetaKAN, SamplingConfig, TrainConfig, solve, transfer
from pde_kan.problems import Poisson


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    load_start = os.getloadavg()
    src = Poisson.two_body(dim=10, seed=0)
    base = solve(src, MetaKAN([10, 32, 32, 1], base_weight="free", seed=0), TrainConfig(steps=1000, eval_every=0),
                 SamplingConfig(n_eval=4000))
    tgt = src.with_params(coeffs=[2 * c for c in src.coeffs])
    rows = [{"run": "base (source problem)", "rel_l2": base.metrics["rel_l2"]}]
    for abw in (True, False):
        t = time.time()
        tuned = transfer(tgt, base, method="lotra", lotra=LoTRAConfig(adapt_base_weight=abw),
                         config=TrainConfig(steps=150, eval_every=0))
        rows.append({"run": f"lotra 2c, adapt_base_weight={abw}", "rel_l2": tuned.metrics["rel_l2"],
                     "trainable_parameters": tuned.metrics["trainable_parameters"], "seconds": time.time() - t})
    for r in rows:
        print(json.dumps(r))
    write_json(args.out, {"benchmark": "lotra on a metakan free base weight", "command": command_line(),
                          "loadavg_start": load_start, "loadavg_end": os.getloadavg(), "torch": torch.__version__,
                          "rows": rows})


if __name__ == "__main__":
    main()
