#define _POSIX_C_SOURCE 200809L /* access() */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devmem.h"

#if FP8BLOCK_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

int cli_parse_i64(const char *option, const char *text, int64_t min, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < min) {
        fprintf(stderr, "fp8block: %s expects an integer >= %" PRId64 ", got '%s'\n", option, min,
                text ? text : "(nothing)");
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_dtype(const char *option, const char *text, fp8block_dtype *out)
{
    if (text && !strcmp(text, "bf16")) *out = FP8BLOCK_BF16;
    else if (text && !strcmp(text, "fp32")) *out = FP8BLOCK_F32;
    else if (text && !strcmp(text, "fp16")) *out = FP8BLOCK_F16;
    else if (text && !strcmp(text, "e4m3")) *out = FP8BLOCK_E4M3;
    else {
        fprintf(stderr, "fp8block: %s expects bf16, fp32, fp16 or e4m3, got '%s'\n", option, text ? text : "(nothing)");
        return -1;
    }
    return 0;
}

/* getopt_long over the subcommand's table: --name value, --name=value, a unique prefix of
 * a name, and -h; its own messages are replaced by ours, which name the subcommand. */
int cli_parse_options(const char *command, int argc, char **argv, const cli_option *options, int count,
                      void (*usage)(FILE *))
{
    struct option *longs = calloc((size_t)count + 2, sizeof *longs);
    if (!longs) return fprintf(stderr, "fp8block %s: out of host memory\n", command), -1;
    for (int j = 0; j < count; j++)
        longs[j] = (struct option){options[j].name + 2, options[j].kind == CLI_FLAG ? no_argument : required_argument,
                                   NULL, 0x100 + j};
    longs[count] = (struct option){"help", no_argument, NULL, 'h'};
    int rc = 0, c, index;
    opterr = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, ":h", longs, &index)) != -1) {
        const char *arg = argv[optind - 1];
        if (c == 'h') {
            free(longs);
            usage(stdout);
            exit(0);
        }
        if (c == ':') {
            fprintf(stderr, "fp8block %s: %s needs a value\n", command, arg);
            rc = -1;
        } else if (c == '?') {
            fprintf(stderr, "fp8block %s: unknown or ambiguous option '%s'\n", command, arg);
            usage(stderr);
            rc = -1;
        } else {
            const cli_option *o = &options[c - 0x100];
            switch (o->kind) {
            case CLI_TEXT: *(const char **)o->value = optarg; break;
            case CLI_INT: rc = cli_parse_i64(o->name, optarg, o->min, o->value); break;
            case CLI_DTYPE: rc = cli_parse_dtype(o->name, optarg, o->value); break;
            case CLI_FLAG: *(int *)o->value = 1; break;
            }
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "fp8block %s: unexpected argument '%s'\n", command, argv[optind]);
        usage(stderr);
        rc = -1;
    }
    free(longs);
    return rc;
}

int cli_check_output(const char *command, const char *option, const char *path)
{
    if (!path) return 0;
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!*path || (slash && slash[1] == '\0') || strlen(path) >= sizeof dir) {
        fprintf(stderr, "fp8block %s: %s '%s' is not a usable path\n", command, option, path);
        return -1;
    }
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    const char *why = access(dir, W_OK) ? "its folder does not exist or cannot be written"
                      : access(path, F_OK) == 0 && access(path, W_OK) ? "it exists and cannot be written"
                                                                      : NULL;
    if (!why) return 0;
    fprintf(stderr, "fp8block %s: %s %s: %s (%s); nothing was run\n", command, option, path, why, dir);
    return -1;
}

static int open_device(int device, fp8block_ctx **ctx)
{
    fp8block_status st = fp8block_create(ctx, device);
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "fp8block: cannot open %s: %s: %s\n", device < 0 ? "the CPU backend" : "the GPU",
                fp8block_status_string(st), fp8block_last_error(NULL));
        return -1;
    }
    return 0;
}

int cli_open_context(const char *device, fp8block_ctx **ctx, FILE *log)
{
    if (!device || !strcmp(device, "auto")) {
        const char *why = NULL;
        if (devmem_gpu_available(&why) && fp8block_create(ctx, 0) == FP8BLOCK_OK) {
            if (log) fprintf(log, "device: auto -> %s\n", cli_context_name(*ctx));
            return 0;
        }
        if (log)
            fprintf(log, "device: auto -> cpu (%s)\n",
                    why && *why ? why : fp8block_last_error(NULL));
        return open_device(FP8BLOCK_DEVICE_CPU, ctx);
    }
    if (!strcmp(device, "cpu")) return open_device(FP8BLOCK_DEVICE_CPU, ctx);
    if (!strcmp(device, "cuda")) return open_device(0, ctx);
    if (!strncmp(device, "cuda:", 5)) {
        int64_t ordinal = 0;
        if (cli_parse_i64("--device cuda:N", device + 5, 0, &ordinal)) return -1;
        if (ordinal > INT_MAX) { /* an int in the C API: a wider one would wrap, to -1 (the CPU) among others */
            fprintf(stderr, "fp8block: --device cuda:N expects N <= %d, got '%s'\n", INT_MAX, device + 5);
            return -1;
        }
        return open_device((int)ordinal, ctx);
    }
    fprintf(stderr, "fp8block: --device expects auto, cpu, cuda or cuda:N, got '%s'\n", device);
    return -1;
}

const char *cli_context_name(const fp8block_ctx *ctx)
{
    static char name[512];
    int device = fp8block_device(ctx);
    if (device < 0) {
        const char *env = getenv("FP8BLOCK_NUM_THREADS");
        snprintf(name, sizeof name, "cpu (reference backend%s%s)", env ? ", FP8BLOCK_NUM_THREADS=" : "",
                 env ? env : "");
        return name;
    }
#if FP8BLOCK_HAVE_CUDA
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
        snprintf(name, sizeof name, "cuda:%d (%s, %d SMs)", device, prop.name, prop.multiProcessorCount);
        return name;
    }
#endif
    snprintf(name, sizeof name, "cuda:%d", device);
    return name;
}
