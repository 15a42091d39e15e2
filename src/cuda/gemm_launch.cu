/* The GEMM's host side on the GPU: one kernel per row of GEMM_CONFIGS and output type, and
 * leaner ones beside it for calls without C, bias or stream-K pieces and for calls with a bias
 * alone (gemm_addends); the planner's launch plan (src/gemm_planner.c) made into tensor maps,
 * the stream-K workspace and a launch. Only what is CUDA-specific is checked here (32-bit TMA
 * extents, 16-byte TMA alignment); the descriptor was validated before (src/gemm_api.c). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "gemm_configs.h"
#include "gemm_kernel.cuh"
#include "gemm_planner.h"
#include "launch_order.cuh"
#include "tma.h"

typedef void (*gemm_kernel_fn)(const CUtensorMap, const CUtensorMap, const CUtensorMap, const CUtensorMap,
                               const gemm_params);

/* One compiled kernel: a configuration for one output type. */
typedef struct {
    gemm_kernel_fn fn;
    int threads, smem_bytes, stages, cluster;
    int waves; /* 64-row waves per math warpgroup: the rows of one D store */
    int *max_clusters; /* per device ordinal (see kernel_max_clusters) */
} gemm_kernel;

/* The kernel of a configuration and output type; an empty entry (fn NULL) where the row
 * is not compiled for that type. */
template <int BM, int BN, int CLUSTER, int ROLE, int OUT, bool B_PER_COL, bool GROUPED, int ADDENDS, bool COMPILED>
static gemm_kernel kernel_for(void)
{
    gemm_kernel k;
    memset(&k, 0, sizeof k);
    if constexpr (COMPILED) {
        typedef gemm_layout<BM, BN, OUT, B_PER_COL> L;
        static int max_clusters[64];
        k.fn = gemm_fp8_block_kernel<BM, BN, CLUSTER, ROLE, OUT, B_PER_COL, GROUPED, ADDENDS>;
        k.threads = L::threads, k.smem_bytes = L::smem_bytes, k.stages = L::stages;
        k.cluster = CLUSTER, k.waves = L::waves, k.max_clusters = max_clusters;
    }
    return k;
}

/* The table's columns are the GEMM_OUT_* bits in order (F32, BF16, F16, E4M3, F32 with B
 * scaled 1x128): a kernel kind's column is its bit's position, -1 for none (gemm_shape_bit). */
enum { GEMM_OUTPUT_COLUMNS = 5 };

static int gemm_bit_column(int bit) { return bit ? __builtin_ctz(bit) : -1; }

static int gemm_output_column(fp8block_dtype dtype) { return gemm_bit_column(gemm_output_bit(dtype)); }

/* The planner's view of g with D of type dtype (B's scale mode included). */
static gemm_shape shape_of(const gemm_args *g, fp8block_dtype dtype)
{
    const gemm_shape shape = {g->m, g->n, g->k, dtype, g->b_scales == FP8BLOCK_B_SCALES_1x128};
    return shape;
}

static CUtensorMapDataType out_map_type(fp8block_dtype dtype)
{
    switch (dtype) {
    case FP8BLOCK_F32: return CU_TENSOR_MAP_DATA_TYPE_FLOAT32;
    case FP8BLOCK_BF16: return CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
    case FP8BLOCK_F16: return CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
    case FP8BLOCK_E4M3: break;
    }
    return CU_TENSOR_MAP_DATA_TYPE_UINT8;
}

/* The weight gradient (B scaled 1x128) accumulates into D (C is D): only ADDENDS_ANY has it. */
#define GEMM_KERNEL_ROW_OF(bm, bn, cluster, role, outputs, grouped, addends)                                         \
    {kernel_for<bm, bn, cluster, role, FP8BLOCK_F32, false, grouped, addends, ((outputs) & GEMM_OUT_F32) != 0>(),   \
     kernel_for<bm, bn, cluster, role, FP8BLOCK_BF16, false, grouped, addends, ((outputs) & GEMM_OUT_BF16) != 0>(), \
     kernel_for<bm, bn, cluster, role, FP8BLOCK_F16, false, grouped, addends, ((outputs) & GEMM_OUT_F16) != 0>(),   \
     kernel_for<bm, bn, cluster, role, FP8BLOCK_E4M3, false, grouped, addends, ((outputs) & GEMM_OUT_E4M3) != 0>(), \
     kernel_for<bm, bn, cluster, role, FP8BLOCK_F32, true, grouped, addends,                                        \
                (addends) == ADDENDS_ANY && ((outputs) & GEMM_OUT_F32_B1x128) != 0>()},
#define GEMM_KERNEL_ROW(bm, bn, cluster, role, outputs) \
    GEMM_KERNEL_ROW_OF(bm, bn, cluster, role, outputs, false, ADDENDS_ANY)
#define GEMM_LEAN_KERNEL_ROW(bm, bn, cluster, role, outputs) \
    GEMM_KERNEL_ROW_OF(bm, bn, cluster, role, outputs, false, ADDENDS_NONE)
#define GEMM_BIAS_KERNEL_ROW(bm, bn, cluster, role, outputs) \
    GEMM_KERNEL_ROW_OF(bm, bn, cluster, role, outputs, false, ADDENDS_BIAS)
#define GEMM_GROUPED_KERNEL_ROW(bm, bn, cluster, role, outputs) \
    GEMM_KERNEL_ROW_OF(bm, bn, cluster, role, outputs, true, ADDENDS_ANY)
#define GEMM_GROUPED_LEAN_KERNEL_ROW(bm, bn, cluster, role, outputs) \
    GEMM_KERNEL_ROW_OF(bm, bn, cluster, role, outputs, true, ADDENDS_NONE)
typedef gemm_kernel gemm_kernel_row[GEMM_OUTPUT_COLUMNS];
static const gemm_kernel_row gemm_kernels[GEMM_CONFIG_COUNT] = {GEMM_CONFIGS(GEMM_KERNEL_ROW)};
/* The same rows for a call without C or bias whose tiles are whole, and for one whose only
 * addend is a bias (ADDENDS_NONE, ADDENDS_BIAS in gemm_epilogue.cuh): the same resources, so the
 * planner's cluster counts hold for them. Grouped calls with a bias take the general kernels. */
static const gemm_kernel_row gemm_lean_kernels[GEMM_CONFIG_COUNT] = {GEMM_CONFIGS(GEMM_LEAN_KERNEL_ROW)};
static const gemm_kernel_row gemm_bias_kernels[GEMM_CONFIG_COUNT] = {GEMM_CONFIGS(GEMM_BIAS_KERNEL_ROW)};
static const gemm_kernel_row gemm_grouped_kernels[GEMM_GROUPED_CONFIG_COUNT] = {
    GEMM_GROUPED_CONFIGS(GEMM_GROUPED_KERNEL_ROW)};
static const gemm_kernel_row gemm_grouped_lean_kernels[GEMM_GROUPED_CONFIG_COUNT] = {
    GEMM_GROUPED_CONFIGS(GEMM_GROUPED_LEAN_KERNEL_ROW)};

typedef struct {
    CUtensorMap a, b, sa, d;
} gemm_maps;

/* Development knobs, read once: FP8BLOCK_GEMM_LOG=1 prints each call's plan to stderr;
 * FP8BLOCK_GEMM_PLAN="bm,bn,cluster,streamk[,role]" forces a plan (for tuning the heuristic; role
 * as cluster_role: 0 the cluster shares B, 1 splits K, 2 shares A; without it, what the
 * heuristic gives that tile: A for 192 or 256 rows, else B). A forced plan goes through the
 * same completion (gemm_plan_launch) as a chosen one. */
static int plan_log_enabled;
static int plan_forced;
static gemm_plan plan_override;
static pthread_once_t knobs_once = PTHREAD_ONCE_INIT;

static void read_knobs(void)
{
    const char *log = getenv("FP8BLOCK_GEMM_LOG");
    plan_log_enabled = log && *log && *log != '0';
    const char *forced = getenv("FP8BLOCK_GEMM_PLAN");
    if (!forced) return;
    plan_forced = gemm_plan_parse(forced, &plan_override);
    if (!plan_forced)
        fprintf(stderr, "fp8block: FP8BLOCK_GEMM_PLAN='%s' ignored (want bm,bn,cluster,streamk[,role], role 0-2)\n",
                forced);
}

/* A launch of `clusters` clusters of kernel k on `stream`; attributes[0] holds the cluster
 * shape the configuration points at (the caller may add more after it). */
static cudaLaunchConfig_t launch_config(const gemm_kernel *k, int clusters, cudaStream_t stream,
                                        cudaLaunchAttribute *attributes)
{
    cudaLaunchConfig_t config;
    memset(&config, 0, sizeof config);
    attributes[0].id = cudaLaunchAttributeClusterDimension;
    attributes[0].val.clusterDim.x = k->cluster, attributes[0].val.clusterDim.y = 1, attributes[0].val.clusterDim.z = 1;
    config.gridDim = dim3(clusters * k->cluster, 1, 1);
    config.blockDim = dim3(k->threads, 1, 1);
    config.dynamicSmemBytes = k->smem_bytes;
    config.stream = stream;
    config.attrs = attributes;
    config.numAttrs = 1;
    return config;
}

/* Per kernel and device, once: the shared-memory opt-in, and how many clusters fit at
 * once (an SM count not divisible by the cluster size, or GPCs with an odd number of
 * SMs, leave some SMs out); *out = 0 when none does (the caller decides what then). */
static fp8block_status kernel_max_clusters(const cuda_device *dev, const gemm_kernel *k, int *out)
{
    int ordinal = dev->ordinal < 64 ? dev->ordinal : 63;
    int known = __atomic_load_n(&k->max_clusters[ordinal], __ATOMIC_RELAXED); /* 0: not asked yet, -1: none */
    if (known) {
        *out = known > 0 ? known : 0;
        return FP8BLOCK_OK;
    }
    fp8block_status st =
        cuda_check(cudaFuncSetAttribute(k->fn, cudaFuncAttributeMaxDynamicSharedMemorySize, k->smem_bytes),
                   "cudaFuncSetAttribute(gemm shared memory)");
    if (st != FP8BLOCK_OK) return st;
    int clusters = dev->sm_count / k->cluster;
    if (k->cluster > 1) {
        cudaLaunchAttribute attribute;
        cudaLaunchConfig_t config = launch_config(k, clusters, 0, &attribute);
        /* An error here (a cluster size the device refuses) counts as "none fits". */
        if (cudaOccupancyMaxActiveClusters(&clusters, k->fn, &config) != cudaSuccess) {
            (void)cudaGetLastError();
            clusters = 0;
        }
    }
    __atomic_store_n(&k->max_clusters[ordinal], clusters > 0 ? clusters : -1, __ATOMIC_RELAXED);
    *out = clusters > 0 ? clusters : 0;
    return FP8BLOCK_OK;
}

/* The configuration's kernels for one output type, from the most code to the least. */
typedef struct {
    const gemm_kernel *general, *bias, *lean; /* bias: NULL where there is none (grouped) */
} gemm_kernel_choice;

/* Where the call has no C and no stream-K pieces: the lean kernel without a bias, the bias one
 * with it, if it exists and fits the planned clusters (the same resources: it does); else the
 * general one. */
static fp8block_status pick_kernel(const cuda_device *dev, const gemm_args *g, const gemm_launch_plan *lp,
                                   gemm_kernel_choice choice, gemm_kernel *out)
{
    *out = *choice.general;
    const gemm_kernel *lighter = g->bias ? choice.bias : choice.lean;
    if (g->c || lp->sched.sk_tiles != 0 || !lighter || !lighter->fn) return FP8BLOCK_OK;
    int clusters = 0;
    fp8block_status st = kernel_max_clusters(dev, lighter, &clusters); /* its shared-memory opt-in, once */
    if (st == FP8BLOCK_OK && clusters >= lp->sched.clusters) *out = *lighter;
    return st;
}

/* What the plan log says of the kernel taken. */
static const char *kernel_kind(const gemm_kernel *k, gemm_kernel_choice choice)
{
    if (k->fn == choice.lean->fn) return "; lean kernel";
    return choice.bias && k->fn == choice.bias->fn ? "; bias kernel" : "";
}

typedef struct {
    const cuda_device *dev;
    int column;
    const gemm_kernel_row *table; /* gemm_kernels, or gemm_grouped_kernels */
} max_clusters_query;

/* gemm_target's question to the device, for the planner. */
static fp8block_status config_max_clusters(void *user, int config, int *out)
{
    const max_clusters_query *q = (const max_clusters_query *)user;
    const gemm_kernel *k = &q->table[config][q->column];
    if (!k->fn) return fp8block_fail(FP8BLOCK_ERR_INTERNAL, "internal: GEMM configuration %d has no kernel", config);
    return kernel_max_clusters(q->dev, k, out);
}

static fp8block_status launch_kernel(const gemm_kernel *k, const gemm_maps *maps, const gemm_params *params,
                                     cudaStream_t stream)
{
    cudaLaunchAttribute attributes[2];
    cudaLaunchConfig_t config = launch_config(k, params->sched.clusters, stream, attributes);
    attributes[config.numAttrs++] = early_launch_attribute();
    return cuda_check(cudaLaunchKernelEx(&config, k->fn, maps->a, maps->b, maps->sa, maps->d, *params),
                      "gemm kernel launch");
}

static fp8block_status encode_maps(const gemm_args *g, const gemm_plan *plan, const gemm_kernel *kernel,
                                   CUtensorMapDataType d_type, int64_t tma_cols, gemm_maps *maps)
{
    uint64_t kb_total = (uint64_t)fp8block_ceil_div(g->k, GEMM_BLOCK_K);
    uint64_t a_dims[2] = {(uint64_t)g->k, (uint64_t)g->m}, a_strides[1] = {(uint64_t)g->lda};
    uint32_t a_box[2] = {GEMM_BLOCK_K, (uint32_t)(plan->bm / a_sharers(plan->role, plan->cluster))};
    fp8block_status st = tma_encode(&maps->a, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, g->a, a_dims, a_strides, a_box,
                                    CU_TENSOR_MAP_SWIZZLE_128B, "A");
    if (st != FP8BLOCK_OK) return st;
    if (g->group_layout == FP8BLOCK_GROUPS_NONE) {
        uint64_t b_dims[2] = {(uint64_t)g->k, (uint64_t)g->n}, b_strides[1] = {(uint64_t)g->ldb};
        uint32_t b_box[2] = {GEMM_BLOCK_K, (uint32_t)(plan->bn / b_sharers(plan->role, plan->cluster))};
        st = tma_encode(&maps->b, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, g->b, b_dims, b_strides, b_box,
                        CU_TENSOR_MAP_SWIZZLE_128B, "B");
    } else {
        /* Expert e's B is box (k, n, e): strides ldb and group_stride_b; one B for all, one expert. */
        const uint64_t b_dims[3] = {(uint64_t)g->k, (uint64_t)g->n, g->group_stride_b ? (uint64_t)g->groups : 1};
        const uint64_t b_strides[2] = {(uint64_t)g->ldb,
                                       (uint64_t)(g->group_stride_b ? g->group_stride_b : g->n * g->ldb)};
        const uint32_t b_box[3] = {GEMM_BLOCK_K, (uint32_t)plan->bn, 1};
        st = tma_encode(&maps->b, CU_TENSOR_MAP_DATA_TYPE_UINT8, 3, g->b, b_dims, b_strides, b_box,
                        CU_TENSOR_MAP_SWIZZLE_128B, "grouped B");
    }
    if (st != FP8BLOCK_OK) return st;
    uint64_t sa_dims[2] = {(uint64_t)g->m, kb_total}, sa_strides[1] = {(uint64_t)g->ldsa * 4};
    uint32_t sa_box[2] = {(uint32_t)plan->bm, 1};
    st = tma_encode(&maps->sa, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2, g->sa, sa_dims, sa_strides, sa_box,
                    CU_TENSOR_MAP_SWIZZLE_NONE, "A scales");
    if (st != FP8BLOCK_OK) return st;
    uint64_t esize = fp8block_dtype_size(g->dtype);
    uint64_t d_dims[2] = {(uint64_t)tma_cols, (uint64_t)g->m}, d_strides[1] = {(uint64_t)g->ldd * esize};
    int chunk = epilogue_chunk_bytes(plan->bn, (int)esize);
    uint32_t d_box[2] = {(uint32_t)(chunk / esize), (uint32_t)(EPILOGUE_ROWS * kernel->waves)};
    return tma_encode(&maps->d, d_type, 2, g->d, d_dims, d_strides, d_box,
                      chunk == 128 ? CU_TENSOR_MAP_SWIZZLE_128B : CU_TENSOR_MAP_SWIZZLE_32B, "D");
}

/* The device as the planner sees it through one column of a kernel table. */
static gemm_target device_target(const cuda_device *dev, const max_clusters_query *query)
{
    const gemm_target target = {dev->sm_count, config_max_clusters, (void *)query, dev->l2_bytes};
    return target;
}

/* plan completed against the kernels of shape's output type (gemm_plan_launch). */
static fp8block_status plan_completed(cuda_device *dev, const gemm_shape *shape, gemm_plan plan, gemm_launch_plan *lp)
{
    max_clusters_query query = {dev, gemm_bit_column(gemm_shape_bit(shape)), gemm_kernels};
    const gemm_target target = device_target(dev, &query);
    return gemm_plan_launch(shape, plan, &target, lp);
}

/* The launch plan for D of type dtype: the planner's plan (or the forced one), completed. */
static fp8block_status plan_for(cuda_device *dev, const gemm_args *g, fp8block_dtype dtype, gemm_launch_plan *lp)
{
    const gemm_shape shape = shape_of(g, dtype);
    /* A forced plan with no kernel for B scaled 1x128 (whose kernels are few) is left to the
     * heuristic there, rather than failing every weight-gradient call. */
    const int forced = plan_forced && (!shape.b_per_col || gemm_config_find_bit(&plan_override, gemm_shape_bit(&shape)) >= 0);
    return plan_completed(dev, &shape, forced ? plan_override : gemm_choose_plan(&shape, dev->sm_count), lp);
}

/* gemm_plan_e4m3_launch against this device's F32, BF16 and E4M3 kernels. */
static fp8block_status plan_e4m3(cuda_device *dev, const gemm_args *g, gemm_launch_plan *lp, int *fused)
{
    max_clusters_query q[3] = {{dev, gemm_output_column(FP8BLOCK_F32), gemm_kernels},
                               {dev, gemm_output_column(FP8BLOCK_BF16), gemm_kernels},
                               {dev, gemm_output_column(FP8BLOCK_E4M3), gemm_kernels}};
    const gemm_e4m3_targets targets = {device_target(dev, &q[0]), device_target(dev, &q[1]),
                                       device_target(dev, &q[2])};
    const gemm_shape shape = shape_of(g, FP8BLOCK_E4M3);
    return gemm_plan_e4m3_launch(&shape, plan_forced ? &plan_override : NULL, &targets, lp, fused);
}

static fp8block_status run_gemm(cuda_device *dev, const gemm_args *g, cudaStream_t stream);

/* A context-wide buffer's turn on `stream`: wait for its previous user's event, and, after
 * this call's kernels, record ours. Inside a stream capture the event belongs to no graph,
 * so the wait and the record are made external: the graph waits and records at replay time,
 * which keeps the buffer ordered between replays and eager calls on other streams. */
static int capturing(cudaStream_t stream)
{
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    return cudaStreamIsCapturing(stream, &status) == cudaSuccess && status != cudaStreamCaptureStatusNone;
}

static fp8block_status wait_turn(cudaStream_t stream, cudaEvent_t idle, int captured, const char *what)
{
    return cuda_check(cudaStreamWaitEvent(stream, idle, captured ? cudaEventWaitExternal : 0), what);
}

static fp8block_status end_turn(cudaStream_t stream, cudaEvent_t idle, int captured, const char *what)
{
    return cuda_check(cudaEventRecordWithFlags(idle, stream, captured ? cudaEventRecordExternal : 0), what);
}

/* Called with dev->e4m3_scratch_lock held: a scratch of at least `bytes`. Growing frees the
 * old one (cudaFree waits for the device, so no queued kernel still uses it); never during a
 * capture, where an allocation would break the graph. */
static fp8block_status ensure_e4m3_scratch(cuda_device *dev, size_t bytes, int captured)
{
    if (dev->e4m3_scratch_bytes >= bytes) return FP8BLOCK_OK;
    if (captured)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED,
                             "this E4M3 GEMM needs %zu bytes of the context's fp32 scratch, which has %zu, and its "
                             "stream is being captured: run a call of this size once before capturing (the "
                             "scratch is kept)",
                             bytes, dev->e4m3_scratch_bytes);
    if (dev->e4m3_scratch) cudaFree(dev->e4m3_scratch);
    dev->e4m3_scratch = NULL, dev->e4m3_scratch_bytes = 0;
    fp8block_status st = cuda_check(cudaMalloc(&dev->e4m3_scratch, bytes), "cudaMalloc(the fp32 D of an E4M3 GEMM)");
    if (st == FP8BLOCK_OK) dev->e4m3_scratch_bytes = bytes;
    else dev->e4m3_scratch = NULL;
    return st;
}

/* E4M3 D as the contract states it: the F32 D (in the context's scratch), then the library's
 * own 1x128 quantizer, both on `stream`, after the scratch's previous user. */
static fp8block_status run_e4m3_through_f32(cuda_device *dev, const gemm_args *g, cudaStream_t stream)
{
    const int64_t ld = (g->n + 3) / 4 * 4;
    pthread_mutex_lock(&dev->e4m3_scratch_lock);
    const int captured = capturing(stream);
    fp8block_status st = ensure_e4m3_scratch(dev, (size_t)(g->m * ld) * sizeof(float), captured);
    if (st == FP8BLOCK_OK)
        st = wait_turn(stream, dev->e4m3_scratch_idle, captured, "cudaStreamWaitEvent(E4M3 scratch)");
    if (st == FP8BLOCK_OK) {
        gemm_args f32 = *g;
        f32.d = dev->e4m3_scratch, f32.dtype = FP8BLOCK_F32, f32.ldd = ld, f32.sd = NULL, f32.ldsd = 0;
        f32.d_scale_flags = 0;
        st = run_gemm(dev, &f32, stream);
        if (st == FP8BLOCK_OK) {
            const quantize_args q = {FP8BLOCK_BLOCK_1x128, g->d_scale_flags, dev->e4m3_scratch, FP8BLOCK_F32, g->m, g->n,
                                     ld, (uint8_t *)g->d, g->ldd, g->sd, g->ldsd};
            st = cuda_quantize(dev, &q, stream);
        }
        fp8block_status recorded =
            end_turn(stream, dev->e4m3_scratch_idle, captured, "cudaEventRecord(E4M3 scratch)");
        if (st == FP8BLOCK_OK) st = recorded;
    }
    pthread_mutex_unlock(&dev->e4m3_scratch_lock);
    return st;
}

/* The descriptor's validation enforces docs/DESIGN.md's alignment rules; these are the
 * ones TMA cannot live without. */
static fp8block_status check_tma_alignment(const gemm_args *g)
{
    const size_t esize = fp8block_dtype_size(g->dtype);
    if (((uintptr_t)g->a | (uintptr_t)g->b | (uintptr_t)g->sa | (uintptr_t)g->d) % 16 != 0 || g->lda % 16 != 0 ||
        g->ldb % 16 != 0 || g->ldsa % 4 != 0 || (g->ldd * esize) % 16 != 0)
        return fp8block_fail(FP8BLOCK_ERR_MISALIGNED,
                             "GEMM on the GPU needs 16-byte aligned A, B, sa and D, lda and ldb multiples of "
                             "16, ldsa a multiple of 4 and D rows a multiple of 16 bytes");
    return FP8BLOCK_OK;
}

/* The kernel's parameters for a launch plan (no stream-K workspace, no groups yet: zero). */
static gemm_params params_for(const gemm_args *g, const gemm_launch_plan *lp)
{
    gemm_params params;
    memset(&params, 0, sizeof params);
    params.m = (int)g->m, params.n = (int)g->n;
    params.sb = g->sb, params.ldsb = g->ldsb;
    params.sb_rows = (int)fp8block_ceil_div(g->n, 128);
    params.sched = lp->sched;
    /* TMA stores whole 16-byte pieces of a row (see epilogue_store_tail). */
    const int64_t per_16_bytes = 16 / (int64_t)fp8block_dtype_size(g->dtype);
    params.tma_cols = (int)(g->n / per_16_bytes * per_16_bytes);
    params.d = g->d, params.ldd = g->ldd;
    params.c = g->c, params.ldc = g->ldc, params.c_dtype = (int)g->c_dtype;
    params.bias = g->bias, params.bias_dtype = (int)g->bias_dtype;
    /* C = D is checked to share D's dtype and ld (docs/DESIGN.md §1.6) */
    params.c_is_d_alone = g->c != NULL && g->c == g->d && g->dtype == FP8BLOCK_F32 && g->bias == NULL;
    params.sd = g->sd, params.ldsd = g->ldsd, params.sd_pow2 = (g->d_scale_flags & FP8BLOCK_SCALE_POW2) != 0;
    return params;
}

/* A grouped GEMM (docs/DESIGN.md §1.8): a plan from the groups' number and expected size
 * (the sizes themselves are device data, read by the kernel), experts' B as a 3-D tensor
 * map (K, N, expert), one launch, no workspace. */
static fp8block_status run_grouped(cuda_device *dev, const gemm_args *g, cudaStream_t stream)
{
    const gemm_shape shape = shape_of(g, g->dtype);
    const int column = gemm_bit_column(gemm_shape_bit(&shape));
    if (shape.b_per_col || column < 0)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "a grouped GEMM with B scaled 1x128 or %s output is not built "
                             "for the GPU", fp8block_dtype_name(g->dtype));
    fp8block_status st = check_tma_alignment(g);
    if (st != FP8BLOCK_OK) return st;
    /* group_stride_b (0 or experts apart, a multiple of 16) is checked with the descriptor */
    const int masked = g->group_layout == FP8BLOCK_GROUPS_MASKED;
    const gemm_grouping groups = {g->groups, masked, g->max_m, g->expected_m};
    max_clusters_query query = {dev, column, gemm_grouped_kernels};
    const gemm_target target = device_target(dev, &query);
    /* A forced plan's pair shares A here, whatever its role says (a plain pair of 128-row
     * tiles shares B): the same tile and cluster as the plain GEMM under the same knob. */
    gemm_plan forced = plan_override;
    if (forced.cluster > 1) forced.role = CLUSTER_SHARES_A;
    const int take_forced = plan_forced && gemm_grouped_config_find(&forced, gemm_shape_bit(&shape)) >= 0;
    gemm_launch_plan lp;
    st = gemm_plan_grouped_launch(&shape, &groups,
                                  take_forced ? forced : gemm_choose_grouped_plan(&shape, &groups, dev->sm_count),
                                  &target, &lp);
    if (st != FP8BLOCK_OK) return st;
    const gemm_kernel_choice choice = {&gemm_grouped_kernels[lp.config][column], NULL,
                                       &gemm_grouped_lean_kernels[lp.config][column]};
    gemm_kernel kernel;
    st = pick_kernel(dev, g, &lp, choice, &kernel);
    if (st != FP8BLOCK_OK) return st;
    gemm_params params = params_for(g, &lp);
    params.groups.rows = (const int *)g->group_rows;
    params.groups.count = (int)g->groups, params.groups.masked = masked, params.groups.max_m = (int)g->max_m;
    params.groups.b_step = g->group_stride_b != 0, params.groups.stride_sb = g->group_stride_sb;
    params.groups.sa = g->sa, params.groups.ldsa = g->ldsa;
    if (plan_log_enabled)
        fprintf(stderr,
                "fp8block grouped gemm %lldx%lldx%lld, %lld groups%s: tile %dx%d cluster %d%s, %d stages; grid %d "
                "clusters (max %d) for at most %d units%s\n",
                (long long)g->m, (long long)g->n, (long long)g->k, (long long)g->groups, masked ? " masked" : "",
                lp.plan.bm, lp.plan.bn, lp.plan.cluster, gemm_role_name(lp.plan.role), kernel.stages,
                params.sched.clusters, lp.max_clusters, params.sched.dp_tiles,
                kernel_kind(&kernel, choice));
    gemm_maps maps;
    st = encode_maps(g, &lp.plan, &kernel, out_map_type(g->dtype), params.tma_cols ? params.tma_cols : g->n, &maps);
    if (st != FP8BLOCK_OK) return st;
    return launch_kernel(&kernel, &maps, &params, stream);
}

static fp8block_status run_gemm(cuda_device *dev, const gemm_args *g, cudaStream_t stream)
{
    pthread_once(&knobs_once, read_knobs);
    if (g->group_layout != FP8BLOCK_GROUPS_NONE) return run_grouped(dev, g, stream);
    const gemm_shape shape = shape_of(g, g->dtype);
    if (shape.b_per_col && g->dtype != FP8BLOCK_F32)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "B scaled 1x128 with %s output is not built for the GPU: F32 "
                             "is (the weight gradient; the CPU backend has every type)",
                             fp8block_dtype_name(g->dtype));
    const int column = gemm_bit_column(gemm_shape_bit(&shape));
    if (column < 0)
        return fp8block_fail(FP8BLOCK_ERR_INTERNAL, "internal: GEMM output dtype %s has no kernel column",
                             fp8block_dtype_name(g->dtype));
    fp8block_status st = check_tma_alignment(g);
    if (st != FP8BLOCK_OK) return st;

    gemm_launch_plan lp;
    if (g->dtype == FP8BLOCK_E4M3) {
        int fused;
        st = plan_e4m3(dev, g, &lp, &fused);
        if (st != FP8BLOCK_OK) return st;
        if (!fused) return run_e4m3_through_f32(dev, g, stream);
    } else {
        st = plan_for(dev, g, g->dtype, &lp);
        if (st != FP8BLOCK_OK) return st;
    }
    const gemm_plan plan = lp.plan;
    const gemm_kernel_choice choice = {&gemm_kernels[lp.config][column], &gemm_bias_kernels[lp.config][column],
                                       &gemm_lean_kernels[lp.config][column]};
    gemm_kernel kernel;
    st = pick_kernel(dev, g, &lp, choice, &kernel);
    if (st != FP8BLOCK_OK) return st;

    gemm_params params = params_for(g, &lp);
    const gemm_schedule *s = &params.sched;

    if (plan_log_enabled)
        fprintf(stderr,
                "fp8block gemm %lldx%lldx%lld: tile %dx%d cluster %d%s, %d stages, %d bytes shared; grid %d clusters "
                "(max %d): %d tiles whole, %d by stream-K%s\n",
                (long long)g->m, (long long)g->n, (long long)g->k, plan.bm, plan.bn, plan.cluster,
                gemm_role_name(plan.role), kernel.stages, kernel.smem_bytes, s->clusters, lp.max_clusters,
                s->dp_tiles, s->sk_tiles, kernel_kind(&kernel, choice));
    gemm_maps maps;
    st = encode_maps(g, &plan, &kernel, out_map_type(g->dtype), params.tma_cols ? params.tma_cols : g->n, &maps);
    if (st != FP8BLOCK_OK) return st;
    if (s->sk_tiles == 0) return launch_kernel(&kernel, &maps, &params, stream);
    /* The workspace is the context's, shared by all its streams: this stream waits until
     * the previous user's kernel is done with it, and the next user waits for ours. */
    pthread_mutex_lock(&dev->gemm_workspace_lock);
    const int captured = capturing(stream);
    st = wait_turn(stream, dev->gemm_workspace_idle, captured, "cudaStreamWaitEvent(stream-K workspace)");
    if (st == FP8BLOCK_OK) {
        params.sk_counters = (int *)dev->gemm_workspace;
        params.partials = (float *)((uint8_t *)dev->gemm_workspace + STREAMK_COUNTER_BYTES);
        st = launch_kernel(&kernel, &maps, &params, stream);
        fp8block_status recorded =
            end_turn(stream, dev->gemm_workspace_idle, captured, "cudaEventRecord(stream-K workspace)");
        if (st == FP8BLOCK_OK) st = recorded;
    }
    pthread_mutex_unlock(&dev->gemm_workspace_lock);
    return st;
}

extern "C" fp8block_status cuda_gemm(cuda_device *dev, const gemm_args *args, void *stream)
{
    if (args->m > INT32_MAX || args->n > INT32_MAX || args->k > INT32_MAX)
        return fp8block_fail(FP8BLOCK_ERR_UNSUPPORTED, "GEMM dimensions above 2^31-1 are not supported on the GPU");
    device_scope scope;
    fp8block_status st = device_scope_enter(dev, &scope);
    if (st != FP8BLOCK_OK) return st;
    st = run_gemm(dev, args, (cudaStream_t)stream);
    device_scope_leave(&scope);
    return st;
}
