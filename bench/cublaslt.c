#include "cublaslt.h"

#include <stdio.h>
#include <stdlib.h>

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "why.h"

/* cuBLASLt's heuristics pick split-K and stream-K algorithms only when they get room. */
#define BASELINE_WORKSPACE_BYTES ((size_t)64 << 20)
/* baseline_gemm_autotune times this many of the heuristic's algorithms, as an autotuner would. */
#define BASELINE_CANDIDATES 8
#define TUNE_WARMUP 2
#define TUNE_REPS 5

struct baseline_lib {
    int device;
    cublasLtHandle_t handle;
    void *workspace;
    char version[64];
};

struct baseline_gemm {
    baseline_lib *lib;
    baseline_kind kind;
    int64_t m, n, k;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a_layout, b_layout, d_layout;
    cublasLtMatmulAlgo_t algo;
    size_t workspace_bytes;
    cublasLtMatmulHeuristicResult_t candidates[BASELINE_CANDIDATES]; /* the heuristic's order */
    int candidate_count, chosen;
};

static int lt_failed(cublasStatus_t st, const char *what, char *why, size_t why_size)
{
    if (st == CUBLAS_STATUS_SUCCESS) return 0;
    why_printf(why, why_size, "%s: %s", what, cublasLtGetStatusString(st));
    return 1;
}

const char *baseline_kind_name(baseline_kind kind)
{
    switch (kind) {
    case BASELINE_BF16: return "cublaslt_bf16";
    case BASELINE_FP8_TENSOR: return "cublaslt_fp8_tensor";
    case BASELINE_FP8_BLOCK: return "cublaslt_fp8_block";
    }
    return "?";
}

int64_t baseline_block_scale_ld(int64_t k) { return ((k + 127) / 128 + 3) / 4 * 4; }

baseline_lib *baseline_lib_open(int device, char *why, size_t why_size)
{
    baseline_lib *lib = calloc(1, sizeof *lib);
    if (!lib) {
        why_printf(why, why_size, "out of host memory");
        return NULL;
    }
    lib->device = device;
    cudaError_t ce = cudaSetDevice(device);
    if (ce == cudaSuccess) ce = cudaMalloc(&lib->workspace, BASELINE_WORKSPACE_BYTES);
    if (ce != cudaSuccess) {
        why_printf(why, why_size, "cuBLASLt workspace on device %d: %s", device, cudaGetErrorString(ce));
        free(lib);
        return NULL;
    }
    if (lt_failed(cublasLtCreate(&lib->handle), "cublasLtCreate", why, why_size)) {
        cudaFree(lib->workspace);
        free(lib);
        return NULL;
    }
    size_t v = cublasLtGetVersion(); /* major*10000 + minor*100 + patch */
    snprintf(lib->version, sizeof lib->version, "cuBLASLt %zu.%zu.%zu", v / 10000, v / 100 % 100, v % 100);
    return lib;
}

void baseline_lib_close(baseline_lib *lib)
{
    if (!lib) return;
    cublasLtDestroy(lib->handle);
    cudaFree(lib->workspace);
    free(lib);
}

const char *baseline_lib_version(const baseline_lib *lib) { return lib ? lib->version : ""; }

void baseline_gemm_destroy(baseline_gemm *g)
{
    if (!g) return;
    if (g->d_layout) cublasLtMatrixLayoutDestroy(g->d_layout);
    if (g->b_layout) cublasLtMatrixLayoutDestroy(g->b_layout);
    if (g->a_layout) cublasLtMatrixLayoutDestroy(g->a_layout);
    if (g->desc) cublasLtMatmulDescDestroy(g->desc);
    free(g);
}

static int set_attr(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const void *v,
                    size_t size, char *why, size_t why_size)
{
    return lt_failed(cublasLtMatmulDescSetAttribute(desc, attr, v, size), "cublasLtMatmulDescSetAttribute",
                     why, why_size);
}

/* cuBLASLt is column-major. Row-major D (M×N) = A·Bᵀ is column-major Dᵀ (N×M) = B·Aᵀ, so
 * cuBLASLt's "A" is our B (stored K×N column-major: op T), its "B" is our A (stored K×M
 * column-major: op N), its m is our N and its n our M. That is cuBLASLt's TN layout, the
 * only one its FP8 kernels take. Our B's 128x128 scales therefore go to cuBLASLt's A slot
 * and our A's 1x128 (VEC128) scales to its B slot. */
baseline_gemm *baseline_gemm_create(baseline_lib *lib, baseline_kind kind, int64_t m, int64_t n,
                                    int64_t k, char *why, size_t why_size)
{
    baseline_gemm *g = calloc(1, sizeof *g);
    if (!g) {
        why_printf(why, why_size, "out of host memory");
        return NULL;
    }
    g->lib = lib;
    g->kind = kind;
    g->m = m, g->n = n, g->k = k;

    cudaDataType_t in_type = kind == BASELINE_BF16 ? CUDA_R_16BF : CUDA_R_8F_E4M3;
    cublasOperation_t op_t = CUBLAS_OP_T, op_n = CUBLAS_OP_N;
    if (lt_failed(cublasLtMatmulDescCreate(&g->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate",
                  why, why_size) ||
        set_attr(g->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_t, sizeof op_t, why, why_size) ||
        set_attr(g->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_n, sizeof op_n, why, why_size))
        goto fail;
    if (kind == BASELINE_FP8_BLOCK) {
        int32_t weight_mode = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F;
        int32_t activation_mode = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
        if (set_attr(g->desc, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &weight_mode, sizeof weight_mode, why, why_size) ||
            set_attr(g->desc, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &activation_mode, sizeof activation_mode, why,
                     why_size))
            goto fail;
    }
    /* Scale pointers are set per run; the heuristic needs only non-NULL placeholders to
     * know that scaling is on, so give it the workspace (never dereferenced here). */
    if (kind != BASELINE_BF16) {
        const void *placeholder = lib->workspace;
        if (set_attr(g->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &placeholder, sizeof placeholder, why, why_size) ||
            set_attr(g->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &placeholder, sizeof placeholder, why, why_size))
            goto fail;
    }
    if (lt_failed(cublasLtMatrixLayoutCreate(&g->a_layout, in_type, (uint64_t)k, (uint64_t)n, k),
                  "cublasLtMatrixLayoutCreate(B)", why, why_size) ||
        lt_failed(cublasLtMatrixLayoutCreate(&g->b_layout, in_type, (uint64_t)k, (uint64_t)m, k),
                  "cublasLtMatrixLayoutCreate(A)", why, why_size) ||
        lt_failed(cublasLtMatrixLayoutCreate(&g->d_layout, CUDA_R_16BF, (uint64_t)n, (uint64_t)m, n),
                  "cublasLtMatrixLayoutCreate(D)", why, why_size))
        goto fail;

    cublasLtMatmulPreference_t pref = NULL;
    size_t workspace = BASELINE_WORKSPACE_BYTES;
    if (lt_failed(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate", why, why_size))
        goto fail;
    cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                             &workspace, sizeof workspace);
    int found = 0;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(lib->handle, g->desc, g->a_layout, g->b_layout, g->d_layout, g->d_layout,
                                            pref, BASELINE_CANDIDATES, g->candidates, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (lt_failed(st, "cublasLtMatmulAlgoGetHeuristic", why, why_size)) goto fail;
    if (found == 0) {
        why_printf(why, why_size, "cuBLASLt has no %s algorithm for %lldx%lldx%lld", baseline_kind_name(kind),
            (long long)m, (long long)n, (long long)k);
        goto fail;
    }
    g->candidate_count = found, g->chosen = 0;
    g->algo = g->candidates[0].algo;
    g->workspace_bytes = g->candidates[0].workspaceSize;
    return g;
fail:
    baseline_gemm_destroy(g);
    return NULL;
}

int baseline_gemm_run(baseline_gemm *g, const void *a, const float *sa, const void *b, const float *sb, void *d,
                      void *stream, char *why, size_t why_size)
{
    if (g->kind != BASELINE_BF16) {
        /* cuBLASLt's A is our B and its B our A (see baseline_gemm_create). */
        if (set_attr(g->desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sb, sizeof sb, why, why_size) ||
            set_attr(g->desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sa, sizeof sa, why, why_size))
            return -1;
    }
    const float one = 1.0f, zero = 0.0f;
    cublasStatus_t st = cublasLtMatmul(g->lib->handle, g->desc, &one, b, g->a_layout, a, g->b_layout, &zero, d,
                                       g->d_layout, d, g->d_layout, &g->algo, g->lib->workspace, g->workspace_bytes,
                                       (cudaStream_t)stream);
    return lt_failed(st, "cublasLtMatmul", why, why_size) ? -1 : 0;
}

/* Median milliseconds of TUNE_REPS runs after TUNE_WARMUP, events on the default stream; a
 * negative value when a run fails (that algorithm is then left out). */
static float time_candidate(baseline_run_fn run, void *arg, cudaEvent_t start, cudaEvent_t stop)
{
    char why[200];
    float ms[TUNE_REPS];
    for (int i = 0; i < TUNE_WARMUP; i++)
        if (run(arg, why, sizeof why)) return -1.0f;
    for (int i = 0; i < TUNE_REPS; i++) {
        cudaEventRecord(start, NULL);
        if (run(arg, why, sizeof why)) return -1.0f;
        cudaEventRecord(stop, NULL);
        if (cudaEventSynchronize(stop) != cudaSuccess || cudaEventElapsedTime(&ms[i], start, stop) != cudaSuccess)
            return -1.0f;
    }
    for (int i = 1; i < TUNE_REPS; i++)
        for (int j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
            float t = ms[j];
            ms[j] = ms[j - 1], ms[j - 1] = t;
        }
    return ms[TUNE_REPS / 2];
}

int baseline_gemm_autotune(baseline_gemm *g, baseline_run_fn run, void *arg, char *why, size_t why_size)
{
    cudaEvent_t start = NULL, stop = NULL;
    if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
        why_printf(why, why_size, "cudaEventCreate failed while tuning cuBLASLt");
        if (start) cudaEventDestroy(start);
        return -1;
    }
    float best = -1.0f;
    int chosen = -1;
    for (int i = 0; i < g->candidate_count; i++) {
        g->algo = g->candidates[i].algo, g->workspace_bytes = g->candidates[i].workspaceSize;
        float ms = time_candidate(run, arg, start, stop);
        if (ms >= 0.0f && (chosen < 0 || ms < best)) best = ms, chosen = i;
    }
    (void)cudaGetLastError(); /* a candidate that failed to run is left out, not an error */
    cudaEventDestroy(start), cudaEventDestroy(stop);
    if (chosen < 0) {
        why_printf(why, why_size, "none of cuBLASLt's %d %s algorithms ran", g->candidate_count,
                   baseline_kind_name(g->kind));
        return -1;
    }
    g->chosen = chosen;
    g->algo = g->candidates[chosen].algo, g->workspace_bytes = g->candidates[chosen].workspaceSize;
    return 0;
}

int baseline_gemm_chosen(const baseline_gemm *g, int *candidates)
{
    if (candidates) *candidates = g->candidate_count;
    return g->chosen;
}
