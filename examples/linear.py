"""A bf16 torch.nn.Linear whose forward runs as fp8block quantize + FP8 GEMM.

The weight is quantized once (128x128 blocks); each forward quantizes the activations
(1x128 blocks) and multiplies in FP8 with fp32 accumulation, giving bf16. The script
prints the time of the bf16 forward and of the FP8 one (quantize + GEMM, and the GEMM
alone), and the error of each against the exact product.

    python examples/linear.py                      # CUDA device 0 (Hopper)
    python examples/linear.py --device cpu --tokens 64 --in-features 1024 --out-features 512

Needs PyTorch, the fp8block package (pip install . at the repository root, or PYTHONPATH=python) and
libfp8block.so (make build); for --device cuda an sm_90 GPU.
"""

import argparse
import sys
import time


class Fp8Linear:
    """The forward of a Linear layer (y = x·Wᵀ + b) on FP8 block-quantized operands."""

    def __init__(self, linear):
        import fp8block

        self.fp8block = fp8block
        self.qw, self.sw = fp8block.quantize_128x128(linear.weight.detach())
        self.bias = None if linear.bias is None else linear.bias.detach()
        self.out_features = linear.out_features

    def __call__(self, x):
        leading = x.shape[:-1]
        qx, sx = self.fp8block.quantize_1x128(x.reshape(-1, x.shape[-1]))
        y = self.fp8block.gemm(qx, sx, self.qw, self.sw, out_dtype=x.dtype)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*leading, self.out_features)


def timed(fn, device, iters):
    """Mean seconds per call of fn(), after warm-up."""
    import torch

    for _ in range(3):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / iters
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) / iters


def relative_error(y, exact):
    return ((y.double() - exact).norm() / exact.norm()).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--tokens", type=int, default=4096, help="rows of x (batch × sequence)")
    parser.add_argument("--in-features", type=int, default=7168)
    parser.add_argument("--out-features", type=int, default=2112)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        print("linear.py needs PyTorch (pip install torch); with a Hopper GPU for --device cuda.")
        return 0
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("linear.py needs a CUDA GPU (sm_90, Hopper) for --device cuda, and torch sees none.\n"
              "Run `python examples/linear.py --device cpu --tokens 64 --in-features 1024 "
              "--out-features 512` to try the CPU reference backend instead.")
        return 0
    try:
        import fp8block
        fp8block.library_path()
    except ImportError as e:
        print(f"linear.py needs the fp8block package and its library:\n{e}")
        return 0

    torch.manual_seed(0)
    linear = torch.nn.Linear(args.in_features, args.out_features, dtype=torch.bfloat16, device=device)
    x = torch.randn(args.tokens, args.in_features, dtype=torch.bfloat16, device=device)
    try:
        fp8_linear = Fp8Linear(linear)
        qx, sx = fp8block.quantize_1x128(x)
        y_fp8 = fp8_linear(x)
    except fp8block.Fp8BlockError as e:
        if e.status != fp8block.Status.ERR_UNSUPPORTED:
            raise
        print(f"fp8block cannot run on {device} here: {e}")
        return 0
    with torch.no_grad():
        y_bf16 = linear(x)
        exact = x.double() @ linear.weight.double().t() + linear.bias.double()

    m, k, n = args.tokens, args.in_features, args.out_features
    flops = 2.0 * m * n * k
    with torch.no_grad():
        t_bf16 = timed(lambda: linear(x), device, args.iters)
    t_fp8 = timed(lambda: fp8_linear(x), device, args.iters)
    t_quant = timed(lambda: fp8block.quantize_1x128(x), device, args.iters)
    t_gemm = timed(lambda: fp8block.gemm(qx, sx, fp8_linear.qw, fp8_linear.sw), device, args.iters)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (reference backend)"
    print(f"Linear {k} -> {n}, {m} tokens, on {name}")
    print(f"  bf16 nn.Linear           {t_bf16 * 1e3:9.3f} ms  {flops / t_bf16 / 1e12:8.1f} TFLOP/s"
          f"  rel. error {relative_error(y_bf16, exact):.2e}")
    print(f"  fp8block quantize+gemm   {t_fp8 * 1e3:9.3f} ms  {flops / t_fp8 / 1e12:8.1f} TFLOP/s"
          f"  rel. error {relative_error(y_fp8, exact):.2e}")
    print(f"    quantize_1x128 alone   {t_quant * 1e3:9.3f} ms")
    print(f"    gemm alone             {t_gemm * 1e3:9.3f} ms  {flops / t_gemm / 1e12:8.1f} TFLOP/s")
    print(f"  speed-up over bf16       {t_bf16 / t_fp8:9.2f}x (gemm alone {t_bf16 / t_gemm:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
