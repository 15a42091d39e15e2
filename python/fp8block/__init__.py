"""fp8block: FP8 (e4m3) GEMM with 1x128 / 128x128 block quantization, for NumPy and PyTorch.

    import torch, fp8block
    x = torch.randn(256, 1024, dtype=torch.bfloat16, device="cuda")   # activations M×K
    w = torch.randn(512, 1024, dtype=torch.bfloat16, device="cuda")   # weights     N×K
    qx, sx = fp8block.quantize_1x128(x)
    qw, sw = fp8block.quantize_128x128(w)
    y = fp8block.gemm(qx, sx, qw, sw)                                 # ≈ x @ w.T, bf16

NumPy arrays (float32/float16, or ml_dtypes.bfloat16) run the same calls on the CPU
reference backend. The C library libfp8block.so is found through $FP8BLOCK_LIBRARY, next
to this package (where `pip install .` puts the one it compiled), or in the repository's
build/ directory (`make build`). See ops.py for the layouts and how the same tensors feed
torch._scaled_mm.
"""

from ._library import VERSION as _VERSION, Fp8BlockError, LibraryNotFoundError, Status, library_path, library_version
from .ops import (dequantize_128x128, dequantize_1x128, gemm, gemm_grouped, quantize_128x128,
                  quantize_1x128, quantize_1x128_transpose, transpose_128x128)

__version__ = ".".join(str(part) for part in _VERSION)

for _cls in (Fp8BlockError, LibraryNotFoundError, Status):
    _cls.__module__ = __name__

__all__ = [
    "Fp8BlockError", "LibraryNotFoundError", "Status", "library_path", "library_version",
    "quantize_1x128", "quantize_128x128", "dequantize_1x128", "dequantize_128x128", "gemm",
    "quantize_1x128_transpose", "transpose_128x128", "gemm_grouped",
]
