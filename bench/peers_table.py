#!/usr/bin/env python3
"""The README's "Beside DeepGEMM" table from a committed bench/peers.py JSON file, so that the
README's numbers come from bench/results/ only.

Usage: python3 bench/peers_table.py bench/results/<run>/peers.json [--sets large,small,extra]
Prints the markdown table (GPU time per call in us, peer time over fp8block's) and the geomeans."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_shapes import EXTRA, LARGE, SMALL  # noqa: E402

SETS = {"large": LARGE, "small": SMALL, "extra": EXTRA}


def cell(methods, name):
    run = methods.get(name, {})
    return f"{run['gpu_us']:.1f}" if "gpu_us" in run else "-"


def ratio(methods, peer):
    ours, theirs = methods.get("fp8block", {}), methods.get(peer, {})
    if "gpu_us" not in ours or "gpu_us" not in theirs:
        return "-"
    return f"{theirs['gpu_us'] / ours['gpu_us']:.2f}x"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--sets", default="large,small", help="large (M >= 4096), small (M <= 128), extra")
    args = ap.parse_args()
    with open(args.json) as f:
        run = json.load(f)
    wanted = {shape for name in args.sets.split(",") for shape in SETS[name]}
    print(f"<!-- {run['device']}, {run['date']}, commit {run['commit']}, from bench/peers_table.py -->")
    print("| M | N | K | fp8block | DeepGEMM | cuBLASLt | vs DeepGEMM | vs cuBLASLt |")
    print("| --: | --: | --: | --: | --: | --: | --: | --: |")
    for shape in run["shapes"]:
        if (shape["m"], shape["n"], shape["k"]) not in wanted:
            continue
        m = shape["methods"]
        print(f"| {shape['m']} | {shape['n']} | {shape['k']} | {cell(m, 'fp8block')} | {cell(m, 'deepgemm')} | "
              f"{cell(m, 'cublaslt')} | {ratio(m, 'deepgemm')} | {ratio(m, 'cublaslt')} |")
    print()
    for key, value in run["summary"].items():
        if key.endswith("gpu_us"):
            print(f"- {key}: geomean {value['geomean']:.3f}x, lowest {value['lowest']:.3f}x")


if __name__ == "__main__":
    main()
