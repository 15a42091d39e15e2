#include "gemm_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "reference_codec.h"

#define GEMM_CHECK_BLOCK 128

static double output_element(const void *d, fp8block_dtype dtype, int64_t ldd, int64_t i, int64_t j)
{
    int64_t at = i * ldd + j;
    switch (dtype) {
    case FP8BLOCK_F32: {
        float v;
        memcpy(&v, (const char *)d + at * 4, sizeof v);
        return v;
    }
    case FP8BLOCK_BF16: {
        uint16_t h;
        memcpy(&h, (const char *)d + at * 2, sizeof h);
        return ref_bf16_to_f64(h);
    }
    case FP8BLOCK_F16: {
        uint16_t h;
        memcpy(&h, (const char *)d + at * 2, sizeof h);
        return ref_f16_to_f64(h);
    }
    default: return NAN;
    }
}

static double unit_roundoff(fp8block_dtype dtype)
{
    return dtype == FP8BLOCK_BF16 ? 0x1p-8 : dtype == FP8BLOCK_F16 ? 0x1p-11 : 0x1p-22;
}

/* Largest finite value of the output type: above it, ±inf is the right rounding. */
static double max_finite(fp8block_dtype dtype)
{
    return dtype == FP8BLOCK_BF16 ? 0x1.fep127 : dtype == FP8BLOCK_F16 ? 65504.0 : 0x1.fffffep127;
}

static void record_violation(gemm_check_result *r, int64_t i, int64_t j, double value, double ref,
                             double bound)
{
    if (r->violations++ == 0) {
        r->first_bad_row = i;
        r->first_bad_col = j;
        r->first_bad_value = value;
        r->first_bad_ref = ref;
        r->first_bad_bound = bound;
    }
}

gemm_check_result gemm_check(int64_t m, int64_t n, int64_t k, const uint8_t *a, int64_t lda,
                             const float *sa, int64_t ldsa, const uint8_t *b, int64_t ldb,
                             const float *sb, int64_t ldsb, const void *d, fp8block_dtype dtype,
                             int64_t ldd, int64_t row_step)
{
    gemm_check_result r;
    memset(&r, 0, sizeof r);
    r.first_bad_row = r.first_bad_col = -1;
    r.frobenius_limit = dtype == FP8BLOCK_BF16 ? 4e-3 : 1e-3;
    if (row_step < 1) row_step = 1;

    double code_value[256];
    for (int c = 0; c < 256; c++) code_value[c] = ref_e4m3_to_f64((uint8_t)c);

    int64_t k_blocks = (k + GEMM_CHECK_BLOCK - 1) / GEMM_CHECK_BLOCK;
    /* Row i of A dequantized exactly: an e4m3 value times an fp32 scale fits a double. */
    double *a_row = malloc((size_t)k * sizeof *a_row);
    if (!a_row) {
        r.violations = 1;
        r.rel_frobenius = INFINITY;
        return r;
    }
    double u = unit_roundoff(dtype), top = max_finite(dtype);
    /* f16 subnormals are 2^-24 apart: rounding there is absolute, up to 2^-25. */
    double absolute_floor = dtype == FP8BLOCK_F16 ? 0x1p-25 : 1e-30;
    double error_sq = 0, ref_sq = 0;

    for (int64_t i = 0; i < m; i += row_step) {
        for (int64_t kk = 0; kk < k; kk++)
            a_row[kk] = code_value[a[i * lda + kk]] * (double)sa[(kk / GEMM_CHECK_BLOCK) * ldsa + i];
        for (int64_t j = 0; j < n; j++) {
            const uint8_t *b_row = b + j * ldb;
            const float *b_scales = sb + (j / GEMM_CHECK_BLOCK) * ldsb;
            double ref = 0, magnitude = 0;
            for (int64_t kb = 0; kb < k_blocks; kb++) {
                int64_t k0 = kb * GEMM_CHECK_BLOCK;
                int64_t k1 = k0 + GEMM_CHECK_BLOCK < k ? k0 + GEMM_CHECK_BLOCK : k;
                double block_sum = 0, block_magnitude = 0;
                for (int64_t kk = k0; kk < k1; kk++) {
                    double p = a_row[kk] * code_value[b_row[kk]];
                    block_sum += p;
                    block_magnitude += fabs(p);
                }
                ref += block_sum * b_scales[kb];
                magnitude += block_magnitude * fabs((double)b_scales[kb]);
            }
            double value = output_element(d, dtype, ldd, i, j);
            double bound = 0x1p-10 * magnitude + fabs(ref) * u + absolute_floor;
            r.elements_checked++;
            if (isnan(ref)) {
                if (!isnan(value)) record_violation(&r, i, j, value, ref, bound);
                continue;
            }
            if (isinf(value) && fabs(ref) > top && (value > 0) == (ref > 0)) continue;
            double error = isfinite(value) ? fabs(value - ref) : INFINITY;
            if (!(error <= bound)) record_violation(&r, i, j, value, ref, bound);
            if (error > r.max_abs_error) r.max_abs_error = error;
            if (error / bound > r.max_error_ratio) r.max_error_ratio = error / bound;
            error_sq += error * error;
            ref_sq += ref * ref;
        }
        r.rows_checked++;
        if (i < m - 1 && i + row_step > m - 1) i = m - 1 - row_step; /* the last row, always */
    }
    free(a_row);
    if (ref_sq > 0) r.rel_frobenius = sqrt(error_sq / ref_sq);
    else r.rel_frobenius = error_sq == 0 ? 0 : INFINITY;
    return r;
}

int gemm_check_passed(const gemm_check_result *r)
{
    return r->elements_checked > 0 && r->violations == 0 && r->rel_frobenius <= r->frobenius_limit;
}

void gemm_check_print(FILE *f, const char *label, const gemm_check_result *r)
{
    fprintf(f,
            "%s: %s, %lld rows / %lld elements checked, %lld violations, max abs error %.3e, "
            "max error/bound %.3f, rel Frobenius %.3e (limit %.0e)",
            label, gemm_check_passed(r) ? "ok" : "FAILED", (long long)r->rows_checked,
            (long long)r->elements_checked, (long long)r->violations, r->max_abs_error,
            r->max_error_ratio, r->rel_frobenius, r->frobenius_limit);
    if (r->violations)
        fprintf(f, "; first violation D[%lld][%lld] = %.9g, reference %.9g, bound %.3e",
                (long long)r->first_bad_row, (long long)r->first_bad_col, r->first_bad_value,
                r->first_bad_ref, r->first_bad_bound);
    fputc('\n', f);
}
