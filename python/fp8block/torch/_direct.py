"""The library calls of the linear layers made straight from torch tensors, in eager mode, for
operands whose layout is known good: contiguous activations and gradients, the layers' own
parameters, and what these functions return. Same arguments, same buffers and same results as
the ops path (_functions.py -> _ops.py -> fp8block.ops), without its generic argument checks,
which cost most of a layer's host time (bench/NOTES.md "InferenceLinear's host time" and "H100
calls of 9cac5c5"; bench/linear_host.py). usable() says when they apply; anything else takes the ops path, which checks
and explains. The library still validates every call and its errors are raised as usual.

The functions have the signatures of their _functions.py namesakes, so a layer picks either
module and runs one code path."""

import ctypes
from typing import Optional, Tuple

import torch

from .. import _library as L
from .. import _matrices as T
from .. import ops as _fp8
from . import _ops

Tensor = torch.Tensor
_FLOAT_CODES = {}  # torch float dtype -> library dtype code, filled on first use


def _float_codes():
    if not _FLOAT_CODES:
        _FLOAT_CODES.update(T._torch_tables()[0])
    return _FLOAT_CODES


def usable(*tensors: Optional[Tensor]) -> bool:
    """True when every tensor (None skipped) is a plain float32, bfloat16 or float16 tensor (or
    parameter) on one device, outside any trace, contiguous, non-empty, 16-byte aligned and not
    requiring a gradient under autograd (the ops say what autograd gets; inside an autograd
    Function's forward and backward it is off)."""
    present = [t for t in tensors if t is not None]
    # plain tensors and parameters only: a FakeTensor or another tracing subclass means a trace
    if (not present or torch.compiler.is_compiling()
            or any(type(t) not in (torch.Tensor, torch.nn.Parameter) for t in present)):
        return False
    device = present[0].device
    floats = _float_codes()
    for t in present:
        if (t.device != device or not t.is_contiguous() or t.numel() == 0 or t.data_ptr() % 16
                or t.dtype not in floats
                or (t.requires_grad and torch.is_grad_enabled())):
            return False
    return device.type == "cpu" or (device.type == "cuda" and device.index is not None)


def _call(like: Tensor, fn_name: str, *args) -> None:
    """fp8block.ops' library call (the device's context, its current torch stream), for like's device."""
    _fp8._call(L.DEVICE_CPU if like.device.type == "cpu" else like.device.index, True, fn_name, *args)


def _quantize(x: Tensor, block: int, pow2: bool) -> Tuple[Tensor, Tensor]:
    rows, cols = x.shape
    ldq = T.codes_ld(cols)
    codes = _ops.padded_rows((rows,), cols, ldq, torch.float8_e4m3fn, x.device)
    scale_rows, scale_cols, lds = (T.scales_1x128 if block == L.BLOCK_1x128 else T.scales_128x128)(rows, cols)
    scales = _ops.padded_rows((scale_rows,), scale_cols, lds, torch.float32, x.device)
    _call(x, "fp8block_quantize_ex", block, L.SCALE_POW2 if pow2 else 0, x.data_ptr(), _float_codes()[x.dtype],
          rows, cols, cols, codes.data_ptr(), ldq, scales.data_ptr(), lds)
    return codes, scales


def quantize_1x128(x: Tensor, *, pow2: bool = False) -> Tuple[Tensor, Tensor]:
    """x 2-D."""
    return _quantize(x, L.BLOCK_1x128, pow2)


def quantize_128x128(w: Tensor, *, pow2: bool = False) -> Tuple[Tensor, Tensor]:
    return _quantize(w, L.BLOCK_128x128, pow2)


def quantize_1x128_transpose(x: Tensor, *, pow2: bool = False) -> Tuple[Tuple[Tensor, Tensor], Tuple[Tensor, Tensor]]:
    """x 2-D."""
    rows, cols = x.shape
    ldq, ldqt = T.codes_ld(cols), T.codes_ld(rows)
    srows, scols, lds = T.scales_1x128(rows, cols)
    strows, stcols, ldst = T.scales_1x128(cols, rows)
    q = _ops.padded_rows((rows,), cols, ldq, torch.float8_e4m3fn, x.device)
    s = _ops.padded_rows((srows,), scols, lds, torch.float32, x.device)
    qt = _ops.padded_rows((cols,), rows, ldqt, torch.float8_e4m3fn, x.device)
    st = _ops.padded_rows((strows,), stcols, ldst, torch.float32, x.device)
    _call(x, "fp8block_quantize_1x128_transpose", L.SCALE_POW2 if pow2 else 0, x.data_ptr(),
          _float_codes()[x.dtype], rows, cols, cols, q.data_ptr(), ldq, s.data_ptr(), lds,
          qt.data_ptr(), ldqt, st.data_ptr(), ldst)
    return (q, s), (qt, st)


def transpose_128x128(codes: Tensor, scales: Tensor) -> Tuple[Tensor, Tensor]:
    rows, cols = codes.shape
    ldqt = T.codes_ld(rows)
    strows, stcols, ldst = T.scales_128x128(cols, rows)
    qt = _ops.padded_rows((cols,), rows, ldqt, torch.float8_e4m3fn, codes.device)
    st = _ops.padded_rows((strows,), stcols, ldst, torch.float32, codes.device)
    _call(codes, "fp8block_transpose_128x128", codes.data_ptr(), codes.stride(0), scales.data_ptr(),
          scales.stride(0), rows, cols, qt.data_ptr(), ldqt, st.data_ptr(), ldst)
    return qt, st


def gemm(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, out_dtype: torch.dtype, *,
         bias: Optional[Tensor] = None, b_block: str = "128x128") -> Tensor:
    """D = A·Bᵀ (+ bias) into a new out_dtype (float) tensor; a, b codes as the quantizers above
    return them (row strides padded), sa and sb their scales. K is a's; b and sb may be wider
    than K (a layer's padded weight buffers): only their rows, strides and bases are read."""
    m, k = a.shape
    n = b.shape[0]
    code = _float_codes()[out_dtype]
    ldd = _ops.out_ld(n, out_dtype)
    d = _ops.padded_rows((m,), n, ldd, out_dtype, a.device)
    desc = L.gemm_desc(m=m, n=n, k=k, a=a.data_ptr(), lda=a.stride(0), sa=sa.data_ptr(), ldsa=sa.stride(0),
                       b=b.data_ptr(), ldb=b.stride(0), sb=sb.data_ptr(), ldsb=sb.stride(0), d=d.data_ptr(),
                       d_dtype=code, ldd=ldd,
                       b_scales=L.B_SCALES_1x128 if b_block == "1x128" else L.B_SCALES_128x128)
    if bias is not None:
        desc.bias, desc.bias_dtype = bias.data_ptr(), _float_codes()[bias.dtype]
    _call(a, "fp8block_gemm_ex", ctypes.byref(desc))
    return d
