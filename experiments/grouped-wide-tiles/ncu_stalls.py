#!/usr/bin/env python3
"""Where the warps of each profiled kernel wait, from Nsight Compute's raw page (ncu --csv
--page raw, as ncu_call.sh writes with NCU_PAGE=raw): every metric whose name holds
"issue_stalled" (the stall reasons, per issued instruction or as samples, as the ncu version
names them) and a few totals, a column a kernel (file:fb|dg + ncu's ID), rows sorted by the
first kernel's value. Usage: ncu_stalls.py ncu-wide160h.csv [more.csv ...]"""
import sys

from ncu_compare import csv_rows, kernel_column

TOTALS = ("gpu__time_duration.sum", "sm__cycles_active.avg", "smsp__inst_executed.sum",
          "sm__pipe_tensor_op_gmma_cycles_active.avg.pct_of_peak_sustained_active")

columns, values = [], {}
for path in sys.argv[1:]:
    tag, rows = csv_rows(path)
    if len(rows) < 3:
        continue
    header, units = rows[0], rows[1]
    if "Metric Name" in header:
        sys.exit(f"{path}: a details page (one metric a row); this reads the raw page, ncu_compare.py the details")
    for row in rows[2:]:
        col = kernel_column(tag, dict(zip(header, row)))
        columns.append(col)
        for metric, unit, value in zip(header, units, row):
            if "issue_stalled" in metric or metric in TOTALS:
                values.setdefault((metric, unit), {})[col] = value

def number(text):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return float("-inf")

width = max((len(m) for m, _ in values), default=10)
print(" " * (width + 10), " ".join(f"{c[-16:]:>16}" for c in columns))
first = columns[0] if columns else None
for (metric, unit), by_col in sorted(values.items(), key=lambda kv: -number(kv[1].get(first, ""))):
    print(f"{metric:<{width}} {unit[:8]:>8}  ", " ".join(f"{by_col.get(c, ''):>16}" for c in columns))
