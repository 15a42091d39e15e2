"""Python's share of fp8block.torch.InferenceLinear's host time: one eager forward with the
library's entry points stubbed out (they return OK at once), so what is timed is the binding's
own work (argument checks, buffers, the descriptor, ctypes), through the direct calls and
through the torch.library ops path. No GPU needed: CPU tensors, the CPU backend's library
loaded but never called. Median of 5 loops of N calls.

Usage: FP8BLOCK_LIBRARY=build/libfp8block.so PYTHONPATH=python python3 bench/linear_host.py [N]
"""
import statistics
import sys
import time

import torch

import fp8block.torch as fbt
from fp8block import _library as L
from fp8block import ops


class _StubLibrary:
    def fp8block_quantize_ex(self, *args):
        return 0

    def fp8block_gemm_ex(self, *args):
        return 0


def per_call_us(fn, calls):
    for _ in range(50):
        fn()
    loops = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        loops.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(loops)


def main():
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    layer = fbt.InferenceLinear.from_float(torch.nn.Linear(7168, 2112).to(torch.bfloat16))
    x = torch.randn(1, 7168, dtype=torch.bfloat16)
    L.library = _StubLibrary  # after from_float, which quantized the weight for real
    ops._call = lambda *args: None
    direct = per_call_us(lambda: layer(x), calls)
    fbt.InferenceLinear._direct_forward = lambda self, x: None
    through_ops = per_call_us(lambda: layer(x), calls)
    print(f"InferenceLinear 1x7168 -> 2112, Python host time per forward (library stubbed), torch {torch.__version__}:")
    print(f"  direct calls {direct:6.1f} us")
    print(f"  ops path     {through_ops:6.1f} us")


if __name__ == "__main__":
    main()
