"""fp8block for PyTorch models: the calls as torch.library ops, and Linear layers.

    import torch, fp8block.torch as fbt
    layer = fbt.InferenceLinear.from_float(torch.nn.Linear(7168, 2112, device="cuda"))
    y = torch.compile(layer, fullgraph=True)(x)      # x (..., 7168) bf16 -> y (..., 2112) bf16

The functions here have the names, arguments and results of fp8block's own (quantize_1x128,
gemm, ...) for torch tensors, but each runs as a ``torch.ops.fp8block.*`` op with a fake
implementation, so torch.compile(fullgraph=True) and torch.export trace them; fp8block.gemm
and the rest reach ctypes, which Dynamo cannot trace. Importing this module needs torch and
registers the ops.

InferenceLinear: weights quantized once (128x128), stored as codes and scales; forward =
quantize x 1x128 + GEMM with the bias in its epilogue. Linear: trainable, the forward and both
backward GEMMs in FP8 (DeepSeek-V3's recipe: docs/DESIGN.md §1.7).
"""

from ._functions import (dequantize_128x128, dequantize_1x128, gemm, gemm_grouped, quantize_128x128, quantize_1x128,
                         quantize_1x128_transpose, transpose_128x128)
from ._linear import InferenceLinear, Linear

__all__ = ["quantize_1x128", "quantize_128x128", "dequantize_1x128", "dequantize_128x128", "gemm",
           "quantize_1x128_transpose", "transpose_128x128", "gemm_grouped", "InferenceLinear", "Linear"]
