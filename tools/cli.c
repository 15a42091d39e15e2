#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

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
    else {
        fprintf(stderr, "fp8block: %s expects bf16, fp32 or fp16, got '%s'\n", option, text ? text : "(nothing)");
        return -1;
    }
    return 0;
}

int cli_parse_options(const char *command, int argc, char **argv, const cli_option *options, int count,
                      void (*usage)(FILE *))
{
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
            usage(stdout);
            exit(0);
        }
        const cli_option *o = NULL;
        for (int j = 0; j < count && !o; j++)
            if (!strcmp(name, options[j].name)) o = &options[j];
        if (!o) {
            fprintf(stderr, "fp8block %s: unknown option '%s'\n", command, name);
            usage(stderr);
            return -1;
        }
        if (!value) {
            fprintf(stderr, "fp8block %s: %s needs a value\n", command, name);
            return -1;
        }
        int err = 0;
        switch (o->kind) {
        case CLI_TEXT: *(const char **)o->value = value; break;
        case CLI_INT: err = cli_parse_i64(name, value, o->min, o->value); break;
        case CLI_DTYPE: err = cli_parse_dtype(name, value, o->value); break;
        }
        if (err) return -1;
        i++;
    }
    return 0;
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
