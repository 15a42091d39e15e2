/* What `fp8block bench` and `fp8block accuracy` share to report results: JSON strings,
 * the run's provenance, and handing a results file to bench/plot.py. */
#ifndef FP8BLOCK_REPORT_H
#define FP8BLOCK_REPORT_H

#include <stdio.h>

/* Writes s as a JSON string literal, quotes included. */
void report_json_string(FILE *f, const char *s);

/* A JSON number, or null for NaN/inf (JSON has neither). */
void report_json_number(FILE *f, double v);

/* "2026-11-25T12:00:00Z" (UTC, now). */
const char *report_utc_now(void);

/* The commit the results come from: $FP8BLOCK_COMMIT, set by whoever runs the bench
 * (e.g. FP8BLOCK_COMMIT=$(git rev-parse --short HEAD)), or "unknown". */
const char *report_commit(void);

/* Runs `python3 bench/plot.py <kind> <json_path> --out <out_dir>` (interpreter: $PYTHON,
 * script: $FP8BLOCK_PLOT_SCRIPT, else the one in the source tree this was built from).
 * Returns the script's exit status, or non-zero with a message on stderr when it could
 * not run. */
int report_plot(const char *kind, const char *json_path, const char *out_dir);

/* Creates dir if it does not exist (one level). 0 on success, else a message on stderr. */
int report_make_dir(const char *dir);

#endif
