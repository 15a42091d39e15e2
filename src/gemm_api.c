/* The GEMM entry points and the one validation of a GEMM descriptor that every backend
 * trusts: after gemm_desc_validate, a backend checks only what is its own (the CUDA
 * backend: 32-bit TMA extents). */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "checks.h"
#include "cpu/cpu_backend.h"
#include "cuda_backend.h"
#include "internal.h"

/* A descriptor larger than this is not a descriptor (an uninitialised struct_size). */
#define GEMM_DESC_MAX_SIZE 4096
/* The first version's sizeof(fp8block_gemm_desc), 0.1.0's: it ended with group_stride_sb.
 * The smallest struct_size a caller can have compiled (docs/DESIGN.md §4.1). */
#define GEMM_DESC_FIRST_SIZE offsetof(fp8block_gemm_desc, expected_m)

static fp8block_status check_output_type(const char *name, fp8block_dtype t)
{
    if (t == FP8BLOCK_E4M3) return FP8BLOCK_OK;
    return check_float_type(name, t);
}

/* E4M3 D: sd in A's scale layout (docs/DESIGN.md, "E4M3 output"); other outputs: none.
 * *sd_bytes: its extent (0 without sd), for the overlap checks (the addends', and
 * check_outputs_apart's, which keeps sd apart from D). */
static fp8block_status check_output_scales(const call_env *env, const fp8block_gemm_desc *g, int64_t *sd_bytes,
                                           gemm_args *args)
{
    *sd_bytes = 0;
    if (g->d_dtype != FP8BLOCK_E4M3) {
        if (g->sd || g->ldsd || g->d_scale_flags)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "%s is set but d_dtype is %s: output scales belong to an E4M3 D only",
                                 g->sd ? "sd" : g->ldsd ? "ldsd" : "d_scale_flags", fp8block_dtype_name(g->d_dtype));
        return FP8BLOCK_OK;
    }
    if (!g->sd)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "d_dtype = E4M3 but sd is NULL: an e4m3 D needs its 1x128 scales (sd, ldsd; "
                             "fp8block_gemm_ex)");
    if (g->d_scale_flags & ~(unsigned)FP8BLOCK_SCALE_POW2)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "d_scale_flags = 0x%x; expected 0 or FP8BLOCK_SCALE_POW2",
                             g->d_scale_flags);
    TRY(check_ld("ldsd", g->ldsd, "m", g->m));
    TRY(check_extent("sd", fp8block_ceil_div(g->n, 128), g->ldsd, g->m, sizeof(float), sd_bytes));
    TRY(check_multiple("ldsd", g->ldsd, 4, "rows of D's scales are 16-byte aligned, as A's"));
    TRY(check_pointer(env, "sd", g->sd, *sd_bytes, 16, "rows of D's scales are 16-byte aligned, as A's"));
    args->sd = g->sd, args->ldsd = g->ldsd, args->d_scale_flags = g->d_scale_flags;
    return FP8BLOCK_OK;
}

/* C: its own dtype and ld; D itself (same dtype and ld) for in-place accumulation, and
 * otherwise no byte shared with D; never with sd, which other CTAs write while C is read. */
static fp8block_status check_addend_c(const call_env *env, const fp8block_gemm_desc *g, int64_t d_bytes,
                                      int64_t sd_bytes, gemm_args *args)
{
    if (!g->c) {
        if (g->c_dtype || g->ldc)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s is set but c is NULL",
                                 g->c_dtype ? "c_dtype" : "ldc");
        return FP8BLOCK_OK;
    }
    TRY(check_float_type("c_dtype", g->c_dtype));
    TRY(check_ld("ldc", g->ldc, "n", g->n));
    const size_t c_elem = fp8block_dtype_size(g->c_dtype);
    int64_t c_bytes;
    TRY(check_extent("c", g->m, g->ldc, g->n, c_elem, &c_bytes));
    TRY(check_multiple("ldc", g->ldc, (int64_t)(16 / c_elem), "rows of C must be 16-byte aligned, as D's"));
    TRY(check_pointer(env, "c", g->c, c_bytes, 16, "rows of C must be 16-byte aligned, as D's"));
    if (g->c == g->d) {
        if (g->d_dtype == FP8BLOCK_E4M3 || g->c_dtype != g->d_dtype || g->ldc != g->ldd)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "c is d (in-place accumulation) but c_dtype = %s, ldc = %" PRId64
                                 " and d_dtype = %s, ldd = %" PRId64 ": in place needs the same dtype and ld, not E4M3",
                                 fp8block_dtype_name(g->c_dtype), g->ldc, fp8block_dtype_name(g->d_dtype), g->ldd);
    } else {
        TRY(check_disjoint("c", g->c, c_bytes, "d", g->d, d_bytes));
    }
    if (g->sd) TRY(check_disjoint("c", g->c, c_bytes, "sd", g->sd, sd_bytes));
    args->c = g->c, args->c_dtype = g->c_dtype, args->ldc = g->ldc;
    return FP8BLOCK_OK;
}

/* Grouped layouts (docs/DESIGN.md §1.8). B and its scales repeat per group at their strides;
 * the group sizes are data: on the CPU backend (host memory) they are read and checked here,
 * on the GPU (device memory) the kernel clamps them (§1.8). */
static fp8block_status check_groups(const call_env *env, const fp8block_gemm_desc *g, int64_t b_bytes,
                                    int64_t sb_bytes, int host_readable, gemm_args *args, buffer_span *b_read,
                                    buffer_span *sb_read, buffer_span *rows_read)
{
    /* What the call reads of B, its scales and the group sizes, for the outputs' overlap check */
    *b_read = (buffer_span){"b", g->b, b_bytes}, *sb_read = (buffer_span){"sb", g->sb, sb_bytes};
    *rows_read = (buffer_span){"group_rows", NULL, 0};
    if (g->group_layout == FP8BLOCK_GROUPS_NONE) {
        const char *set = g->groups ? "groups" : g->group_rows ? "group_rows" : g->max_m ? "max_m"
                        : g->group_stride_b ? "group_stride_b" : g->group_stride_sb ? "group_stride_sb"
                        : g->expected_m ? "expected_m" : NULL;
        if (set)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "%s is set but group_layout is FP8BLOCK_GROUPS_NONE: set group_layout for a grouped GEMM",
                                 set);
        return FP8BLOCK_OK;
    }
    const int masked = g->group_layout == FP8BLOCK_GROUPS_MASKED;
    if (!masked && g->group_layout != FP8BLOCK_GROUPS_CONTIGUOUS)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "group_layout = %d; expected FP8BLOCK_GROUPS_NONE, _CONTIGUOUS or _MASKED",
                             (int)g->group_layout);
    TRY(check_dim("groups", g->groups));
    if (g->groups > INT32_MAX)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "groups = %" PRId64 " is above 2^31-1", g->groups);
    if (g->b_scales != FP8BLOCK_B_SCALES_128x128)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "a grouped GEMM with B scaled 1x128 is not supported yet");
    if (masked) {
        TRY(check_dim("max_m", g->max_m));
        int64_t rows;
        if (__builtin_mul_overflow(g->groups, g->max_m, &rows) || rows != g->m)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "m = %" PRId64 " with groups = %" PRId64 " and max_m = %" PRId64
                                 ": a masked grouped GEMM has m = groups·max_m rows in A and D",
                                 g->m, g->groups, g->max_m);
        /* expected_m only guides the tile choice (0: max_m); the launch still covers full groups */
        if (g->expected_m < 0)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "expected_m = %" PRId64 " is negative", g->expected_m);
        if (g->expected_m > g->max_m)
            return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                 "expected_m = %" PRId64 " is above max_m = %" PRId64
                                 ": a group holds at most max_m rows",
                                 g->expected_m, g->max_m);
    } else if (g->max_m || g->expected_m) {
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s is set: it belongs to the masked layout",
                             g->max_m ? "max_m" : "expected_m");
    }
    if (g->group_stride_b < 0 || g->group_stride_sb < 0)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "%s = %" PRId64 " is negative",
                             g->group_stride_b < 0 ? "group_stride_b" : "group_stride_sb",
                             g->group_stride_b < 0 ? g->group_stride_b : g->group_stride_sb);
    /* The experts' B apart (or one B for all) and TMA-aligned: a rule of the layout on every
     * backend (docs/DESIGN.md §1.8), not only where the GPU's TMA needs it. */
    TRY(check_multiple("group_stride_b", g->group_stride_b, 16, "each expert's B is loaded by TMA"));
    if (g->group_stride_b != 0 && g->group_stride_b < g->n * g->ldb)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "group_stride_b = %" PRId64 " is below n·ldb = %" PRId64
                             ": the experts' B overlap (0, one B for all, is fine)",
                             g->group_stride_b, g->n * g->ldb);
    int64_t b_total, sb_total, span;
    if (__builtin_mul_overflow(g->groups - 1, g->group_stride_b, &span) ||
        __builtin_add_overflow(span, b_bytes, &b_total))
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "b spans %" PRId64 " groups at group_stride_b = %" PRId64
                             ": its size in bytes overflows 64 bits", g->groups, g->group_stride_b);
    if (__builtin_mul_overflow(g->groups - 1, g->group_stride_sb, &span) ||
        __builtin_mul_overflow(span, (int64_t)sizeof(float), &span) || __builtin_add_overflow(span, sb_bytes, &sb_total))
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "sb spans %" PRId64 " groups at group_stride_sb = %" PRId64
                             ": its size in bytes overflows 64 bits", g->groups, g->group_stride_sb);
    TRY(check_pointer(env, "b", g->b, b_total, 16, "TMA loads need 16-byte aligned rows"));
    TRY(check_pointer(env, "sb", g->sb, sb_total, sizeof(float), "fp32 scales"));
    const int64_t entries = masked ? g->groups : g->groups + 1;
    TRY(check_pointer(env, "group_rows", g->group_rows, entries * (int64_t)sizeof(int32_t), sizeof(int32_t), "int32"));
    b_read->bytes = b_total, sb_read->bytes = sb_total;
    *rows_read = (buffer_span){"group_rows", g->group_rows, entries * (int64_t)sizeof(int32_t)};
    if (host_readable) {
        const int32_t *r = g->group_rows;
        for (int64_t i = 0; i < entries; i++) {
            const int64_t lo = masked ? 0 : i ? r[i - 1] : 0, hi = masked ? g->max_m : g->m;
            if (r[i] < lo || r[i] > hi)
                return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                                     "group_rows[%" PRId64 "] = %d; %s must lie in [%" PRId64 ", %" PRId64 "]", i,
                                     (int)r[i], masked ? "a group's row count" : "row offsets, non-decreasing,", lo, hi);
        }
    }
    args->group_layout = g->group_layout, args->groups = g->groups, args->group_rows = g->group_rows;
    args->max_m = g->max_m, args->group_stride_b = g->group_stride_b, args->group_stride_sb = g->group_stride_sb;
    args->expected_m = g->expected_m;
    return FP8BLOCK_OK;
}

/* bias: N values, sharing no byte with D or sd (written while it is read). */
static fp8block_status check_bias(const call_env *env, const fp8block_gemm_desc *g, int64_t d_bytes, int64_t sd_bytes,
                                  gemm_args *args)
{
    if (!g->bias) {
        if (g->bias_dtype) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "bias_dtype is set but bias is NULL");
        return FP8BLOCK_OK;
    }
    TRY(check_float_type("bias_dtype", g->bias_dtype));
    int64_t bias_bytes;
    TRY(check_extent("bias", 1, 1, g->n, fp8block_dtype_size(g->bias_dtype), &bias_bytes));
    TRY(check_pointer(env, "bias", g->bias, bias_bytes, 16, "16-byte aligned, as C's rows"));
    TRY(check_disjoint("bias", g->bias, bias_bytes, "d", g->d, d_bytes));
    if (g->sd) TRY(check_disjoint("bias", g->bias, bias_bytes, "sd", g->sd, sd_bytes));
    args->bias = g->bias, args->bias_dtype = g->bias_dtype;
    return FP8BLOCK_OK;
}

/* The caller's descriptor as this library's struct (docs/DESIGN.md §4.1): an older caller's
 * (struct_size from the first version's size up) is copied as far as it goes, its missing
 * fields zero; a newer caller's bytes past this library's struct must be zero. Only
 * struct_size bytes of desc are read: past them lies the caller's other memory. */
static fp8block_status read_desc(const fp8block_gemm_desc *desc, fp8block_gemm_desc *g)
{
    if (!desc) return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT, "desc is NULL");
    /* An older caller's size is a version's size exactly: one ending inside a field is not a
     * descriptor a header ever made (it would copy part of that field). */
    const int older_version = desc->struct_size == GEMM_DESC_FIRST_SIZE;
    if ((desc->struct_size < sizeof *g && !older_version) || desc->struct_size > GEMM_DESC_MAX_SIZE)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "desc->struct_size = %zu; expected sizeof(fp8block_gemm_desc) = %zu, or %zu from the "
                             "0.1.0 header (initialise the descriptor with FP8BLOCK_GEMM_DESC_INIT)",
                             desc->struct_size, sizeof *g, (size_t)GEMM_DESC_FIRST_SIZE);
    const size_t known = desc->struct_size < sizeof *g ? desc->struct_size : sizeof *g;
    const unsigned char *newer = (const unsigned char *)desc + known;
    for (size_t i = 0; i < desc->struct_size - known; i++)
        if (newer[i])
            return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED,
                                 "desc->struct_size = %zu sets fields past the %zu bytes this fp8block knows: the "
                                 "caller was built against a newer fp8block",
                                 desc->struct_size, sizeof *g);
    memset(g, 0, sizeof *g);
    memcpy(g, desc, known);
    return FP8BLOCK_OK;
}

fp8block_status gemm_desc_validate(fp8block_ctx *ctx, const fp8block_gemm_desc *desc, const char *dtype_name,
                                   gemm_args *out)
{
    call_env env;
    TRY(check_ctx(ctx, &env));
    fp8block_gemm_desc g;
    TRY(read_desc(desc, &g));
    TRY(check_output_type(dtype_name, g.d_dtype));
    TRY(check_dim("m", g.m));
    TRY(check_dim("n", g.n));
    TRY(check_dim("k", g.k));
    const int64_t k_blocks = fp8block_ceil_div(g.k, 128);
    const size_t d_elem = fp8block_dtype_size(g.d_dtype);
    TRY(check_ld("lda", g.lda, "k", g.k));
    TRY(check_ld("ldb", g.ldb, "k", g.k));
    TRY(check_ld("ldsa", g.ldsa, "m", g.m));
    const int b_1x128 = g.b_scales == FP8BLOCK_B_SCALES_1x128;
    if (g.b_scales != FP8BLOCK_B_SCALES_128x128 && !b_1x128)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "b_scales = %d; expected FP8BLOCK_B_SCALES_128x128 (0) or FP8BLOCK_B_SCALES_1x128 (1)",
                             (int)g.b_scales);
    if (b_1x128) TRY(check_ld("ldsb", g.ldsb, "n", g.n));
    else TRY(check_ld("ldsb", g.ldsb, "ceil(k/128)", k_blocks));
    TRY(check_ld("ldd", g.ldd, "n", g.n));
    int64_t a_bytes, b_bytes, sa_bytes, sb_bytes, d_bytes;
    TRY(check_extent("a", g.m, g.lda, g.k, 1, &a_bytes));
    TRY(check_extent("b", g.n, g.ldb, g.k, 1, &b_bytes));
    TRY(check_extent("sa", k_blocks, g.ldsa, g.m, sizeof(float), &sa_bytes));
    if (b_1x128) TRY(check_extent("sb", k_blocks, g.ldsb, g.n, sizeof(float), &sb_bytes));
    else TRY(check_extent("sb", fp8block_ceil_div(g.n, 128), g.ldsb, k_blocks, sizeof(float), &sb_bytes));
    TRY(check_extent("d", g.m, g.ldd, g.n, d_elem, &d_bytes));
    TRY(check_multiple("lda", g.lda, 16, "rows of A must be 16-byte aligned for TMA"));
    TRY(check_multiple("ldb", g.ldb, 16, "rows of B must be 16-byte aligned for TMA"));
#ifndef FP8BLOCK_PLANT_ACCEPT_INVALID /* test of the tests only: scripts/planted-fuzz removes this check */
    TRY(check_multiple("ldsa", g.ldsa, 4, "rows of A's scales must be 16-byte aligned for TMA"));
#endif
    TRY(check_multiple("ldd", g.ldd, (int64_t)(16 / d_elem), "rows of D must be 16-byte aligned for the TMA store"));
    TRY(check_pointer(&env, "a", g.a, a_bytes, 16, "TMA loads need 16-byte aligned rows"));
    TRY(check_pointer(&env, "sa", g.sa, sa_bytes, 16, "TMA loads need 16-byte aligned rows"));
    TRY(check_pointer(&env, "b", g.b, b_bytes, 16, "TMA loads need 16-byte aligned rows"));
    if (b_1x128) {
        TRY(check_multiple("ldsb", g.ldsb, 4, "rows of B's 1x128 scales are 16-byte aligned, as A's"));
        TRY(check_pointer(&env, "sb", g.sb, sb_bytes, 16, "rows of B's 1x128 scales are 16-byte aligned, as A's"));
    } else {
        TRY(check_pointer(&env, "sb", g.sb, sb_bytes, sizeof(float), "fp32 scales"));
    }
    TRY(check_pointer(&env, "d", g.d, d_bytes, 16, "the TMA store needs 16-byte aligned rows"));
    gemm_args args;
    memset(&args, 0, sizeof args);
    args.m = g.m, args.n = g.n, args.k = g.k;
    args.a = g.a, args.lda = g.lda, args.sa = g.sa, args.ldsa = g.ldsa;
    args.b = g.b, args.ldb = g.ldb, args.sb = g.sb, args.ldsb = g.ldsb, args.b_scales = g.b_scales;
    args.d = g.d, args.dtype = g.d_dtype, args.ldd = g.ldd;
    int64_t sd_bytes;
    TRY(check_output_scales(&env, &g, &sd_bytes, &args));
    TRY(check_addend_c(&env, &g, d_bytes, sd_bytes, &args));
    TRY(check_bias(&env, &g, d_bytes, sd_bytes, &args));
    buffer_span inputs[5] = {{"a", g.a, a_bytes}, {"sa", g.sa, sa_bytes}};
    TRY(check_groups(&env, &g, b_bytes, sb_bytes, !ctx->cuda, &args, &inputs[2], &inputs[3], &inputs[4]));
    /* C and bias are kept apart from D and sd by check_addend_c and check_bias (C may be D) */
    const buffer_span outputs[] = {{"d", g.d, d_bytes}, {"sd", g.sd, sd_bytes}};
    TRY(check_outputs_apart(outputs, 2, inputs, 5));
    *out = args;
    return FP8BLOCK_OK;
}

static fp8block_status run(fp8block_ctx *ctx, const fp8block_gemm_desc *desc, const char *dtype_name, void *stream)
{
    gemm_args args;
    TRY(gemm_desc_validate(ctx, desc, dtype_name, &args));
    return ctx->cuda ? cuda_gemm(ctx->cuda, &args, stream) : cpu_gemm(&args);
}

fp8block_status fp8block_gemm_ex(fp8block_ctx *ctx, const fp8block_gemm_desc *desc, void *stream)
{
    fp8block_begin_call("fp8block_gemm_ex", ctx);
    return run(ctx, desc, "d_dtype", stream);
}

fp8block_status fp8block_gemm(fp8block_ctx *ctx, int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                              const float *sa, int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb,
                              int64_t ldsb, void *d, fp8block_dtype dtype, int64_t ldd, void *stream)
{
    fp8block_begin_call("fp8block_gemm", ctx);
    if (dtype == FP8BLOCK_E4M3)
        return fp8block_fail(FP8BLOCK_ERR_INVALID_ARGUMENT,
                             "dtype = FP8BLOCK_E4M3: an e4m3 D comes with its scales, which fp8block_gemm has no "
                             "place for; use fp8block_gemm_ex with sd and ldsd");
    fp8block_gemm_desc g;
    memset(&g, 0, sizeof g);
    g.struct_size = sizeof g;
    g.m = m, g.n = n, g.k = k;
    g.a = a, g.lda = lda, g.sa = sa, g.ldsa = ldsa;
    g.b = b, g.ldb = ldb, g.sb = sb, g.ldsb = ldsb;
    g.d = d, g.d_dtype = dtype, g.ldd = ldd;
    return run(ctx, &g, "dtype", stream);
}
