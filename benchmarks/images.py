"""Image classification: KAN vs MetaKAN vs Slim KAN vs MLP (fully connected), plus conv preset sizes.

Each backbone is trained with the one training loop through ``pde_kan.validation.run_images`` on the bundled
8x8 digits by default (no download), or on MNIST / Fashion-MNIST / KMNIST (IDX) or CIFAR-10 (python batches)
from ``--data-dir``. Every seed is a fresh train/test split (digits) and a fresh initialisation; the summary
gives per backbone the median test accuracy over seeds, the trainable parameters and their ratio to KAN's.
The convolutional presets' parameter counts (the reference 8-layer network: 40.70M as KAN, 4.53M as MetaKAN on
CIFAR-10) are computed in closed form and checked against a built MetaKAN network.

Target on digits: KAN-family test accuracy >= 97% with MetaKAN using <= 1/5 of KAN's trainable parameters.

    python benchmarks/images.py --seeds 0 1 2 --out benchmarks/results/images.json
    python benchmarks/images.py --dataset fashion-mnist --data-dir ~/data/fmnist --preset reference --epochs 10 \\
        --max-train 10000 --out /tmp/fmnist.json

The reference recipe against the reference code's own runs on the same digits splits (docs/metakan.md,
"Reproducing the reference runs"): ``--reference-measurements`` names a JSON file with the reference code's
test accuracies, ``{"backbones": {"metakan": {"seeds": [0, 1, 2], "test_accuracy_per_seed": [...]}}, ...}``;
it is copied into the results with, per backbone, the per-seed and median differences in points and whether
the medians lie within ``--tolerance-points`` of each other.

    python benchmarks/images.py --preset reference --backbones metakan kan --seeds 0 1 2 \\
        --reference-measurements benchmarks/results/images_reference_code_digits.json \\
        --out benchmarks/results/images_reference_recipe.json
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time

from _common import command_line, write_json


def load_average():
    """``/proc/loadavg`` (1, 5, 15 minute load averages; None where there is none)."""
    try:
        with open("/proc/loadavg") as fh:
            return [float(v) for v in fh.read().split()[:3]]
    except OSError:
        return None


def compare_with_reference(summary: dict, seeds, reference: dict, tolerance_points: float) -> dict:
    """Per backbone in ``reference``: pde_kan's and the reference code's test accuracies per seed (the seeds
    both ran), the differences in points (pde_kan minus reference), both medians and whether they lie within
    ``tolerance_points`` of each other."""
    out = {}
    for b, ref in reference.items():
        mine = dict(zip(seeds, summary[b]["test_accuracy_per_seed"]))
        theirs = dict(zip(ref["seeds"], ref["test_accuracy_per_seed"]))
        common = [s for s in seeds if s in theirs]
        if not common:
            raise ValueError(f"reference measurements for {b!r} cover seeds {ref['seeds']}, this run {list(seeds)}")
        a = [mine[s] for s in common]
        r = [theirs[s] for s in common]
        diff = 100 * (statistics.median(a) - statistics.median(r))
        out[b] = {"seeds": common, "pde_kan": a, "reference_code": r,
                  "difference_points_per_seed": [round(100 * (x - y), 4) for x, y in zip(a, r)],
                  "pde_kan_median": statistics.median(a), "reference_code_median": statistics.median(r),
                  "median_difference_points": round(diff, 4),
                  f"within_{tolerance_points:g}_point": abs(diff) <= tolerance_points + 1e-9}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="digits", help="digits | mnist | fashion-mnist | kmnist | cifar10")
    parser.add_argument("--data-dir", help="directory with the IDX / CIFAR-10 files (not for digits)")
    parser.add_argument("--backbones", nargs="+", default=["kan", "metakan", "slimkan", "mlp"],
                        help="kan metakan slimkan mlp conv_kan conv_metakan")
    parser.add_argument("--preset", default="digits", help="digits | reference")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--max-train", type=int)
    parser.add_argument("--max-test", type=int)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: spinning threads slow tiny ops on a shared CPU)")
    parser.add_argument("--metakan-base", choices=["generated", "free", "lowrank"],
                        help="MetaKAN's base_weight (default: the preset's)")
    parser.add_argument("--reference-measurements",
                        help="JSON file with the reference code's test accuracies per backbone and seed, to compare")
    parser.add_argument("--tolerance-points", type=float, default=1.0,
                        help="target for --reference-measurements: |median difference| <= this many points")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)

    measured = None
    if args.reference_measurements:
        with open(args.reference_measurements) as fh:
            measured = json.load(fh)
        unknown = sorted(set(measured.get("backbones", {})) - set(args.backbones))
        if unknown or not measured.get("backbones"):
            parser.error(f"--reference-measurements: {args.reference_measurements} must hold 'backbones' with "
                         f"entries among --backbones {args.backbones}; found {sorted(measured.get('backbones', {}))}")
    load_start = load_average()

    import torch

    torch.set_num_threads(args.threads)
    from pde_kan.nn.conv import CONV8, ConvKANNet, conv_parameter_count
    from pde_kan.validation.images import PRESETS, REFERENCE_RESULTS, run_images

    preset = PRESETS[args.preset]
    if args.metakan_base:
        preset = preset.replace(metakan_base_weight=args.metakan_base)
    runs = []
    start = time.perf_counter()
    for seed in args.seeds:
        report = run_images(args.dataset, args.data_dir, backbones=args.backbones, preset=preset, epochs=args.epochs,
                            seed=seed, max_train=args.max_train, max_test=args.max_test, device=args.device)
        print(f"seed {seed}\n{report.to_text()}\n", flush=True)
        runs.append(report.to_dict())

    summary = {}
    for b in args.backbones:
        rows = [r for run in runs for r in run["rows"] if r["backbone"] == b]
        summary[b] = {
            "median_test_accuracy": statistics.median(r["test_accuracy"] for r in rows),
            "test_accuracy_per_seed": [r["test_accuracy"] for r in rows],
            "params": rows[0]["params"], "params_ratio_to_kan": rows[0].get("params_ratio"),
            "median_seconds": statistics.median(r["seconds"] for r in rows),
        }
    print(f"summary over seeds {args.seeds} ({args.dataset}, preset {args.preset})")
    print(f"{'backbone':13s} {'median acc':>10s} {'per seed':>24s} {'params':>9s} {'params/KAN':>10s} {'s':>7s}")
    for b, e in summary.items():
        per = " ".join(f"{a:.4f}" for a in e["test_accuracy_per_seed"])
        ratio = "-" if e["params_ratio_to_kan"] is None else f"{e['params_ratio_to_kan']:.3f}"
        print(f"{b:13s} {e['median_test_accuracy']:10.4f} {per:>24s} {e['params']:9d} {ratio:>10s} "
              f"{e['median_seconds']:7.1f}")
    target = None
    if args.dataset == "digits" and {"kan", "metakan"} <= set(summary):
        target = {
            "kan_family_accuracy_at_least_0.97": {b: summary[b]["median_test_accuracy"] >= 0.97
                                                  for b in ("kan", "metakan", "slimkan") if b in summary},
            "metakan_params_at_most_one_fifth_of_kan": summary["metakan"]["params_ratio_to_kan"] <= 0.2,
        }
        print(f"target: {json.dumps(target)}")

    conv = {}
    for name in ("conv4", "conv8"):
        conv[name] = {kind: conv_parameter_count(kind, 3, 10, name) for kind in ("kan", "metakan")}
    conv["conv8"]["metakan_built"] = ConvKANNet("metakan", 3, 10, CONV8).n_parameters()
    for n in (2, 3):
        conv["conv8"][f"metakan_{n}_hypernets"] = conv_parameter_count("metakan", 3, 10,
                                                                      CONV8.replace(n_hypernets=n))
    print("conv presets on CIFAR-10 (3 channels, 10 classes), trainable parameters: " + json.dumps(conv))
    print(f"total {time.perf_counter() - start:.0f} s")
    comparison = None
    if measured is not None:
        comparison = compare_with_reference(summary, args.seeds, measured["backbones"], args.tolerance_points)
        print("against the reference code: " + json.dumps(comparison))

    result = {
        "command": command_line(),
        "platform": platform.platform(), "torch": torch.__version__, "threads": args.threads,
        "dataset": args.dataset, "preset": args.preset, "preset_settings": preset.to_dict(), "seeds": args.seeds,
        "summary": summary, "target": target, "conv_parameter_counts": conv,
        "load_average": {"start": load_start, "end": load_average()},
        "reference_code_measurements": measured, "reference_comparison": comparison,
        "reference_results": REFERENCE_RESULTS, "runs": runs,
    }
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
