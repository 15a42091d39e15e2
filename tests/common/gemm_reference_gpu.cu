#include "gemm_reference_gpu.h"

#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>

extern "C" {
#include "reference_codec.h" /* a C header without extern "C" of its own */
}

namespace {

constexpr int BLOCK = 128; /* the scale block along K */
constexpr int TILE = 64;   /* outputs per block: TILE × TILE, 4 × 4 per thread */
constexpr int TK = 16;     /* K steps per shared-memory stage (divides BLOCK) */
constexpr int SIDE = 16;   /* threads per block: SIDE × SIDE */

__global__ void __launch_bounds__(SIDE *SIDE)
reference_kernel(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa, int64_t ldsa,
                 const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb, bool b_per_col, const double *table,
                 double *ref, double *magnitude, int64_t ldr)
{
    __shared__ double value[256];
    __shared__ double as[TK][TILE + 1]; /* A dequantized: code value × scale, exact */
    __shared__ double bs[TK][TILE + 1]; /* B code values (its scale comes per block) */
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * SIDE + tx;
    const int64_t row0 = (int64_t)blockIdx.y * TILE, col0 = (int64_t)blockIdx.x * TILE;
    for (int c = tid; c < 256; c += SIDE * SIDE) value[c] = table[c];
    double total[4][4], total_magnitude[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) total[i][j] = 0, total_magnitude[i][j] = 0;
    const int64_t k_blocks = (k + BLOCK - 1) / BLOCK;
    __syncthreads();
    for (int64_t kb = 0; kb < k_blocks; kb++) {
        const int64_t k0 = kb * BLOCK, k1 = k0 + BLOCK < k ? k0 + BLOCK : k;
        double sum[4][4], sum_magnitude[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) sum[i][j] = 0, sum_magnitude[i][j] = 0;
        for (int64_t kc = k0; kc < k1; kc += TK) {
            const int len = (int)(k1 - kc < TK ? k1 - kc : TK);
            for (int e = tid; e < TILE * TK; e += SIDE * SIDE) {
                const int r = e / TK, t = e % TK;
                const int64_t row = row0 + r, col = col0 + r, kk = kc + t;
                /* b_per_col: A's scale joins B's per K block, as gemm_reference_b1x128 sums */
                as[t][r] = row < m && t < len ? (b_per_col ? value[a[row * lda + kk]]
                                                           : __dmul_rn(value[a[row * lda + kk]], (double)sa[kb * ldsa + row]))
                                              : 0.0;
                bs[t][r] = col < n && t < len ? value[b[col * ldb + kk]] : 0.0;
            }
            __syncthreads();
            for (int t = 0; t < len; t++) {
                double av[4], bv[4];
                for (int i = 0; i < 4; i++) av[i] = as[t][ty + SIDE * i], bv[i] = bs[t][tx + SIDE * i];
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        const double p = __dmul_rn(av[i], bv[j]);
                        sum[i][j] = __dadd_rn(sum[i][j], p);
                        sum_magnitude[i][j] = __dadd_rn(sum_magnitude[i][j], fabs(p));
                    }
            }
            __syncthreads();
        }
        for (int j = 0; j < 4; j++) {
            const int64_t col = col0 + tx + SIDE * j;
            /* B's scale: its 128x128 block's, or (b_per_col, the weight gradient) its column's
             * times the row's A scale (gemm_reference_b1x128: the code sum is exact, then one
             * product of the two scales, exact in fp64, and one rounding) */
            const double sb_here = col >= n      ? 0.0
                                   : b_per_col ? (double)sb[kb * ldsb + col]
                                               : (double)sb[(col / BLOCK) * ldsb + kb];
            for (int i = 0; i < 4; i++) {
                const int64_t row = row0 + ty + SIDE * i;
                const double s = b_per_col && row < m ? __dmul_rn((double)sa[kb * ldsa + row], sb_here) : sb_here;
                total[i][j] = __dadd_rn(total[i][j], __dmul_rn(sum[i][j], s));
                total_magnitude[i][j] = __dadd_rn(total_magnitude[i][j], __dmul_rn(sum_magnitude[i][j], fabs(s)));
            }
        }
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
            const int64_t row = row0 + ty + SIDE * i, col = col0 + tx + SIDE * j;
            if (row < m && col < n) ref[row * ldr + col] = total[i][j], magnitude[row * ldr + col] = total_magnitude[i][j];
        }
}

bool ok(cudaError_t e, const char *what)
{
    if (e != cudaSuccess) fprintf(stderr, "gemm_reference_gpu: %s: %s\n", what, cudaGetErrorString(e));
    return e == cudaSuccess;
}

} // namespace

static int reference(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa, int64_t ldsa,
                     const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb, bool b_per_col, double *ref,
                     double *magnitude, int64_t ldr)
{
    if (m < 1 || n < 1 || k < 1 || ldr < n) return fprintf(stderr, "gemm_reference_gpu: bad shape\n"), -1;
    const int64_t k_blocks = (k + BLOCK - 1) / BLOCK, n_blocks = (n + BLOCK - 1) / BLOCK;
    /* Only the bytes the layouts name: the last row needs no padding after it. */
    const size_t a_bytes = (size_t)((m - 1) * lda + k), b_bytes = (size_t)((n - 1) * ldb + k);
    const size_t sa_bytes = (size_t)((k_blocks - 1) * ldsa + m) * 4;
    const size_t sb_bytes = (size_t)(b_per_col ? (k_blocks - 1) * ldsb + n : (n_blocks - 1) * ldsb + k_blocks) * 4;
    const size_t out_bytes = (size_t)(m * n) * sizeof(double);
    double table[256];
    for (int c = 0; c < 256; c++) table[c] = ref_e4m3_to_f64((uint8_t)c);
    uint8_t *da = nullptr, *db = nullptr;
    float *dsa = nullptr, *dsb = nullptr;
    double *dtable = nullptr, *dref = nullptr, *dmag = nullptr;
    bool good = ok(cudaMalloc(&da, a_bytes), "cudaMalloc") && ok(cudaMalloc(&db, b_bytes), "cudaMalloc") &&
                ok(cudaMalloc(&dsa, sa_bytes), "cudaMalloc") && ok(cudaMalloc(&dsb, sb_bytes), "cudaMalloc") &&
                ok(cudaMalloc(&dtable, sizeof table), "cudaMalloc") && ok(cudaMalloc(&dref, out_bytes), "cudaMalloc") &&
                ok(cudaMalloc(&dmag, out_bytes), "cudaMalloc") &&
                ok(cudaMemcpy(da, a, a_bytes, cudaMemcpyHostToDevice), "upload") &&
                ok(cudaMemcpy(db, b, b_bytes, cudaMemcpyHostToDevice), "upload") &&
                ok(cudaMemcpy(dsa, sa, sa_bytes, cudaMemcpyHostToDevice), "upload") &&
                ok(cudaMemcpy(dsb, sb, sb_bytes, cudaMemcpyHostToDevice), "upload") &&
                ok(cudaMemcpy(dtable, table, sizeof table, cudaMemcpyHostToDevice), "upload");
    if (good) {
        /* Rows as (m + TILE - 1) / TILE blocks in y: 65535 at most, 4 million rows. */
        dim3 grid((unsigned)((n + TILE - 1) / TILE), (unsigned)((m + TILE - 1) / TILE)), threads(SIDE, SIDE);
        reference_kernel<<<grid, threads>>>(m, n, k, da, lda, dsa, ldsa, db, ldb, dsb, ldsb, b_per_col, dtable, dref,
                                            dmag, n);
        good = ok(cudaGetLastError(), "launch") && ok(cudaDeviceSynchronize(), "reference kernel");
    }
    good = good &&
           ok(cudaMemcpy2D(ref, (size_t)ldr * 8, dref, (size_t)n * 8, (size_t)n * 8, (size_t)m, cudaMemcpyDeviceToHost),
              "download") &&
           ok(cudaMemcpy2D(magnitude, (size_t)ldr * 8, dmag, (size_t)n * 8, (size_t)n * 8, (size_t)m,
                           cudaMemcpyDeviceToHost),
              "download");
    cudaFree(da), cudaFree(db), cudaFree(dsa), cudaFree(dsb), cudaFree(dtable), cudaFree(dref), cudaFree(dmag);
    return good ? 0 : -1;
}

extern "C" int gemm_reference_gpu(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda, const float *sa,
                                  int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb, int64_t ldsb,
                                  double *ref, double *magnitude, int64_t ldr)
{
    return reference(m, n, k, a, lda, sa, ldsa, b, ldb, sb, ldsb, false, ref, magnitude, ldr);
}

extern "C" int gemm_reference_gpu_b1x128(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                                         const float *sa, int64_t ldsa, const uint8_t *b, int64_t ldb, const float *sb,
                                         int64_t ldsb, double *ref, double *magnitude, int64_t ldr)
{
    return reference(m, n, k, a, lda, sa, ldsa, b, ldb, sb, ldsb, true, ref, magnitude, ldr);
}
