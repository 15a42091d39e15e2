// The measurement program of bench/results/gemm-v17-h100-20261125/run19-wgmma-rate.txt (experiment code kept with its result, not built by
// the project): nvcc -O3 -gencode arch=compute_90a,code=sm_90a -std=c++17 -I src/cuda -I include run19-wgmma-rate.cu
// Microbenchmark: wgmma e4m3 throughput per SM cycle for instruction shapes the GEMM could use.
// Every CTA (one per SM) runs WGS warpgroups, each looping over K blocks of four k32 wgmma on
// fixed shared-memory tiles; cycles from clock64 on each CTA, so the rate is per cycle (clock-free).
// Modes: 0 SS n128 accumulate in place, 1 SS n256, 2 RS n128, 3 SS n128 with a wait + 64-FFMA
// promotion per K block (the GEMM's chain), 4 SS n128 wait per K block, no promotion.
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include "ptx.cuh"
#include "wgmma_fp8.cuh"
template <>
__device__ __forceinline__ void wgmma_m64k32_e4m3<256>(float *d, uint64_t desc_a, uint64_t desc_b, int accumulate)
{
    asm volatile(
        "{\n.reg .pred p;\n"
        "setp.ne.b32 p, %130, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n256k32.f32.e4m3.e4m3 "
        "{"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "
        "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "
        "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "
        "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, "
        "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
        "}, %128, %129, p, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),
          "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]), "+f"(d[71]),
          "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]), "+f"(d[78]), "+f"(d[79]),
          "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]),
          "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]),
          "+f"(d[96]), "+f"(d[97]), "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
          "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]), "+f"(d[111]),
          "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]), "+f"(d[117]), "+f"(d[118]), "+f"(d[119]),
          "+f"(d[120]), "+f"(d[121]), "+f"(d[122]), "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])
        : "l"(desc_a), "l"(desc_b), "r"(accumulate));
}

__device__ __forceinline__ void wgmma_rs128(float *d, const uint32_t *a, uint64_t desc_b, int accumulate)
{
    asm volatile(
        "{\n.reg .pred p;\n"
        "setp.ne.b32 p, %69, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 "
        "{"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
        "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
        "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
        "}, {%64, %65, %66, %67}, %68, p, 1, 1;\n}\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b), "r"(accumulate));
}
template <int MODE, int WGS>
__global__ void __launch_bounds__(WGS * 128, 1) rate(int kblocks, long long *cycles, float *sink)
{
    extern __shared__ __align__(1024) uint8_t smem[];
    uint8_t *base = (uint8_t *)(((uintptr_t)smem + 1023) & ~(uintptr_t)1023);
    for (int i = threadIdx.x; i < (64 * 128 * 3 + 256 * 128) / 4; i += blockDim.x) ((uint32_t *)base)[i] = 0x38383838u * (i & 1);
    __syncthreads();
    const int wg = threadIdx.x / 128;
    const uint32_t a_addr = smem_addr(base + wg * 64 * 128), b_addr = smem_addr(base + 3 * 64 * 128);
    const uint64_t da = wgmma_desc_k128_sw128(a_addr), db = wgmma_desc_k128_sw128(b_addr);
    constexpr int N = MODE == 1 ? 256 : 128;
    float acc[N / 2], tmp[64], sum[64];
    uint32_t a[16];
    for (int i = 0; i < N / 2; i++) acc[i] = 0.f;
    for (int i = 0; i < 64; i++) tmp[i] = 0.f, sum[i] = 0.f;
    for (int i = 0; i < 16; i++) a[i] = 0x38383838u;
    long long t0 = clock64();
    for (int kb = 0; kb < kblocks; kb++) {
        if (MODE == 3 || MODE == 4) {
            for (int i = 0; i < 64; i++) fence_registers(tmp[i]);
            wgmma_fence();
            for (int s = 0; s < 4; s++) wgmma_m64k32_e4m3<128>(tmp, da + 2 * s, db + 2 * s, s > 0);
            wgmma_commit();
            wgmma_wait_all();
            for (int i = 0; i < 64; i++) fence_registers(tmp[i]);
            if (MODE == 3) for (int i = 0; i < 64; i++) sum[i] = fmaf(tmp[i], 1.0001f, sum[i]);
        } else {
            for (int i = 0; i < N / 2; i++) fence_registers(acc[i]);
            wgmma_fence();
            for (int s = 0; s < 4; s++) {
                if (MODE == 2) wgmma_rs128(acc, a + 4 * s, db + 2 * s, 1);
                else wgmma_m64k32_e4m3<N>(acc, da + 2 * s, db + 2 * s, 1);
            }
            wgmma_commit();
            wgmma_wait_all_but_last();
        }
    }
    wgmma_wait_all();
    long long t1 = clock64();
    if (threadIdx.x == 0) cycles[blockIdx.x] = t1 - t0;
    float x = 0.f;
    for (int i = 0; i < N / 2; i++) x += acc[i];
    for (int i = 0; i < 64; i++) x += sum[i] + tmp[i];
    if (x == 12345.f) sink[threadIdx.x] = x;
}

template <int MODE, int WGS>
void run(const char *name, int sms)
{
    const int kblocks = 4000;
    long long *cycles; float *sink;
    cudaMalloc(&cycles, sms * sizeof(long long)); cudaMalloc(&sink, 4096);
    int smem = 64 * 128 * 3 + 256 * 128 + 1024;
    cudaFuncSetAttribute(rate<MODE, WGS>, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
    rate<MODE, WGS><<<sms, WGS * 128, smem>>>(10, cycles, sink);
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    cudaEventRecord(e0);
    rate<MODE, WGS><<<sms, WGS * 128, smem>>>(kblocks, cycles, sink);
    cudaEventRecord(e1); cudaEventSynchronize(e1);
    cudaError_t err = cudaGetLastError();
    float ms; cudaEventElapsedTime(&ms, e0, e1);
    long long *h = (long long *)malloc(sms * sizeof(long long));
    cudaMemcpy(h, cycles, sms * sizeof(long long), cudaMemcpyDeviceToHost);
    double cyc = 0; for (int i = 0; i < sms; i++) cyc += h[i]; cyc /= sms;
    const int n = MODE == 1 ? 256 : 128;
    double flop_per_sm = 2.0 * 64 * n * 128 * (double)kblocks * WGS;
    printf("%-44s WGS=%d: %s %.3f ms, %.0f TFLOP/s, %.0f MHz, %.1f%% of the tensor peak per cycle\n", name, WGS,
           err == cudaSuccess ? "ok" : cudaGetErrorString(err), ms, flop_per_sm * sms / (ms * 1e-3) * 1e-12,
           cyc / (ms * 1e3), 100.0 * flop_per_sm / cyc / 8192.0);
    free(h); cudaFree(cycles); cudaFree(sink);
}

int main()
{
    int sms; cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    run<0, 2>("SS m64n128k32, in place, 2 groups in flight", sms);
    run<0, 3>("SS m64n128k32, in place, 2 groups in flight", sms);
    run<1, 2>("SS m64n256k32, in place, 2 groups in flight", sms);
    run<2, 2>("RS m64n128k32, in place, 2 groups in flight", sms);
    run<2, 3>("RS m64n128k32, in place, 2 groups in flight", sms);
    run<4, 2>("SS n128, wait per K block, no promotion", sms);
    run<4, 3>("SS n128, wait per K block, no promotion", sms);
    run<3, 2>("SS n128, wait + 64-FFMA promotion per K block", sms);
    run<3, 3>("SS n128, wait + 64-FFMA promotion per K block", sms);
    return 0;
}
