"""Python's share of the linear layers' host time: one eager forward of
fp8block.torch.InferenceLinear, and one training step (forward and backward) of
fp8block.torch.Linear, with the library's entry points stubbed out (they return OK at once),
so what is timed is the binding's own work (argument checks, buffers, the descriptor, ctypes,
autograd), through the direct calls (_direct.py) and through the torch.library ops path. No
GPU needed: CPU tensors, the CPU backend's library loaded but never called. Median of 5 loops
of N calls.

Usage: FP8BLOCK_LIBRARY=build/libfp8block.so PYTHONPATH=python python3 bench/linear_host.py [N]
"""
import statistics
import sys
import time

import torch

import fp8block.torch as fbt
from fp8block import _library as L


class _StubLibrary:
    def fp8block_quantize_ex(self, *args):
        return 0

    def fp8block_quantize_1x128_transpose(self, *args):
        return 0

    def fp8block_transpose_128x128(self, *args):
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
    from fp8block.torch import _direct
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    layer = fbt.InferenceLinear.from_float(torch.nn.Linear(7168, 2112).to(torch.bfloat16))
    trainable = fbt.Linear.from_float(torch.nn.Linear(256, 384).to(torch.bfloat16))  # small: torch's own work
                                                                                    # (dW's cast, db) stays small
    x = torch.randn(1, 7168, dtype=torch.bfloat16)
    xt = torch.randn(4, 256, dtype=torch.bfloat16, requires_grad=True)
    dy = torch.randn(4, 384, dtype=torch.bfloat16)

    def step():
        xt.grad = None
        for p in trainable.parameters():
            p.grad = None
        trainable(xt).backward(dy)

    L.library = _StubLibrary  # after from_float, which quantized the weight for real
    times = {"forward": per_call_us(lambda: layer(x), calls), "step": per_call_us(step, calls // 4)}
    _direct.usable = lambda *tensors: False  # both layers through the ops
    fbt.InferenceLinear._direct_forward = lambda self, x: None
    times["forward ops"], times["step ops"] = per_call_us(lambda: layer(x), calls), per_call_us(step, calls // 4)
    print(f"Python host time with the library stubbed, torch {torch.__version__}:")
    print(f"  InferenceLinear 1x7168 -> 2112 forward: direct calls {times['forward']:6.1f} us, "
          f"ops path {times['forward ops']:6.1f} us")
    print(f"  Linear 256 -> 384 step (forward + backward, 4 rows): direct calls {times['step']:6.1f} us, "
          f"ops path {times['step ops']:6.1f} us")


if __name__ == "__main__":
    main()
