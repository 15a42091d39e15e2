#define _POSIX_C_SOURCE 200809L
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef FP8BLOCK_PLOT_SCRIPT
#define FP8BLOCK_PLOT_SCRIPT "bench/plot.py"
#endif

void report_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void report_json_number(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

const char *report_utc_now(void)
{
    static char text[32];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

const char *report_commit(void)
{
    const char *c = getenv("FP8BLOCK_COMMIT");
    return c && *c ? c : "unknown";
}

int report_make_dir(const char *dir)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "fp8block: cannot create %s: %s\n", dir, strerror(errno));
    return -1;
}

int report_plot(const char *kind, const char *json_path, const char *out_dir)
{
    const char *python = getenv("PYTHON"), *script = getenv("FP8BLOCK_PLOT_SCRIPT");
    if (!python || !*python) python = "python3";
    if (!script || !*script) script = FP8BLOCK_PLOT_SCRIPT;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "fp8block: cannot start the plot script: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* The plots are a side product: keep the script's chatter off stdout's table. */
        dup2(STDERR_FILENO, STDOUT_FILENO);
        execlp(python, python, script, kind, json_path, "--out", out_dir, (char *)NULL);
        fprintf(stderr, "fp8block: cannot run %s: %s\n", python, strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (rc != 0)
        fprintf(stderr, "fp8block: %s %s %s failed (exit %d); the results are in %s\n", python, script, kind, rc,
                json_path);
    return rc;
}
