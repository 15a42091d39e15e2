#!/usr/bin/env python3
"""Reads Nsight Compute's source page in SASS (ncu_source_call.sh: `--page source --csv
--print-source sass`, gzipped or not), one table per profiled kernel:
  - warp-state samples and executions by opcode (where the warps wait, what they run);
  - the barrier waits: each SYNCS.PHASECHK (mbarrier wait) and its executions, so that a wait's
    retries (an out-of-line TRYWAIT executed more often than its in-line one) show;
  - the instructions with the most samples and their three largest stall reasons.
Usage: ncu_source.py source-VARIANT.csv.gz [--top N]"""
import argparse
import collections
import csv
import gzip
import re

SAMPLES, EXECUTED = "Warp Stall Sampling (All Samples)", "Instructions Executed"


def kernels(path):
    """[(kernel name, [row dict per SASS instruction])] in the page's order."""
    opener = gzip.open if path.endswith(".gz") else open
    out, header = [], None
    with opener(path, "rt", errors="replace") as f:
        for r in csv.reader(f):
            if not r:
                continue
            if r[0] == "Kernel Name":
                out.append((r[1], []))
            elif r[0] == "Address":
                header = r
            elif out and header:
                out[-1][1].append(dict(zip(header, r)))
    return out


def number(row, key):
    return int(row.get(key) or 0)


def opcode(source):
    s = re.sub(r"^@!?U?P\w+\s+", "", source.strip())
    return s.split()[0].split(".")[0] if s else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    for name, rows in kernels(args.page):
        stalls = [k for k in rows[0] if k.startswith("stall_") and "(Not" not in k]
        total = sum(number(r, SAMPLES) for r in rows)
        print(f"{name[:110]}\n  {len(rows)} instructions, {total} samples, "
              f"{sum(number(r, EXECUTED) for r in rows)} warp-instructions executed")
        reasons = collections.Counter({s[6:]: sum(number(r, s) for r in rows) for s in stalls})
        print("  stall reasons: " + ", ".join(f"{s} {v * 100 / total:.1f}%" for s, v in reasons.most_common(8)))
        by_op, run_op = collections.Counter(), collections.Counter()
        for r in rows:
            by_op[opcode(r["Source"])] += number(r, SAMPLES)
            run_op[opcode(r["Source"])] += number(r, EXECUTED)
        print("  by opcode (samples, % of samples, executed):")
        for o, v in by_op.most_common(args.top):
            print(f"    {o:14s} {v:7d} {v * 100 / total:5.1f}% {run_op[o]:11d}")
        waits = [r for r in rows if "SYNCS.PHASECHK" in r["Source"] and number(r, EXECUTED)]
        per_barrier = collections.defaultdict(list)
        for r in waits:
            bar = re.search(r"\[(.*?)\]", r["Source"])
            per_barrier[re.sub(r"^[^+]*\+", "", bar.group(1)) if bar else "?"].append(number(r, EXECUTED))
        print("  mbarrier waits by barrier offset (executions of each site, largest first):")
        for bar, counts in sorted(per_barrier.items()):
            counts.sort(reverse=True)
            print(f"    {bar:22s} {len(counts):3d} sites, {sum(counts):9d} executed, largest {counts[:4]}")
        print(f"  the {args.top} instructions with the most samples:")
        for r in sorted(rows, key=lambda r: -number(r, SAMPLES))[:args.top]:
            top = sorted(((number(r, s), s[6:]) for s in stalls), reverse=True)[:3]
            print(f"    {number(r, SAMPLES):6d} {number(r, EXECUTED):9d}  {r['Source'].strip()[:56]:56s} "
                  + ", ".join(f"{s} {v}" for v, s in top if v))
        print()


if __name__ == "__main__":
    main()
