"""The fp8block calls for torch tensors, through the torch.library ops: the same names,
arguments and results as fp8block.quantize_1x128 and the rest, but traceable by
torch.compile(fullgraph=True) and torch.export (the fp8block.* calls reach ctypes, which
Dynamo cannot trace). In eager mode on plain tensors they skip the dispatcher (_ops.call)."""

from typing import Optional, Tuple, Union

import torch

from . import _ops
from ..ops import torch_group_rows

Tensor = torch.Tensor
_E4M3 = torch.float8_e4m3fn


def quantize_1x128(x: Tensor, *, pow2: bool = False) -> Tuple[Tensor, Tensor]:
    """fp8block.quantize_1x128 as an op: (codes (..., K), scales (ceil(K/128), M))."""
    return _ops.call(_ops.quantize_1x128, x, pow2)


def quantize_128x128(w: Tensor, *, pow2: bool = False) -> Tuple[Tensor, Tensor]:
    """fp8block.quantize_128x128 as an op: (codes N×K, scales (ceil(N/128), ceil(K/128))), or for
    3-D [G][N][K] experts, [G][N][K] codes and [G][ceil(N/128)][ceil(K/128)] scales."""
    return _ops.call(_ops.quantize_128x128, w, pow2)


def dequantize_1x128(codes: Tensor, scales: Tensor, *, out_dtype: torch.dtype = torch.float32) -> Tensor:
    return _ops.call(_ops.dequantize_1x128, codes, scales, out_dtype)


def dequantize_128x128(codes: Tensor, scales: Tensor, *, out_dtype: torch.dtype = torch.float32) -> Tensor:
    return _ops.call(_ops.dequantize_128x128, codes, scales, out_dtype)


def quantize_1x128_transpose(x: Tensor, *, pow2: bool = False) -> Tuple[Tuple[Tensor, Tensor], Tuple[Tensor, Tensor]]:
    """fp8block.quantize_1x128_transpose as an op: ((q, s), (qt, st))."""
    q, s, qt, st = _ops.call(_ops.quantize_1x128_transpose, x, pow2)
    return (q, s), (qt, st)


def transpose_128x128(codes: Tensor, scales: Tensor) -> Tuple[Tensor, Tensor]:
    return _ops.call(_ops.transpose_128x128, codes, scales)


def gemm(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, out_dtype: Optional[torch.dtype] = None, *,
         c: Optional[Tensor] = None, bias: Optional[Tensor] = None, pow2: bool = False,
         b_block: str = "128x128",
         out: Union[Tensor, Tuple[Tensor, Tensor], None] = None) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """fp8block.gemm as an op: D = A·Bᵀ (+ c) (+ bias), bfloat16 by default (out's dtype when
    out is given); float8_e4m3fn gives (codes, scales). out= writes D into the caller's tensor
    (c=out=d accumulates in place) and returns it."""
    if out_dtype is None:
        out_dtype = (_E4M3 if isinstance(out, tuple) else out.dtype) if out is not None else torch.bfloat16
    if out_dtype == _E4M3:
        if out is None:
            return _ops.call(_ops.gemm_e4m3, a, sa, b, sb, c, bias, pow2, b_block)
        if not isinstance(out, tuple):
            raise TypeError("with float8_e4m3fn output, out must be a (codes, scales) pair")
        _ops.call(_ops.gemm_e4m3_out, a, sa, b, sb, out[0], out[1], c, bias, pow2, b_block)
        return out
    if pow2:
        raise ValueError("pow2 applies to float8_e4m3fn output only (its scales)")
    if out is None:
        return _ops.call(_ops.gemm, a, sa, b, sb, out_dtype, c, bias, b_block)
    if isinstance(out, tuple) or out.dtype != out_dtype:
        raise TypeError(f"out must be one tensor of dtype {out_dtype}")
    _ops.call(_ops.gemm_out, a, sa, b, sb, out, c, bias, b_block)
    return out


def gemm_grouped(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, *, offsets: Optional[Tensor] = None,
                 counts: Optional[Tensor] = None, out_dtype: Optional[torch.dtype] = None,
                 c: Optional[Tensor] = None, bias: Optional[Tensor] = None, pow2: bool = False,
                 out: Union[Tensor, Tuple[Tensor, Tensor], None] = None,
                 expected_m: Optional[int] = None) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """fp8block.gemm_grouped as an op: offsets= (contiguous, a M×K, G + 1 integer row offsets) or
    counts= (masked, a [G][max_m][K], G integer counts), both tensors on a's device; c, bias,
    pow2 and float8_e4m3fn output ((codes, scales)) as gemm's. Without out, rows no group owns
    are zero (codes and scales alike); with it they are left as they were. expected_m (with
    counts= only): the rows a group is expected to hold, a planning hint (None or 0: max_m)."""
    if (offsets is None) == (counts is None):
        raise ValueError("pass offsets= (contiguous layout) or counts= (masked layout), one of them")
    masked = counts is not None
    if expected_m is not None and not masked:
        raise ValueError("expected_m belongs to the masked layout (counts=)")
    expected_m = expected_m or 0
    if b.dim() != 3:
        raise ValueError(f"b must be 3-D [G][rows][cols]; got shape {tuple(b.shape)}")
    groups = b.shape[0]
    rows = torch_group_rows(torch.as_tensor(counts if masked else offsets), groups if masked else groups + 1,
                            "counts" if masked else "offsets").to(device=a.device)
    if out_dtype is None:
        out_dtype = (_E4M3 if isinstance(out, tuple) else out.dtype) if out is not None else torch.bfloat16
    if out_dtype == _E4M3:
        if out is None:
            return _ops.call(_ops.gemm_grouped_e4m3, a, sa, b, sb, rows, masked, expected_m, c, bias, pow2)
        if not isinstance(out, tuple):
            raise TypeError("with float8_e4m3fn output, out must be a (codes, scales) pair")
        _ops.call(_ops.gemm_grouped_e4m3_out, a, sa, b, sb, rows, masked, out[0], out[1], expected_m, c, bias,
                  pow2)
        return out
    if pow2:
        raise ValueError("pow2 applies to float8_e4m3fn output only (its scales)")
    if out is None:
        return _ops.call(_ops.gemm_grouped, a, sa, b, sb, rows, masked, out_dtype, expected_m, c, bias)
    if isinstance(out, tuple) or out.dtype != out_dtype:
        raise TypeError(f"out must be one tensor of dtype {out_dtype}")
    _ops.call(_ops.gemm_grouped_out, a, sa, b, sb, rows, masked, out, expected_m, c, bias)
    return out
