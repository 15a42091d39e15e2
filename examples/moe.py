"""A mixture-of-experts feed-forward layer in FP8: routed tokens through fp8block's grouped GEMMs.

Each token goes to its top-k experts (a random router); each expert is a two-layer MLP,
y_e = W2_e · silu(W1_e · x). The FP8 path sorts the token copies by expert (the contiguous
layout: G + 1 row offsets, any group size), quantizes them 1x128, and runs both projections as
one grouped GEMM each, with every expert's weights quantized 128x128 once (quantize_128x128 of
the [G][N][K] stack). The script prints the error of the FP8 layer and of the same layer in bf16
(one torch matmul per expert) against an fp32 computation, and the time of each.

    python examples/moe.py                                          # CUDA device 0 (Hopper)
    python examples/moe.py --device cpu --tokens 64 --d-model 256 --hidden 128 --experts 4

Needs PyTorch, the fp8block package (pip install . at the repository root, or PYTHONPATH=python) and
libfp8block.so (make build); for --device cuda an sm_90 GPU.
"""

import argparse
import sys
import time


def route(x, experts, top_k, generator):
    """Each token's top_k experts by a random router: (the token of each copy, its gate weight),
    the copies sorted by expert, and the G + 1 row offsets of the sorted copies (int32, on the
    tokens' device)."""
    import torch

    router = torch.randn(x.shape[1], experts, generator=generator).to(x.device)
    gates, chosen = torch.topk(torch.softmax(x.float() @ router, dim=-1), top_k, dim=-1)
    expert_of_copy = chosen.reshape(-1)
    order = torch.argsort(expert_of_copy, stable=True)
    token_of_copy = torch.arange(x.shape[0], device=x.device).repeat_interleave(top_k)[order]
    counts = torch.bincount(expert_of_copy, minlength=experts)
    offsets = torch.zeros(experts + 1, dtype=torch.int32, device=x.device)
    offsets[1:] = torch.cumsum(counts, 0)
    return token_of_copy, gates.reshape(-1)[order], offsets


def moe_fp8(fp8block, x, w1, w2, token_of_copy, gate_of_copy, offsets):
    """The layer through fp8block: gather, quantize, grouped GEMM, silu, quantize, grouped GEMM,
    then each copy's output weighted by its gate and summed into its token."""
    import torch

    qx, sx = fp8block.quantize_1x128(x[token_of_copy])
    h = fp8block.gemm_grouped(qx, sx, w1[0], w1[1], offsets=offsets, out_dtype=torch.bfloat16)
    qh, sh = fp8block.quantize_1x128(torch.nn.functional.silu(h))
    y = fp8block.gemm_grouped(qh, sh, w2[0], w2[1], offsets=offsets, out_dtype=torch.float32)
    return torch.zeros(x.shape, dtype=torch.float32, device=x.device).index_add_(
        0, token_of_copy, y * gate_of_copy[:, None])


def moe_dense(x, w1, w2, token_of_copy, gate_of_copy, bounds, dtype):
    """The same layer with torch matmuls in `dtype`, one per expert (the reference in float32,
    the baseline in bfloat16); bounds: the row offsets as a list, read once outside the timed
    calls (reading them from the device would put a synchronisation in each)."""
    import torch

    xs = x[token_of_copy].to(dtype)
    y = torch.empty((xs.shape[0], w2.shape[1]), dtype=torch.float32, device=x.device)
    for e in range(w1.shape[0]):
        rows = slice(bounds[e], bounds[e + 1])
        h = torch.nn.functional.silu(xs[rows] @ w1[e].to(dtype).t())
        y[rows] = (h @ w2[e].to(dtype).t()).float()
    return torch.zeros(x.shape, dtype=torch.float32, device=x.device).index_add_(
        0, token_of_copy, y * gate_of_copy[:, None])


def time_of(fn, device, reps):
    """Median seconds of fn() over reps calls after one warm-up."""
    import torch

    fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--d-model", type=int, default=7168)
    parser.add_argument("--hidden", type=int, default=2048, help="each expert's inner width")
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    import fp8block

    device = torch.device(args.device)
    if not 1 <= args.top_k <= args.experts:
        parser.error(f"--top-k must lie in [1, --experts = {args.experts}]")
    generator = torch.Generator().manual_seed(args.seed)
    d, hidden, g = args.d_model, args.hidden, args.experts
    x = torch.randn(args.tokens, d, generator=generator).to(device, torch.bfloat16)
    w1 = (torch.randn(g, hidden, d, generator=generator) / d ** 0.5).to(device, torch.bfloat16)
    w2 = (torch.randn(g, d, hidden, generator=generator) / hidden ** 0.5).to(device, torch.bfloat16)
    token_of_copy, gate_of_copy, offsets = route(x, g, args.top_k, generator)
    bounds = offsets.tolist()
    sizes = [bounds[e + 1] - bounds[e] for e in range(g)]
    print(f"{args.tokens} tokens x top-{args.top_k} of {g} experts ({d} -> {hidden} -> {d}) on {device}; "
          f"rows per expert {min(sizes)}..{max(sizes)}")

    q1, q2 = fp8block.quantize_128x128(w1), fp8block.quantize_128x128(w2)  # once, as a model loads
    routed = (token_of_copy, gate_of_copy)
    fp8 = moe_fp8(fp8block, x, q1, q2, *routed, offsets)
    bf16 = moe_dense(x, w1, w2, *routed, bounds, torch.bfloat16)
    exact = moe_dense(x, w1, w2, *routed, bounds, torch.float32)
    norm = exact.norm().item()
    for name, y in (("fp8block", fp8), ("bf16", bf16)):
        print(f"  {name:8s} rel error vs fp32 {((y - exact).norm().item() / norm):.3e}")
    t_fp8 = time_of(lambda: moe_fp8(fp8block, x, q1, q2, *routed, offsets), device, args.reps)
    t_bf16 = time_of(lambda: moe_dense(x, w1, w2, *routed, bounds, torch.bfloat16), device, args.reps)
    print(f"  layer time: fp8block {t_fp8 * 1e6:.1f} us, bf16 {t_bf16 * 1e6:.1f} us "
          f"(median of {args.reps}; the fp8 time includes quantizing the tokens and the hidden layer)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
