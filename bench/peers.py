#!/usr/bin/env python3
"""Same-run peer bench: fp8block beside DeepGEMM v1 and cuBLASLt block-scaled, on one GPU,
in one process, on the same tensors.

For each shape the operands are quantized once by fp8block (1x128 activations, 128x128
weights) and handed unchanged to every peer: fp8block's C library through ctypes, DeepGEMM's
gemm_fp8_fp8_bf16_nt (A scales as sa.t(), its "TMA-aligned M-major" layout), and cuBLASLt
through torch._scaled_mm's block-wise path (the heuristic's first algorithm, as PyTorch calls
it). D is bf16 everywhere; the peers' outputs are checked against fp8block's and against an
fp32 product of the dequantized operands before anything is timed.

Three times per method, each reported:
  gpu    CUDA events around one call, L2 flushed before it, host launch hidden behind a
         spin kernel; median of --reps, the methods of a shape taken in turn, shuffled
  kernel device time of the method's own kernels from torch.profiler (CUPTI), no launch
         in it; mean of --reps calls, each after an L2 flush
  host   wall time per call of --host-calls calls back to back with no sync (the Python
         cost of one call: what a decode loop sees when the GPU keeps up); and the same
         loop's wall time per call up to the final sync
A peer that cannot run a shape is skipped with its reason; nothing is dropped silently.

Then the HBM read ceiling, measured independently of the GEMMs: a streaming kernel with
16-byte loads (CuPy, compiled at run time) at full occupancy, kernel time from the profiler,
beside a device-to-device copy; at 117 MB, 1 GB and the bytes each of the three largest-B
small-M shapes reads, whose GEMM kernel times are then given as a fraction of that ceiling.

Usage (on the GPU machine; DeepGEMM carried as README's anchors section says):
  FP8BLOCK_LIBRARY=build/libfp8block.so PYTHONPATH=python:peers/deepgemm-v1 \\
      python3 bench/peers.py --json OUT.json
"""

import argparse
import ctypes
import json
import math
import os
import random
import statistics
import sys
import time
import traceback

try:  # DeepGEMM's JIT wants the system NVRTC loaded before torch's
    import cuda.bindings.nvrtc  # noqa: F401
except Exception:
    pass

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_shapes import EXTRA, LARGE, SMALL  # noqa: E402


def ceil_div(a, b):
    return (a + b - 1) // b


# ---------------------------------------------------------------------------------------
# The three methods, each a zero-argument call on prepared tensors.

class Fp8block:
    name = "fp8block"

    def __init__(self):
        import fp8block
        from fp8block import _library as L
        self.fp8block, self.L = fp8block, L
        self.lib = L.library()
        self.ctx = L.context(torch.cuda.current_device())
        self.gemm_fn = self.lib.fp8block_gemm

    def prepare(self, p):
        q = p["fp8block"]
        d = torch.empty((p["m"], q["ldd"]), dtype=torch.bfloat16, device="cuda")
        stream = torch.cuda.current_stream().cuda_stream
        args = (self.ctx, p["m"], p["n"], p["k"], p["a"].data_ptr(), p["a"].stride(0),
                p["sa"].data_ptr(), p["sa"].stride(0), p["b"].data_ptr(), p["b"].stride(0),
                p["sb"].data_ptr(), p["sb"].stride(0), d.data_ptr(), self.L.BF16, q["ldd"],
                stream)
        fn, ctx, L = self.gemm_fn, self.ctx, self.L

        def call():
            st = fn(*args)
            if st:
                L.check(st, ctx)
        return call, d[:, :p["n"]]


class DeepGemm:
    name = "deepgemm"

    def __init__(self):
        import deep_gemm
        self.dg = deep_gemm

    def prepare(self, p):
        m, n = p["m"], p["n"]
        d = torch.empty((m, n), dtype=torch.bfloat16, device="cuda")
        sa = p["sa"].t()  # (M, kb), strides (1, round_up(M, 4)): DeepGEMM's own layout
        if self.dg.get_col_major_tma_aligned_tensor(sa).data_ptr() != sa.data_ptr():
            raise RuntimeError("fp8block's A scales are not in DeepGEMM's layout")
        sb = p["sb"].contiguous()  # DeepGEMM takes no leading dimension for B's scales
        a, b, dg = p["a"], p["b"], self.dg

        def call():
            dg.gemm_fp8_fp8_bf16_nt((a, sa), (b, sb), d)
        return call, d


class ScaledMm:
    name = "cublaslt"

    def prepare(self, p):
        a, b, sa, sb = p["a"], p["b"], p["sa"], p["sb"]
        if p["m"] % 4:
            raise RuntimeError("cuBLASLt's block-scaled path needs M % 4 == 0")

        def call():
            return torch._scaled_mm(a, b.t(), scale_a=sa.t(), scale_b=sb.t(),
                                    out_dtype=torch.bfloat16)
        out = {}

        def call_keep():
            out["d"] = call()
        call_keep()
        torch.cuda.synchronize()
        return call, out["d"]


# ---------------------------------------------------------------------------------------
# Timing.

class Timer:
    def __init__(self, spin_us=400):
        l2 = torch.cuda.get_device_properties(0).L2_cache_size
        self.flush = torch.empty(max(4 * l2, 256 << 20), dtype=torch.uint8, device="cuda")
        clock_khz = torch.cuda.get_device_properties(0).clock_rate if hasattr(
            torch.cuda.get_device_properties(0), "clock_rate") else 1_980_000
        self.spin_cycles = int(spin_us * 1e-6 * clock_khz * 1e3)

    def flush_l2(self):
        self.flush.zero_()

    def gpu_times(self, calls, reps, rng):
        """{name: [us...]}: one call between events, L2 flushed, host hidden by a spin."""
        times = {name: [] for name in calls}
        names = list(calls)
        pending = []
        for _ in range(reps):
            rng.shuffle(names)
            for name in names:
                self.flush_l2()
                torch.cuda._sleep(self.spin_cycles)
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                calls[name]()
                end.record()
                pending.append((name, start, end))
            torch.cuda.synchronize()
            for name, start, end in pending:
                times[name].append(start.elapsed_time(end) * 1e3)
            pending.clear()
        return times

    def kernel_times(self, calls, reps):
        """{name: (mean us of its kernels per call, kernel names)} from the profiler."""
        from torch.profiler import profile, ProfilerActivity
        result = {}
        for name, call in calls.items():
            call()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(reps):
                    self.flush_l2()
                    call()
                torch.cuda.synchronize()
            total, kernels = 0.0, {}
            for ev in prof.events():
                if ev.device_type != torch.autograd.DeviceType.CUDA:
                    continue
                low = ev.name.lower()
                if "fill" in low or "memset" in low or "zero" in low:
                    continue  # the flush
                dt = getattr(ev, "device_time", None)
                if dt is None:
                    dt = ev.cuda_time
                total += dt
                kernels[ev.name[:60]] = kernels.get(ev.name[:60], 0) + 1
            result[name] = (total / reps, sorted(kernels))
        return result

    def host_times(self, calls, n_calls):
        """{name: (host us per call, wall us per call to the final sync)}."""
        result = {}
        for name, call in calls.items():
            for _ in range(5):
                call()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(n_calls):
                call()
            t1 = time.perf_counter()
            torch.cuda.synchronize()
            t2 = time.perf_counter()
            result[name] = ((t1 - t0) / n_calls * 1e6, (t2 - t0) / n_calls * 1e6)
        return result


# ---------------------------------------------------------------------------------------
# Operands.

def make_problem(fp8block, m, n, k, gen):
    x = torch.randn((m, k), dtype=torch.bfloat16, device="cuda", generator=gen)
    w = torch.randn((n, k), dtype=torch.bfloat16, device="cuda", generator=gen)
    a, sa = fp8block.quantize_1x128(x)
    b, sb = fp8block.quantize_128x128(w)
    # fp32 product of the dequantized operands: what every method computes, before rounding
    xa = fp8block.dequantize_1x128(a, sa, out_dtype="float32")
    wb = fp8block.dequantize_128x128(b, sb, out_dtype="float32")
    ref = xa @ wb.t()
    return {"m": m, "n": n, "k": k, "a": a, "sa": sa, "b": b, "sb": sb, "ref": ref,
            "fp8block": {"ldd": ceil_div(n, 8) * 8}}


def rel_error(d, ref):
    d = d.float()
    return float((d - ref).norm() / ref.norm().clamp_min(1e-30))


def gemm_read_bytes(m, n, k):
    """What a GEMM must read: A and B codes, their fp32 scales (1x128 and 128x128 blocks)."""
    kb = -(-k // 128)
    return m * k + n * k + 4 * (m * kb + -(-n // 128) * kb)


def largest_b(shapes, count=3):
    """The `count` largest B (N x K) among the shapes, each with the shapes that read it."""
    by_b = {}
    for r in shapes:
        by_b.setdefault((r["n"], r["k"]), []).append(r)
    return sorted(by_b.items(), key=lambda item: -item[0][0] * item[0][1])[:count]


def read_ceiling(timer, out, small_rows):
    """HBM read rate of a plain streaming kernel and of a copy, kernel time from CUPTI: at 117 MB
    and 1 GB, and at the bytes each of the three largest-B small-M shapes reads, against which
    those GEMMs' kernel times are put (the issue's bar: >= 85% of the ceiling)."""
    try:
        import cupy
    except Exception as e:
        out["read_ceiling"] = {"skipped": f"cupy unavailable: {e}"}
        print(f"read ceiling: skipped (cupy unavailable: {e})")
        return
    src = r'''
    extern "C" __global__ void __launch_bounds__(512) stream_read(const uint4 *__restrict__ p,
                                                                 long long n, unsigned *sink)
    {
        unsigned acc = 0;
        long long stride = (long long)gridDim.x * blockDim.x;
        long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
        #pragma unroll 1
        for (; i + 7 * stride < n; i += 8 * stride) {
            uint4 v[8];
            #pragma unroll
            for (int u = 0; u < 8; u++) v[u] = __ldcs(p + i + u * stride);
            #pragma unroll
            for (int u = 0; u < 8; u++) acc ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
        }
        for (; i < n; i += stride) { uint4 v = __ldcs(p + i); acc ^= v.x ^ v.y ^ v.z ^ v.w; }
        if (acc == 0x9e3779b9u) *sink = acc;
    }'''
    kern = cupy.RawKernel(src, "stream_read")
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    sink = torch.zeros(1, dtype=torch.int32, device="cuda")
    rows = []
    targets = largest_b(small_rows)
    sizes = [117_440_512, 1 << 30] + sorted({gemm_read_bytes(r["m"], r["n"], r["k"]) // 16 * 16
                                             for _, rs in targets for r in rs})
    for nbytes in sizes:
        buf = torch.randint(0, 255, (nbytes,), dtype=torch.uint8, device="cuda")
        dst = torch.empty_like(buf)
        n16 = nbytes // 16
        for blocks_per_sm in (4, 8):
            grid = sms * blocks_per_sm

            def run(grid=grid, buf=buf, n16=n16):
                kern((grid,), (512,), (buf.data_ptr(), cupy.int64(n16), sink.data_ptr()))
            kt = timer.kernel_times({"read": run}, 20)["read"][0]
            rows.append({"bytes": nbytes, "kind": f"read {grid}x512 16B", "kernel_us": kt,
                         "GBps": nbytes / kt / 1e3})
        kt = timer.kernel_times({"copy": lambda: dst.copy_(buf)}, 20)["copy"][0]
        rows.append({"bytes": nbytes, "kind": "copy (read+write counted)", "kernel_us": kt,
                     "GBps": 2 * nbytes / kt / 1e3})
        del buf, dst
    out["read_ceiling"] = rows
    print("\nHBM read ceiling (kernel time from the profiler):")
    for r in rows:
        print(f"  {r['bytes'] / 1e6:8.1f} MB  {r['kind']:28s} {r['kernel_us']:9.1f} us "
              f"{r['GBps']:8.0f} GB/s")
    # Each shape against the faster streaming read of its own bytes: that read's kernel time
    # over the GEMM's (1.0: the GEMM reads as fast as a kernel that does nothing else).
    fractions = []
    print("\nLargest-B shapes against the read ceiling of their own bytes (kernel times):")
    for (n, k), shape_rows in targets:
        for r in shape_rows:
            nbytes = gemm_read_bytes(r["m"], r["n"], r["k"]) // 16 * 16
            ceiling = min(c["kernel_us"] for c in rows if c["bytes"] == nbytes and c["kind"].startswith("read"))
            line = {"m": r["m"], "n": n, "k": k, "bytes": nbytes, "ceiling_us": ceiling}
            for name in ("fp8block", "deepgemm"):
                kt = r["methods"].get(name, {}).get("kernel_us")
                if kt:
                    line[name] = ceiling / kt
            fractions.append(line)
            print(f"  {r['m']:5d}x{n:5d}x{k:5d}  {nbytes / 1e6:7.1f} MB  ceiling {ceiling:6.1f} us  " +
                  "  ".join(f"{name} {line[name]:.1%}" for name in ("fp8block", "deepgemm") if name in line))
    out["ceiling_fractions"] = fractions


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shapes", default="all", help="large, small, extra, all, or M,N,K;...")
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--host-calls", type=int, default=200)
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--no-ceiling", action="store_true")
    args = ap.parse_args()

    torch.cuda.set_device(0)
    props = torch.cuda.get_device_properties(0)
    if args.shapes == "all":
        shapes = LARGE + SMALL + EXTRA
    elif args.shapes in ("large", "small", "extra"):
        shapes = {"large": LARGE, "small": SMALL, "extra": EXTRA}[args.shapes]
    else:
        shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes.split(";")]

    import fp8block
    methods, absent = [], {}
    for cls in (Fp8block, DeepGemm, ScaledMm):
        try:
            methods.append(cls())
        except Exception as e:
            absent[cls.name] = f"{type(e).__name__}: {e}"
    out = {"device": props.name, "sms": props.multi_processor_count,
           "torch": torch.__version__, "cuda": torch.version.cuda,
           "commit": os.environ.get("FP8BLOCK_COMMIT", "unknown"),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "absent": absent, "shapes": []}
    print(f"peers on {props.name} ({props.multi_processor_count} SMs), torch {torch.__version__}, "
          f"CUDA {torch.version.cuda}, commit {out['commit']}")
    for name, why in absent.items():
        print(f"  {name}: absent ({why})")

    timer = Timer()
    rng = random.Random(1234)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(1)

    # Warm DeepGEMM's JIT for every shape in parallel threads (each compile is an nvcc run).
    problems = {}
    for s in shapes:
        problems[s] = make_problem(fp8block, *s, gen)
    dg = next((mt for mt in methods if mt.name == "deepgemm"), None)
    if dg is not None:
        from concurrent.futures import ThreadPoolExecutor
        t0 = time.time()

        def warm(s):
            torch.cuda.set_device(0)
            try:
                call, _ = dg.prepare(problems[s])
                call()
                return None
            except Exception as e:
                return f"{type(e).__name__}: {e}"
        with ThreadPoolExecutor(max_workers=12) as pool:
            warm_err = dict(zip(shapes, pool.map(warm, shapes)))
        torch.cuda.synchronize()
        print(f"DeepGEMM JIT warm-up of {len(shapes)} shapes: {time.time() - t0:.0f} s")
    else:
        warm_err = {}

    header = (f"{'M':>5} {'N':>6} {'K':>6} | {'method':9s} {'gpu us':>9} {'kern us':>9} "
              f"{'host us':>8} {'b2b us':>8} | {'TFLOP/s':>8} {'GB/s':>7} | {'rel err':>8} "
              f"| vs fp8block (gpu)")
    print(header)
    for s in shapes:
        m, n, k = s
        p = problems[s]
        calls, outs, row = {}, {}, {"m": m, "n": n, "k": k, "methods": {}, "skipped": {}}
        for mt in methods:
            if mt.name == "deepgemm" and warm_err.get(s):
                row["skipped"][mt.name] = warm_err[s]
                continue
            try:
                call, d = mt.prepare(p)
                call()
                torch.cuda.synchronize()
                calls[mt.name], outs[mt.name] = call, d
            except Exception as e:
                row["skipped"][mt.name] = f"{type(e).__name__}: {e}"
        # Agreement before timing: every output against the fp32 reference and fp8block's.
        if "cublaslt" in calls:  # _scaled_mm returns a new tensor: take the last one
            outs["cublaslt"] = torch._scaled_mm(p["a"], p["b"].t(), scale_a=p["sa"].t(),
                                                scale_b=p["sb"].t(), out_dtype=torch.bfloat16)
        errs = {name: rel_error(d, p["ref"]) for name, d in outs.items()}
        for name, e in list(errs.items()):
            if not (e < 1e-2):
                row["skipped"][name] = f"wrong result: relative error {e:.3g} against fp32"
                calls.pop(name, None)
        gpu = timer.gpu_times(calls, args.reps, rng) if calls else {}
        kern = timer.kernel_times(calls, args.reps) if calls else {}
        host = timer.host_times(calls, args.host_calls) if calls else {}
        flops = 2.0 * m * n * k
        nbytes = m * k + n * k + 2 * m * n + 4 * (m * ceil_div(k, 128) + ceil_div(n, 128) * ceil_div(k, 128))
        base = statistics.median(gpu["fp8block"]) if "fp8block" in gpu else None
        for name in calls:
            g = statistics.median(gpu[name])
            kt, kn = kern[name]
            h, w = host[name]
            r = {"gpu_us": g, "gpu_us_all": gpu[name], "kernel_us": kt, "kernels": kn,
                 "host_us": h, "b2b_us": w, "rel_err": errs[name],
                 "tflops": flops / g / 1e6, "kernel_GBps": nbytes / kt / 1e3 if kt else None}
            row["methods"][name] = r
            vs = f"{g / base:.3f}x" if base and name != "fp8block" else ""
            print(f"{m:5d} {n:6d} {k:6d} | {name:9s} {g:9.1f} {kt:9.1f} {h:8.1f} {w:8.1f} | "
                  f"{r['tflops']:8.1f} {nbytes / kt / 1e3 if kt else 0:7.0f} | {errs[name]:8.2e} | {vs}")
        for name, why in row["skipped"].items():
            print(f"{m:5d} {n:6d} {k:6d} | {name:9s} skipped: {why}")
        out["shapes"].append(row)
        sys.stdout.flush()

    # Geomeans of fp8block's speed over each peer (peer time / fp8block time: > 1 is faster).
    def geo(rows, peer, key):
        ratios = [r["methods"][peer][key] / r["methods"]["fp8block"][key] for r in rows
                  if peer in r["methods"] and "fp8block" in r["methods"]]
        left = [f"{r['m']}x{r['n']}x{r['k']}" for r in rows
                if not (peer in r["methods"] and "fp8block" in r["methods"])]
        if not ratios:
            return None, 0, left
        return math.exp(sum(map(math.log, ratios)) / len(ratios)), min(ratios), left
    print("\nfp8block speed-up (peer time / fp8block time), geomean and lowest:")
    summary = {}
    for label, rows in (("M >= 4096", [r for r in out["shapes"] if r["m"] >= 4096]),
                        ("M <= 128", [r for r in out["shapes"] if r["m"] <= 128 and
                                      (r["m"], r["n"], r["k"]) in SMALL]),
                        ("extra M", [r for r in out["shapes"] if (r["m"], r["n"], r["k"]) in EXTRA])):
        if not rows:
            continue
        for peer in ("deepgemm", "cublaslt"):
            for key in ("gpu_us", "kernel_us"):
                g, lo, left = geo(rows, peer, key)
                summary[f"{label} {peer} {key}"] = {"geomean": g, "lowest": lo, "left_out": left}
                if g is None:
                    print(f"  {label:9s} vs {peer:8s} ({key:9s}): no shape ({len(left)} left out)")
                else:
                    print(f"  {label:9s} vs {peer:8s} ({key:9s}): {g:.3f}x, lowest {lo:.3f}x"
                          + (f"; left out: {', '.join(left)}" if left else ""))
    out["summary"] = summary

    if not args.no_ceiling:
        try:
            read_ceiling(timer, out, [r for r in out["shapes"] if (r["m"], r["n"], r["k"]) in SMALL])
        except Exception:
            traceback.print_exc()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
