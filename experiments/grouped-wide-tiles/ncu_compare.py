#!/usr/bin/env python3
"""Pivots Nsight Compute's details pages (ncu --csv --page details) of several runs into one table:
a row a metric, a column a kernel (file:kernel-short-name). Usage: ncu_compare.py ncu-*.csv"""
import csv, sys, collections
cols = collections.OrderedDict()
rows = collections.OrderedDict()
for path in sys.argv[1:]:
    tag = path.rsplit("/", 1)[-1].removeprefix("ncu-").removesuffix(".csv")
    lines = [l for l in open(path, errors="replace") if l.startswith('"')]
    for r in csv.DictReader(lines):
        name = r.get("Kernel Name", "")
        short = ("dg" if "fp8_gemm" in name else "fb") + r.get("ID", "")
        col = f"{tag}:{short}"
        cols[col] = name[:60]
        key = (r.get("Section Name", ""), r.get("Metric Name", ""), r.get("Metric Unit", ""))
        rows.setdefault(key, {})[col] = r.get("Metric Value", "")
w = max(len(k[1]) for k in rows) if rows else 10
print(" " * (w + 12), " ".join(f"{c[:14]:>14}" for c in cols))
for c, n in cols.items(): print(f"# {c}: {n}")
sect = None
for (s, m, u), vals in rows.items():
    if s != sect: print(f"== {s}"); sect = s
    print(f"{m:<{w}} {u[:10]:>10}  ", " ".join(f"{vals.get(c, ''):>14}" for c in cols))
