/* Inline-PTX wrappers for the Hopper pieces the GEMM is built from: mbarriers, TMA
 * (bulk tensor copies), cp.async, wgmma bookkeeping, setmaxnreg, fences and named barriers.
 * Shared-memory operands are 32-bit shared-window addresses (smem_addr). */
#ifndef FP8BLOCK_PTX_CUH
#define FP8BLOCK_PTX_CUH

#include <stdint.h>

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }

/* ---- mbarrier ------------------------------------------------------------------- */

__device__ __forceinline__ void mbarrier_init(uint64_t *bar, uint32_t arrivals)
{
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(arrivals));
}

/* Makes initialised barriers visible to the async proxy (TMA) before first use. */
__device__ __forceinline__ void mbarrier_init_fence(void)
{
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
}

__device__ __forceinline__ void mbarrier_arrive(uint64_t *bar)
{
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}

/* One arrival that also announces `bytes` of TMA traffic the phase must wait for. */
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint64_t *bar, uint32_t bytes)
{
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes)
                 : "memory");
}

/* A parity test of an mbarrier (INSTR: try_wait or test_wait with its qualifiers) as 0 or 1 in
 * DONE; the instruction's predicate is turned into a register by selp. */
#define MBARRIER_PARITY_TEST(INSTR, DONE, BAR, PARITY)                                              \
    asm volatile("{\n.reg .pred p;\n" INSTR " p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"          \
                 : "=r"(DONE)                                                                       \
                 : "r"(BAR), "r"(PARITY)                                                            \
                 : "memory")

/* One test of whether the phase with the given parity has completed: acquiring at CTA scope
 * (the default), or at cluster scope (what a peer CTA wrote before its arrivals is then seen). */
template <bool CLUSTER_ACQUIRE>
__device__ __forceinline__ uint32_t mbarrier_try_wait(uint32_t bar, uint32_t parity)
{
    uint32_t done;
    if constexpr (CLUSTER_ACQUIRE)
        MBARRIER_PARITY_TEST("mbarrier.try_wait.parity.acquire.cluster.shared::cta.b64", done, bar, parity);
    else
        MBARRIER_PARITY_TEST("mbarrier.try_wait.parity.shared::cta.b64", done, bar, parity);
    return done;
}

/* Whether the phase with the given parity has completed, without waiting (test_wait never
 * suspends the thread, where try_wait may until a time limit): a probe issued early whose
 * answer is read later. */
__device__ __forceinline__ uint32_t mbarrier_test_wait(uint32_t bar, uint32_t parity)
{
    uint32_t done;
    MBARRIER_PARITY_TEST("mbarrier.test_wait.parity.shared::cta.b64", done, bar, parity);
    return done;
}

/* Waits until the phase with the given parity has completed. */
__device__ __forceinline__ void mbarrier_wait(uint64_t *bar, uint32_t parity)
{
    while (!mbarrier_try_wait<false>(smem_addr(bar), parity)) {
    }
}

/* Arrives on the mbarrier at the same shared offset in CTA `cta_rank` of the cluster.
 * Default (CTA-scope) release, as CUTLASS does: an explicit .release.cluster costs a
 * cluster-wide fence per arrival, which halved the GEMM's throughput (bench/NOTES.md). */
__device__ __forceinline__ void mbarrier_arrive_cluster(uint64_t *bar, uint32_t cta_rank)
{
    asm volatile("{\n.reg .b32 remote;\n"
                 "mapa.shared::cluster.u32 remote, %0, %1;\n"
                 "mbarrier.arrive.shared::cluster.b64 _, [remote];\n}\n" ::"r"(smem_addr(bar)),
                 "r"(cta_rank)
                 : "memory");
}

/* ---- clusters --------------------------------------------------------------------- */

__device__ __forceinline__ uint32_t cluster_cta_rank(void)
{
    uint32_t rank;
    asm volatile("mov.u32 %0, %%cluster_ctarank;" : "=r"(rank));
    return rank;
}

/* The address of the same shared offset in CTA `cta_rank` of the cluster. */
__device__ __forceinline__ uint32_t cluster_map_shared(uint32_t addr, uint32_t cta_rank)
{
    uint32_t remote;
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;" : "=r"(remote) : "r"(addr), "r"(cta_rank));
    return remote;
}

__device__ __forceinline__ float4 ld_cluster_v4_f32(uint32_t remote)
{
    float4 v;
    asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];"
                 : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
                 : "r"(remote)
                 : "memory");
    return v;
}

/* A word into the peer CTA's shared memory (a `cluster_map_shared` address). */
__device__ __forceinline__ void st_cluster_u32(uint32_t remote, uint32_t v)
{
    asm volatile("st.shared::cluster.u32 [%0], %1;" ::"r"(remote), "r"(v) : "memory");
}

/* An arrival on a peer CTA's mbarrier (a `cluster_map_shared` address) that releases this
 * thread's earlier writes at cluster scope, for the peer's mbarrier_wait_cluster to acquire
 * (data sent by st_cluster_u32; unlike mbarrier_arrive_cluster, which orders only reads). */
__device__ __forceinline__ void mbarrier_arrive_release_cluster(uint32_t remote_bar)
{
    asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];" ::"r"(remote_bar) : "memory");
}

/* mbarrier_wait acquiring at cluster scope: what the peer wrote before its arrivals is seen. */
__device__ __forceinline__ void mbarrier_wait_cluster(uint32_t bar, uint32_t parity)
{
    while (!mbarrier_try_wait<true>(bar, parity)) {
    }
}

/* Every thread of every CTA in the cluster; orders shared-memory work across CTAs. */
__device__ __forceinline__ void cluster_sync(void)
{
    asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;" ::: "memory");
}

/* ---- cp.async (per-thread asynchronous copies) ------------------------------------- */

/* Copies 4 bytes from global to shared memory without holding a register for them;
 * with `bytes` = 0 nothing is read and the 4 bytes are zero (as TMA fills past the edge). */
__device__ __forceinline__ void cp_async_4(uint32_t dst, const void *src, uint32_t bytes)
{
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}

/* 16 bytes from global to shared memory, asynchronously, through L2 only (cg: what 16-byte
 * copies take); bytes < 16 reads that many and fills the rest with zeros. */
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void *src, uint32_t bytes)
{
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(bytes) : "memory");
}

/* One arrival on the mbarrier, made when every cp.async this thread issued before it has
 * landed (.noinc: it is one of the arrivals the barrier was initialised to expect). */
__device__ __forceinline__ void cp_async_mbarrier_arrive(uint64_t *bar)
{
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(smem_addr(bar)) : "memory");
}

/* ---- TMA -------------------------------------------------------------------------- */

/* The 128-byte line holding p into L1 (no register, no wait). */
__device__ __forceinline__ void prefetch_global_l1(const void *p)
{
    asm volatile("prefetch.global.L1 [%0];" ::"l"((uint64_t)p));
}

__device__ __forceinline__ void tma_prefetch_descriptor(const void *tmap)
{
    asm volatile("prefetch.tensormap [%0];" ::"l"((uint64_t)tmap) : "memory");
}

__device__ __forceinline__ void tma_load_2d(void *dst, const void *tmap, uint64_t *bar, int32_t c0, int32_t c1)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%3, %4}], [%2];" ::"r"(smem_addr(dst)),
                 "l"((uint64_t)tmap), "r"(smem_addr(bar)), "r"(c0), "r"(c1)
                 : "memory");
}

/* A box of a 3-D tensor (the grouped GEMM's B: K, N, expert). */
__device__ __forceinline__ void tma_load_3d(void *dst, const void *tmap, uint64_t *bar, int32_t c0, int32_t c1,
                                            int32_t c2)
{
    asm volatile("cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%3, %4, %5}], [%2];" ::"r"(smem_addr(dst)),
                 "l"((uint64_t)tmap), "r"(smem_addr(bar)), "r"(c0), "r"(c1), "r"(c2)
                 : "memory");
}

/* Loads a box into the same shared offset of every CTA in cta_mask (cluster ranks) and
 * signals the mbarrier at the same offset in each of them. */
__device__ __forceinline__ void tma_load_2d_multicast(void *dst, const void *tmap, uint64_t *bar, int32_t c0,
                                                      int32_t c1, uint16_t cta_mask)
{
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster"
                 " [%0], [%1, {%3, %4}], [%2], %5;" ::"r"(smem_addr(dst)),
                 "l"((uint64_t)tmap), "r"(smem_addr(bar)), "r"(c0), "r"(c1), "h"(cta_mask)
                 : "memory");
}

__device__ __forceinline__ void tma_store_2d(const void *tmap, const void *src, int32_t c0, int32_t c1)
{
    asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];" ::"l"((uint64_t)tmap),
                 "r"(smem_addr(src)), "r"(c0), "r"(c1)
                 : "memory");
}

/* D += the staged box, added by the TMA unit where D lives (L2): a store that reads D's old
 * value itself, so the SM never loads it. */
__device__ __forceinline__ void tma_reduce_add_2d(const void *tmap, const void *src, int32_t c0, int32_t c1)
{
    asm volatile("cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile.bulk_group [%0, {%2, %3}], [%1];" ::"l"(
                     (uint64_t)tmap),
                 "r"(smem_addr(src)), "r"(c0), "r"(c1)
                 : "memory");
}

__device__ __forceinline__ void tma_store_commit(void) { asm volatile("cp.async.bulk.commit_group;" ::: "memory"); }

/* Waits until committed stores have finished reading shared memory (it may be reused). */
__device__ __forceinline__ void tma_store_wait_read(void)
{
    asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory");
}

/* Waits until committed stores are complete in global memory. */
__device__ __forceinline__ void tma_store_wait_all(void) { asm volatile("cp.async.bulk.wait_group 0;" ::: "memory"); }

/* Orders this thread's ordinary shared-memory writes before later async-proxy reads
 * (a TMA store of what was just written). */
__device__ __forceinline__ void fence_proxy_async_smem(void)
{
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}

/* ---- wgmma ------------------------------------------------------------------------ */

/* Descriptor of a K-major operand tile stored as TMA writes it with 128-byte swizzle:
 * rows of 128 bytes (128 e4m3 of K), 8-row groups 1024 bytes apart. The tile must be
 * 1024-byte aligned; stepping K by 32 elements adds 32 bytes to the start address. */
__device__ __forceinline__ uint64_t wgmma_desc_k128_sw128(uint32_t smem_address)
{
    uint64_t desc = 0;
    desc |= (uint64_t)((smem_address & 0x3ffff) >> 4);
    desc |= (uint64_t)1 << 16;            /* leading byte offset: unused for swizzled K-major */
    desc |= (uint64_t)(1024 >> 4) << 32;  /* stride byte offset: next 8-row group */
    desc |= (uint64_t)1 << 62;            /* 128-byte swizzle */
    return desc;
}

__device__ __forceinline__ void wgmma_fence(void) { asm volatile("wgmma.fence.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit(void) { asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all(void) { asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory"); }
/* Waits until at most the most recently committed wgmma group is still running. */
__device__ __forceinline__ void wgmma_wait_all_but_last(void)
{
    asm volatile("wgmma.wait_group.sync.aligned 1;" ::: "memory");
}

/* Keeps the compiler from moving accumulator reads/writes across wgmma boundaries. */
__device__ __forceinline__ void fence_registers(float &r) { asm volatile("" : "+f"(r)::"memory"); }

/* ---- registers, barriers ---------------------------------------------------------- */

template <uint32_t REGS>
__device__ __forceinline__ void setmaxnreg_dec(void)
{
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(REGS));
}

template <uint32_t REGS>
__device__ __forceinline__ void setmaxnreg_inc(void)
{
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(REGS));
}

/* Barrier among `threads` threads (whole warps) on hardware barrier `id` (1..15). */
__device__ __forceinline__ void named_barrier_sync(uint32_t id, uint32_t threads)
{
    asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

__device__ __forceinline__ float2 ld_shared_v2_f32(const void *p)
{
    float2 v;
    asm volatile("ld.shared.v2.f32 {%0, %1}, [%2];" : "=f"(v.x), "=f"(v.y) : "r"(smem_addr(p)) : "memory");
    return v;
}

__device__ __forceinline__ void st_shared_v4_b32(void *p, float4 v)
{
    asm volatile("st.shared.v4.f32 [%0], {%1, %2, %3, %4};" ::"r"(smem_addr(p)), "f"(v.x), "f"(v.y), "f"(v.z),
                 "f"(v.w)
                 : "memory");
}

__device__ __forceinline__ float ld_shared_f32(const void *p)
{
    float v;
    asm volatile("ld.shared.f32 %0, [%1];" : "=f"(v) : "r"(smem_addr(p)) : "memory");
    return v;
}

__device__ __forceinline__ uint32_t ld_shared_u32(uint32_t addr)
{
    uint32_t v;
    asm volatile("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

__device__ __forceinline__ uint4 ld_shared_v4_b32(uint32_t addr)
{
    uint4 v;
    asm volatile("ld.shared.v4.b32 {%0, %1, %2, %3}, [%4];" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(addr)
                 : "memory");
    return v;
}

__device__ __forceinline__ void st_shared_f32(void *p, float v)
{
    asm volatile("st.shared.f32 [%0], %1;" ::"r"(smem_addr(p)), "f"(v) : "memory");
}

__device__ __forceinline__ void st_shared_b16(uint32_t addr, uint16_t v)
{
    asm volatile("st.shared.b16 [%0], %1;" ::"r"(addr), "h"(v) : "memory");
}

__device__ __forceinline__ void st_shared_b32(uint32_t addr, uint32_t v)
{
    asm volatile("st.shared.b32 [%0], %1;" ::"r"(addr), "r"(v) : "memory");
}

__device__ __forceinline__ void st_shared_v2_f32(uint32_t addr, float x, float y)
{
    asm volatile("st.shared.v2.f32 [%0], {%1, %2};" ::"r"(addr), "f"(x), "f"(y) : "memory");
}

__device__ __forceinline__ void st_shared_v4_f32(uint32_t addr, float4 v)
{
    asm volatile("st.shared.v4.f32 [%0], {%1, %2, %3, %4};" ::"r"(addr), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w)
                 : "memory");
}

#endif
