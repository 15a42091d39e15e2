"""The fp8block calls as torch.library custom ops (namespace ``fp8block``), each with a fake
(meta) implementation, so that torch.compile(fullgraph=True) and torch.export trace through
them instead of stopping at ctypes.

The real implementations are the calls of fp8block.ops on torch tensors (the CPU reference
backend for CPU tensors, the CUDA backend on the current stream for CUDA tensors). The fake
ones return tensors of the exact shapes *and strides* of the real outputs: codes, scales and D
are views of buffers whose rows are padded to 16 bytes (docs/DESIGN.md §1.2), and a compiled
graph that assumed contiguous outputs would read them wrong. torch.library.opcheck checks each
fake against its real implementation (python/tests/test_torch_ops.py).

Outputs that the caller provides (``out=``) go through ``*_out`` ops that mutate ``out`` and
return nothing: a custom op may not return an alias of an input.

A compiled graph may hand an op a contiguous copy of what fp8block returned padded (AOT
autograd's inputs, a layout the compiler chose): where the GEMM's row alignment is not met,
these ops copy the operand once into padded rows, and write D through a temporary, instead
of refusing as the plain fp8block.gemm does (there the caller controls the layout).
"""

import math
from typing import List, Optional, Sequence, Tuple

import torch

from .. import _matrices as T
from .. import ops as _fp8

Tensor = torch.Tensor
_E4M3 = torch.float8_e4m3fn
_ELEMENT_BYTES = {torch.float32: 4, _E4M3: 1}  # bf16, fp16: 2


def _row_unit(dtype) -> int:
    """Elements in 16 bytes of an output dtype: D's rows are padded to a multiple of it."""
    return 16 // _ELEMENT_BYTES.get(dtype, 2)


def out_ld(cols, dtype) -> int:
    """Row stride of a D of `cols` columns of a torch float dtype, as fp8block allocates it."""
    return T.out_ld(cols, _ELEMENT_BYTES.get(dtype, 2))


def padded_rows(lead: Sequence, cols, ld, dtype, device, alloc=torch.empty) -> Tensor:
    """A (*lead, cols) view of a new (*lead, ld) buffer, as fp8block allocates its outputs: the
    fakes' outputs (same strides and storage size as the real ones) and the direct calls'.
    alloc=torch.zeros where a fresh output's rows no group owns must not carry garbage into a
    compiled graph (the grouped ops)."""
    full = alloc((*lead, ld), dtype=dtype, device=device)
    return full if ld == cols else full[..., :cols]


def _fake_1x128(lead: Sequence, cols, device) -> Tuple[Tensor, Tensor]:
    """Fake (codes, scales) as quantize_1x128 returns them for rows (*lead) of `cols` values."""
    rows = math.prod(lead)
    codes = padded_rows(lead, cols, T.codes_ld(cols), _E4M3, device)
    srows, scols, lds = T.scales_1x128(rows, cols)
    scales = padded_rows((srows,), scols, lds, torch.float32, device)
    return codes, scales


# Each op's Python implementation, by op: run directly where nothing traces (eager calls on
# plain tensors), it gives the same tensors without the dispatcher's ~20-25 µs a call
# (measured on CPU tensors, torch 2.15; the ops' whole host cost was ~155 µs per
# InferenceLinear forward on the H200 machine).
IMPLS = {}


def _op(name, mutates_args):
    """torch.library.custom_op, keeping the implementation in IMPLS."""
    def register(fn):
        op = torch.library.custom_op(name, fn, mutates_args=mutates_args)
        IMPLS[op] = fn
        return op
    return register


def eager(*args) -> bool:
    """No compiler is tracing and every tensor argument is a plain torch.Tensor (not a
    FakeTensor or another tracing subclass): the calls may skip the dispatcher."""
    return not torch.compiler.is_compiling() and not any(
        isinstance(a, torch.Tensor) and type(a) is not torch.Tensor for a in args)


def call(op, *args):
    """op(*args), or its implementation directly where eager(*args)."""
    return IMPLS[op](*args) if eager(*args) else op(*args)


def _is_tma_ready(t: Tensor, unit: int) -> bool:
    """Rows of t (its last dimension) contiguous, `unit` elements apart or a multiple of it,
    and the base 16-byte aligned: what the GEMM loads and stores with TMA."""
    if t.stride(-1) != 1 and t.shape[-1] > 1:
        return False
    if t.data_ptr() % 16:
        return False
    return all(t.stride(d) % unit == 0 for d in range(t.dim() - 1) if t.shape[d] > 1)


def _tma_ready(t: Tensor, unit: int) -> Tensor:
    """t itself when the GEMM can load (or store) it, else a copy of it into rows padded to
    `unit`."""
    if _is_tma_ready(t, unit):
        return t
    cols = t.shape[-1]
    buf = t.new_empty((*t.shape[:-1], T.round_up(cols, unit)))[..., :cols]
    buf.copy_(t)
    return buf


def _write_back(out: Tensor, target: Tensor) -> None:
    """An output written into _tma_ready(out)'s copy goes back to out."""
    if target is not out:
        out.copy_(target)


def _gemm_operands(a, sa, b, sb, b_block):
    """The GEMM's inputs with the row alignment it needs (copies only where it is missing)."""
    return (_tma_ready(a, 16), _tma_ready(sa, 4), _tma_ready(b, 16),
            _tma_ready(sb, 4) if b_block == "1x128" else sb)


# ---- quantize / dequantize -------------------------------------------------------------------

@_op("fp8block::quantize_1x128", mutates_args=())
def quantize_1x128(x: Tensor, pow2: bool = False) -> Tuple[Tensor, Tensor]:
    return _fp8.quantize_1x128(x, pow2=pow2)


@quantize_1x128.register_fake
def _(x, pow2=False):
    return _fake_1x128(x.shape[:-1], x.shape[-1], x.device)


@_op("fp8block::quantize_128x128", mutates_args=())
def quantize_128x128(w: Tensor, pow2: bool = False) -> Tuple[Tensor, Tensor]:
    return _fp8.quantize_128x128(w, pow2=pow2)


@quantize_128x128.register_fake
def _(w, pow2=False):
    torch._check(w.dim() in (2, 3), lambda: f"w must be 2-D, or 3-D [G][N][K] experts; got shape {tuple(w.shape)}")
    experts, (n, k) = tuple(w.shape[:-2]), w.shape[-2:]
    codes = padded_rows((*experts, n), k, T.codes_ld(k), _E4M3, w.device)
    srows, scols, lds = T.scales_128x128(n, k)
    scales = padded_rows((*experts, srows), scols, lds, torch.float32, w.device)
    return codes, scales


@_op("fp8block::dequantize_1x128", mutates_args=())
def dequantize_1x128(codes: Tensor, scales: Tensor, out_dtype: torch.dtype) -> Tensor:
    return _fp8.dequantize_1x128(codes, scales, out_dtype=out_dtype)


def _fake_dequantized(codes, scales, out_dtype):
    return codes.new_empty(codes.shape, dtype=out_dtype)


dequantize_1x128.register_fake(_fake_dequantized)


@_op("fp8block::dequantize_128x128", mutates_args=())
def dequantize_128x128(codes: Tensor, scales: Tensor, out_dtype: torch.dtype) -> Tensor:
    return _fp8.dequantize_128x128(codes, scales, out_dtype=out_dtype)


dequantize_128x128.register_fake(_fake_dequantized)


# ---- the training step's layouts -------------------------------------------------------------

@_op("fp8block::quantize_1x128_transpose", mutates_args=())
def quantize_1x128_transpose(x: Tensor, pow2: bool = False) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    (q, s), (qt, st) = _fp8.quantize_1x128_transpose(x, pow2=pow2)
    return q, s, qt, st


@quantize_1x128_transpose.register_fake
def _(x, pow2=False):
    m, k = math.prod(x.shape[:-1]), x.shape[-1]
    q, s = _fake_1x128(x.shape[:-1], k, x.device)
    qt, st = _fake_1x128((k,), m, x.device)
    return q, s, qt, st


@_op("fp8block::transpose_128x128", mutates_args=())
def transpose_128x128(codes: Tensor, scales: Tensor) -> Tuple[Tensor, Tensor]:
    return _fp8.transpose_128x128(codes, scales)


@transpose_128x128.register_fake
def _(codes, scales):
    n, k = codes.shape
    qt = padded_rows((k,), n, T.codes_ld(n), _E4M3, codes.device)
    srows, scols, lds = T.scales_128x128(k, n)
    st = padded_rows((srows,), scols, lds, torch.float32, codes.device)
    return qt, st


# ---- GEMM ------------------------------------------------------------------------------------

@_op("fp8block::gemm", mutates_args=())
def gemm(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, out_dtype: torch.dtype,
         c: Optional[Tensor] = None, bias: Optional[Tensor] = None, b_block: str = "128x128") -> Tensor:
    return _fp8.gemm(*_gemm_operands(a, sa, b, sb, b_block), out_dtype, c=c, bias=bias, b_block=b_block)


@gemm.register_fake
def _(a, sa, b, sb, out_dtype, c=None, bias=None, b_block="128x128"):
    torch._check(out_dtype != _E4M3, lambda: "fp8block::gemm is for float outputs; E4M3 is fp8block::gemm_e4m3")
    n = b.shape[0]
    return padded_rows(a.shape[:-1], n, out_ld(n, out_dtype), out_dtype, a.device)


@_op("fp8block::gemm_e4m3", mutates_args=())
def gemm_e4m3(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, c: Optional[Tensor] = None,
              bias: Optional[Tensor] = None, pow2: bool = False, b_block: str = "128x128") -> Tuple[Tensor, Tensor]:
    return _fp8.gemm(*_gemm_operands(a, sa, b, sb, b_block), _E4M3, c=c, bias=bias, pow2=pow2, b_block=b_block)


@gemm_e4m3.register_fake
def _(a, sa, b, sb, c=None, bias=None, pow2=False, b_block="128x128"):
    return _fake_1x128(a.shape[:-1], b.shape[0], a.device)


@_op("fp8block::gemm_out", mutates_args=("out",))
def gemm_out(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, out: Tensor, c: Optional[Tensor] = None,
             bias: Optional[Tensor] = None, b_block: str = "128x128") -> None:
    target = _tma_ready(out, _row_unit(out.dtype))  # c may be out: it is read, target written
    _fp8.gemm(*_gemm_operands(a, sa, b, sb, b_block), c=c, bias=bias, b_block=b_block, out=target)
    _write_back(out, target)


@gemm_out.register_fake
def _(a, sa, b, sb, out, c=None, bias=None, b_block="128x128"):
    return None


@_op("fp8block::gemm_e4m3_out", mutates_args=("out_codes", "out_scales"))
def gemm_e4m3_out(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, out_codes: Tensor, out_scales: Tensor,
                  c: Optional[Tensor] = None, bias: Optional[Tensor] = None, pow2: bool = False,
                  b_block: str = "128x128") -> None:
    codes, scales = _tma_ready(out_codes, 16), _tma_ready(out_scales, 4)
    _fp8.gemm(*_gemm_operands(a, sa, b, sb, b_block), _E4M3, c=c, bias=bias, pow2=pow2, b_block=b_block,
              out=(codes, scales))
    _write_back(out_codes, codes)
    _write_back(out_scales, scales)


@gemm_e4m3_out.register_fake
def _(a, sa, b, sb, out_codes, out_scales, c=None, bias=None, pow2=False, b_block="128x128"):
    return None


# ---- grouped (mixture-of-experts) GEMM ------------------------------------------------------

def _group_rows(rows: Tensor, masked: bool, expected_m: int) -> dict:
    """gemm_grouped's keywords for the groups: counts= (with expected_m, 0 meaning none) or
    offsets= (expected_m passed on only when set, for fp8block.gemm_grouped to refuse)."""
    return {"counts" if masked else "offsets": rows, "expected_m": expected_m or None}


@_op("fp8block::gemm_grouped", mutates_args=())
def gemm_grouped(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, rows: Tensor, masked: bool,
                 out_dtype: torch.dtype, expected_m: int = 0, c: Optional[Tensor] = None,
                 bias: Optional[Tensor] = None) -> Tensor:
    """Rows no group owns are zero here; gemm_grouped_out leaves them as they were.
    expected_m: the masked layout's planning hint (0: none)."""
    n = b.shape[1]
    d = padded_rows(a.shape[:-1], n, out_ld(n, out_dtype), out_dtype, a.device, torch.zeros)
    return _fp8.gemm_grouped(_tma_ready(a, 16), _tma_ready(sa, 4), _tma_ready(b, 16), sb, c=c, bias=bias,
                             out=d, **_group_rows(rows, masked, expected_m))


@gemm_grouped.register_fake
def _(a, sa, b, sb, rows, masked, out_dtype, expected_m=0, c=None, bias=None):
    torch._check(out_dtype != _E4M3,
                 lambda: "fp8block::gemm_grouped is for float outputs; E4M3 is fp8block::gemm_grouped_e4m3")
    n = b.shape[1]
    return padded_rows(a.shape[:-1], n, out_ld(n, out_dtype), out_dtype, a.device)


@_op("fp8block::gemm_grouped_e4m3", mutates_args=())
def gemm_grouped_e4m3(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, rows: Tensor, masked: bool,
                      expected_m: int = 0, c: Optional[Tensor] = None, bias: Optional[Tensor] = None,
                      pow2: bool = False) -> Tuple[Tensor, Tensor]:
    """(codes, scales) as quantize_1x128 returns them; rows no group owns are zero in both."""
    m, n = math.prod(a.shape[:-1]), b.shape[1]
    codes = padded_rows(a.shape[:-1], n, T.codes_ld(n), _E4M3, a.device, torch.zeros)
    srows, scols, lds = T.scales_1x128(m, n)
    scales = padded_rows((srows,), scols, lds, torch.float32, a.device, torch.zeros)
    _fp8.gemm_grouped(_tma_ready(a, 16), _tma_ready(sa, 4), _tma_ready(b, 16), sb, out_dtype=_E4M3, c=c,
                      bias=bias, pow2=pow2, out=(codes, scales), **_group_rows(rows, masked, expected_m))
    return codes, scales


@gemm_grouped_e4m3.register_fake
def _(a, sa, b, sb, rows, masked, expected_m=0, c=None, bias=None, pow2=False):
    return _fake_1x128(a.shape[:-1], b.shape[1], a.device)


@_op("fp8block::gemm_grouped_out", mutates_args=("out",))
def gemm_grouped_out(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, rows: Tensor, masked: bool, out: Tensor,
                     expected_m: int = 0, c: Optional[Tensor] = None, bias: Optional[Tensor] = None) -> None:
    target = _tma_ready(out, _row_unit(out.dtype))  # rows no group owns keep out's values; c may be out
    _fp8.gemm_grouped(_tma_ready(a, 16), _tma_ready(sa, 4), _tma_ready(b, 16), sb, c=c, bias=bias, out=target,
                      **_group_rows(rows, masked, expected_m))
    _write_back(out, target)


@gemm_grouped_out.register_fake
def _(a, sa, b, sb, rows, masked, out, expected_m=0, c=None, bias=None):
    return None


@_op("fp8block::gemm_grouped_e4m3_out", mutates_args=("out_codes", "out_scales"))
def gemm_grouped_e4m3_out(a: Tensor, sa: Tensor, b: Tensor, sb: Tensor, rows: Tensor, masked: bool,
                          out_codes: Tensor, out_scales: Tensor, expected_m: int = 0, c: Optional[Tensor] = None,
                          bias: Optional[Tensor] = None, pow2: bool = False) -> None:
    codes, scales = _tma_ready(out_codes, 16), _tma_ready(out_scales, 4)
    _fp8.gemm_grouped(_tma_ready(a, 16), _tma_ready(sa, 4), _tma_ready(b, 16), sb, out_dtype=_E4M3, c=c,
                      bias=bias, pow2=pow2, out=(codes, scales), **_group_rows(rows, masked, expected_m))
    _write_back(out_codes, codes)
    _write_back(out_scales, scales)


@gemm_grouped_e4m3_out.register_fake
def _(a, sa, b, sb, rows, masked, out_codes, out_scales, expected_m=0, c=None, bias=None, pow2=False):
    return None


OPS: List = [quantize_1x128, quantize_128x128, dequantize_1x128, dequantize_128x128,
             quantize_1x128_transpose, transpose_128x128, gemm, gemm_e4m3, gemm_out, gemm_e4m3_out,
             gemm_grouped, gemm_grouped_e4m3, gemm_grouped_out, gemm_grouped_e4m3_out]
