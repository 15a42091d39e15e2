/* The README's example: a bf16 "linear layer" D = A·Bᵀ through FP8 block quantization.
 * Build: cc -std=c11 quickstart.c -Iinclude -Lbuild -lfp8block  (runs on the CPU backend;
 * pass a CUDA ordinal and device pointers to run the same calls on a GPU). */
#include <fp8block.h>
#include <stdio.h>
#include <stdlib.h>

/* a: m×k bf16, b: n×k bf16, d: m×n bf16 (n % 8 == 0 keeps D's rows 16-byte aligned). */
static fp8block_status fp8_linear(fp8block_ctx *ctx, const void *a, const void *b, void *d, int64_t m, int64_t n,
                                  int64_t k, uint8_t *qa, float *sa, uint8_t *qb, float *sb, void *stream)
{
    int64_t ldq = (k + 15) / 16 * 16, ldsa = (m + 3) / 4 * 4, ldsb = ((k + 127) / 128 + 3) / 4 * 4;
    fp8block_status st = fp8block_quantize_1x128(ctx, a, FP8BLOCK_BF16, m, k, k, qa, ldq, sa, ldsa, stream);
    if (st == FP8BLOCK_OK) st = fp8block_quantize_128x128(ctx, b, FP8BLOCK_BF16, n, k, k, qb, ldq, sb, ldsb, stream);
    if (st == FP8BLOCK_OK)
        st = fp8block_gemm(ctx, m, n, k, qa, ldq, sa, ldsa, qb, ldq, sb, ldsb, d, FP8BLOCK_BF16, n, stream);
    return st;
}

int main(void)
{
    enum { M = 3, N = 8, K = 200, LDQ = 208, KB = 2, LDSA = 4, LDSB = 4 };
    static uint16_t a[M * K], b[N * K], d[M * N];
    static uint8_t qa[M * LDQ], qb[N * LDQ];
    static float sa[KB * LDSA], sb[LDSB];
    for (int i = 0; i < M * K; i++) a[i] = 0x3f80; /* bf16 1.0 */
    for (int i = 0; i < N * K; i++) b[i] = 0x4000; /* bf16 2.0 */
    fp8block_ctx *ctx;
    fp8block_status st = fp8block_create(&ctx, FP8BLOCK_DEVICE_CPU);
    if (st == FP8BLOCK_OK) st = fp8_linear(ctx, a, b, d, M, N, K, qa, sa, qb, sb, NULL);
    if (st != FP8BLOCK_OK) {
        fprintf(stderr, "%s: %s\n", fp8block_status_string(st), fp8block_last_error(ctx));
        return 1;
    }
    fp8block_destroy(ctx);
    printf("D[0][0] = bf16 0x%04x (expected 0x43c8 = 400 = 200 * 1 * 2)\n", d[0]);
    return d[0] == 0x43c8 && d[M * N - 1] == 0x43c8 ? 0 : 1;
}
