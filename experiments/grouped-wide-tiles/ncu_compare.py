#!/usr/bin/env python3
"""Pivots Nsight Compute's details pages (ncu --csv --page details) of several runs into one table:
a row a metric, a column a kernel (file:kernel-short-name). Usage: ncu_compare.py ncu-*.csv"""
import collections
import csv
import sys


def csv_rows(path):
    """ncu's CSV rows of `path` (its own log lines dropped), and the file's tag (ncu-TAG.csv)."""
    tag = path.rsplit("/", 1)[-1].removeprefix("ncu-").removesuffix(".csv")
    return tag, list(csv.reader(l for l in open(path, errors="replace") if l.startswith('"')))


def kernel_column(tag, record):
    """A kernel's column name: the file's tag, fb (ours) or dg (DeepGEMM's), and ncu's ID."""
    return f"{tag}:{'dg' if 'fp8_gemm' in record.get('Kernel Name', '') else 'fb'}{record.get('ID', '')}"


def main():
    cols = collections.OrderedDict()
    rows = collections.OrderedDict()
    for path in sys.argv[1:]:
        tag, lines = csv_rows(path)
        if not lines:
            continue
        for r in (dict(zip(lines[0], line)) for line in lines[1:]):
            col = kernel_column(tag, r)
            cols[col] = r.get("Kernel Name", "")[:60]
            key = (r.get("Section Name", ""), r.get("Metric Name", ""), r.get("Metric Unit", ""))
            rows.setdefault(key, {})[col] = r.get("Metric Value", "")
    w = max(len(k[1]) for k in rows) if rows else 10
    print(" " * (w + 12), " ".join(f"{c[:14]:>14}" for c in cols))
    for c, n in cols.items():
        print(f"# {c}: {n}")
    sect = None
    for (s, m, u), vals in rows.items():
        if s != sect:
            print(f"== {s}")
            sect = s
        print(f"{m:<{w}} {u[:10]:>10}  ", " ".join(f"{vals.get(c, ''):>14}" for c in cols))


if __name__ == "__main__":
    main()
