"""quantize, dequantize and gemm for NumPy arrays and PyTorch tensors.

Where a call runs follows from its operands: NumPy arrays and CPU tensors run on the CPU
reference backend; CUDA tensors run on the CUDA backend of their device, asynchronously on
``torch.cuda.current_stream(device)``, like any torch operation. Outputs are of the same
kind and on the same device as the inputs.

Layouts (docs/DESIGN.md), for A = M×K activations and B = N×K weights:

    codes            M×K e4m3 (torch.float8_e4m3fn, or uint8 for NumPy), rows 16-byte aligned
    1x128 scales     (ceil(K/128), M) float32, M contiguous
    128x128 scales   (ceil(N/128), ceil(K/128)) float32, row-major

Both scale tensors are views of buffers whose rows are padded to a multiple of 4 floats
(16 bytes): the GEMM's TMA needs it for the 1x128 scales, and cuBLASLt, which has no leading
dimension for scales, reads 128x128 scales with that padding implied.

The same tensors feed torch._scaled_mm's block-wise path (Hopper, cuBLASLt >= 12.9):

    torch._scaled_mm(a, b.t(), scale_a=sa.t(), scale_b=sb.t(), out_dtype=torch.bfloat16)

_scaled_mm (torch 2.11) checks that scale_a has strides (1, M) and scale_b strides
(1, ceil(K/128)) exactly, and that K and N are multiples of 16. The padded views pass when M
and ceil(K/128) are multiples of 4 (or there is a single block row) and give the same D as
gemm; otherwise torch refuses them ("Invalid scaling configuration"), so pad the rows of x
to a multiple of 4 and K to a multiple of 512. Seen on an H100 (bench/results/
python-h100-20261125.txt): cuBLASLt refuses M % 4 != 0 whatever the scales' stride, and an
*unpadded* 128x128 scale tensor with ceil(K/128) % 4 != 0 passes torch's check but is read
as if its rows were padded, giving wrong results without an error. DeepGEMM's
"TMA-aligned, M-major" A-scale layout is ``sa.t()`` for every M.
"""

import operator
from typing import TYPE_CHECKING, Literal, Optional, Sequence, Tuple, Union

import numpy as np

from . import _library as L
from . import _matrices as T

if TYPE_CHECKING:
    import torch

# What the calls take and return: NumPy arrays or torch tensors (torch is optional, so type
# checkers alone see its name). A dtype is a name ("bfloat16"), a NumPy or a torch dtype.
Array = Union[np.ndarray, "torch.Tensor"]
DType = Union[str, type, np.dtype, "torch.dtype"]

_ELEMENT_BYTES = {L.F32: 4, L.E4M3: 1}  # of an output dtype; the rest (bf16, fp16) are 2


def quantize_1x128(x: Array, *, pow2: bool = False) -> Tuple[Array, Array]:
    """Quantizes activations x (M×K float32/bfloat16/float16) in 1x128 blocks.

    Returns (codes, scales): codes M×K e4m3, scales (ceil(K/128), M) float32 with M
    contiguous (a view of a buffer whose rows are padded to a multiple of 4 floats).
    An N-D x (..., K) is folded into M rows: codes have x's shape, scales stay 2-D.
    pow2: power-of-two scales, the smallest power of two >= the fp32 quotient amax/448.
    """
    return _quantize(x, L.BLOCK_1x128, pow2)


def quantize_128x128(w: Array, *, pow2: bool = False) -> Tuple[Array, Array]:
    """Quantizes weights w (N×K float32/bfloat16/float16) in 128x128 blocks.

    Returns (codes, scales): codes N×K e4m3, scales (ceil(N/128), ceil(K/128)) float32,
    row-major (a view of a buffer whose rows are padded to a multiple of 4 floats).
    A 3-D w [G][N][K] (mixture-of-experts weights) is quantized expert by expert, never a block
    across two: codes [G][N][K] with rows 16-byte aligned and scales [G][ceil(N/128)][ceil(K/128)],
    what gemm_grouped takes as b and sb (stacking 2-D results would lose the rows' padding).
    """
    dims = len(getattr(w, "shape", ()))
    if dims == 3:
        return _quantize_experts(w, pow2)
    if dims not in (0, 2):  # 0: not an array, which matrix() names
        raise ValueError(f"w must be 2-D (N×K), or 3-D [G][N][K] experts; got shape {tuple(w.shape)}")
    return _quantize(w, L.BLOCK_128x128, pow2)


def _quantize_experts(w, pow2):
    """quantize_128x128 of each w[g] into expert g's slice of one [G][N][K] code buffer and one
    [G][ceil(N/128)][ceil(K/128)] scale buffer (a call per expert: a scale block never spans
    two experts, whatever N)."""
    groups, (rows, cols) = _experts(w, "w"), (int(d) for d in w.shape[1:])
    first = T.matrix(w[0], "w[0]", "float")
    ldq = T.codes_ld(cols)
    scale_rows, scale_cols, lds = T.scales_128x128(rows, cols)
    _, codes = T.empty(first, groups * rows, cols, ldq, L.E4M3)
    _, scales = T.empty(first, groups * scale_rows, scale_cols, lds, L.F32)
    codes = codes.reshape(groups, rows, cols)
    scales = scales.reshape(groups, scale_rows, scale_cols)
    for g in range(groups):
        _quantize_call(T.matrix(w[g], f"w[{g}]", "float"), L.BLOCK_128x128, pow2, codes[g], ldq, scales[g], lds)
    return codes, scales


def dequantize_1x128(codes: Array, scales: Array, *, out_dtype: DType = "float32") -> Array:
    """x' = float(codes) * scale with 1x128 scales of shape (ceil(K/128), M), rounded to
    out_dtype (float32, bfloat16 or float16). N-D codes (..., K) are M rows folded."""
    return _dequantize(codes, scales, L.BLOCK_1x128, out_dtype)


def dequantize_128x128(codes: Array, scales: Array, *, out_dtype: DType = "float32") -> Array:
    """x' = float(codes) * scale with 128x128 scales of shape (ceil(N/128), ceil(K/128)),
    rounded to out_dtype (float32, bfloat16 or float16). 3-D [G][N][K] codes with
    [G][ceil(N/128)][ceil(K/128)] scales (quantize_128x128 of experts) give [G][N][K]."""
    if len(getattr(codes, "shape", ())) == 3:
        return _dequantize_experts(codes, scales, out_dtype)
    return _dequantize(codes, scales, L.BLOCK_128x128, out_dtype)


def gemm(a: Array, sa: Array, b: Array, sb: Array, out_dtype: Optional[DType] = None, *,
         c: Optional[Array] = None, bias: Optional[Array] = None, pow2: bool = False,
         b_block: Literal["128x128", "1x128"] = "128x128",
         out: Union[Array, Tuple[Array, Array], None] = None) -> Union[Array, Tuple[Array, Array]]:
    """D = A · Bᵀ (+ C) (+ bias) from quantized operands.

    a: M×K codes with sa its 1x128 scales (ceil(K/128), M); b: N×K codes with sb its 128x128
    scales (ceil(N/128), ceil(K/128)): what quantize_1x128 and quantize_128x128 return.
    out_dtype: float32, bfloat16, float16 or float8_e4m3fn (a string, NumPy or torch dtype);
    by default bfloat16 for torch tensors and float32 for NumPy arrays (NumPy has no bfloat16).
    c: an M×N float32/bfloat16/float16 matrix added to A·Bᵀ; bias: N float32/bfloat16/float16
    values added to every row. Both are added in fp32 before D is rounded or quantized (c or
    bias whose rows are not 16-byte aligned is copied once to rows that are).
    b_block: how sb blocks b, "128x128" (weights) or "1x128" (sb (ceil(K/128), N), N contiguous,
    as quantize_1x128 and quantize_1x128_transpose return: the weight-gradient GEMM, whose
    K is the token count).
    out: where to write D instead of a new buffer: an M×N float matrix (rows 16-byte aligned;
    out_dtype defaults to its dtype), or for float8_e4m3fn a (codes, scales) pair shaped as the
    returned one. out may be c itself (float32: D += A·Bᵀ in place, the weight-gradient
    accumulation). An N-D a (..., K) is folded into M rows; D then has shape (..., N), and c
    and out may be given either way.
    Returns D (M×N), a view of a buffer whose rows are 16-byte aligned; for float8_e4m3fn,
    (codes, scales) in the form quantize_1x128 returns, D quantized 1x128 (pow2: power-of-two
    scales), ready to be the next GEMM's a.
    """
    a, lead = T.fold_rows(a, "a")
    am = T.matrix(a, "a", "codes")
    bm = T.matrix(b, "b", "codes")
    if am.cols != bm.cols:
        raise ValueError(f"a is {am.rows}×{am.cols} and b is {bm.rows}×{bm.cols}: D = a·bᵀ needs "
                         f"the same K (columns) in both")
    m, n, k = am.rows, bm.rows, am.cols
    kb = T.ceil_div(k, 128)
    sam = _scales(sa, "sa", (kb, m), "1x128 scales of a", (m, kb))
    if b_block == "128x128":
        sbm = _scales(sb, "sb", (T.ceil_div(n, 128), kb), "128x128 scales of b", (kb, T.ceil_div(n, 128)))
        fields = {}
    elif b_block == "1x128":
        sbm = _scales(sb, "sb", (kb, n), "1x128 scales of b", (n, kb))
        T.require_row_alignment(sbm, 4, "the GEMM reads rows of 1x128 B scales as A's")
        fields = {"b_scales": L.B_SCALES_1x128}
    else:
        raise ValueError(f"b_block = {b_block!r}: expected '128x128' or '1x128'")
    operands = [am, sam, bm, sbm]
    fields.update(_addends(c, bias, m, n, operands))
    device, torch_tensor = T.same_place(*operands)
    T.require_row_alignment(am, 16, "the GEMM loads rows of a with TMA")
    T.require_row_alignment(bm, 16, "the GEMM loads rows of b with TMA")
    T.require_row_alignment(sam, 4, "the GEMM loads rows of sa with TMA")
    code = _gemm_output_code(out_dtype, out, torch_tensor)
    d, scales, out_fields = _gemm_output(out, code, pow2, m, n, am)
    desc = L.gemm_desc(m=m, n=n, k=k, a=am.ptr, lda=am.ld, sa=sam.ptr, ldsa=sam.ld,
                       b=bm.ptr, ldb=bm.ld, sb=sbm.ptr, ldsb=sbm.ld, **out_fields, **fields)
    _call(device, torch_tensor, "fp8block_gemm_ex", L.ctypes.byref(desc))
    if out is not None:
        return out
    return (T.unfold_rows(d, lead), scales) if code == L.E4M3 else T.unfold_rows(d, lead)


def _addends(c, bias, m, n, operands):
    """The descriptor's fields for C (an M×N float matrix, N-D folded into M rows) and bias (N
    values), each appended to operands (their place is checked with the inputs')."""
    fields = {}
    if c is not None:
        c = T.fold_rows(c, "c")[0]
        cm = T.matrix(c, "c", "float")
        if (cm.rows, cm.cols) != (m, n):
            raise ValueError(f"c is {cm.rows}×{cm.cols}; D is {m}×{n}")
        cm = _aligned_rows(cm, c, "c")
        operands.append(cm)
        fields.update(c=cm.ptr, c_dtype=cm.dtype, ldc=cm.ld)
    if bias is not None:
        if len(getattr(bias, "shape", ())) != 1 or bias.shape[0] != n:
            raise ValueError(f"bias has shape {tuple(getattr(bias, 'shape', ()))}; expected ({n},)")
        biasm = _aligned_rows(T.matrix(bias.reshape(1, n), "bias", "float"), bias.reshape(1, n), "bias")
        operands.append(biasm)
        fields.update(bias=biasm.ptr, bias_dtype=biasm.dtype)
    return fields


def _gemm_output(out, code, pow2, m, n, am):
    """(D, E4M3 scales or None, the descriptor's output fields): a new M×N buffer with 16-byte
    rows (and quantize_1x128's scales for E4M3), or the caller's out= checked by _gemm_out."""
    if code != L.E4M3 and pow2:
        raise ValueError("pow2 applies to float8_e4m3fn output only (its scales)")
    scales, ldsd = None, 0
    if out is None:
        ldd = T.out_ld(n, _ELEMENT_BYTES.get(code, 2))
        _, d = T.empty(am, m, n, ldd, code)
        if code == L.E4M3:  # quantize_1x128's scales
            srows, scols, ldsd = T.scales_1x128(m, n)
            _, scales = T.empty(am, srows, scols, ldsd, L.F32)
    else:
        d, ldd, scales, ldsd = _gemm_out(out, code, m, n, am)
    fields = dict(d=T.pointer(d), d_dtype=code, ldd=ldd)
    if code == L.E4M3:
        fields.update(sd=T.pointer(scales), ldsd=ldsd, d_scale_flags=L.SCALE_POW2 if pow2 else 0)
    return d, scales, fields


def _gemm_output_code(out_dtype, out, torch_tensor):
    """D's fp8block dtype: out_dtype, else out's own dtype, else bfloat16 for torch and
    float32 for NumPy (NumPy has no bfloat16)."""
    if out_dtype is not None:
        return T.output_dtype_code(out_dtype, "out_dtype")
    if out is None:
        return L.BF16 if torch_tensor else L.F32
    if isinstance(out, tuple):
        return L.E4M3
    return T.float_dtype_code(out.dtype, "out's dtype")


def _gemm_out(out, code, m, n, am):
    """The caller's out= as (D, its ld, E4M3 scales, their ld), checked so that the call writes
    exactly into it: shape, dtype, place, writable, and the alignment the GEMM stores with."""
    for part in out if isinstance(out, tuple) else (out,):
        if isinstance(part, np.ndarray) and not part.flags.writeable:
            raise ValueError("out is a read-only NumPy array: the GEMM would write into it")
    if code == L.E4M3:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("with float8_e4m3fn output, out must be a (codes, scales) pair")
        d = T.fold_rows_in_place(out[0], "out codes", m, n)
        dm = T.matrix(d, "out codes", "codes")
        sm = _scales(out[1], "out scales", (T.ceil_div(n, 128), m), "1x128 scales of D", (m, T.ceil_div(n, 128)))
        T.same_place(am, dm, sm)
        T.require_row_alignment(sm, 4, "the GEMM stores D's scales in quantize_1x128's layout")
        scales, ldsd = out[1], sm.ld
    else:
        if isinstance(out, tuple):
            raise TypeError("out is a pair, but D is not float8_e4m3fn: pass one matrix")
        d = T.fold_rows_in_place(out, "out", m, n)
        dm = T.matrix(d, "out", "float")
        if dm.dtype != code:
            raise TypeError(f"out has dtype {out.dtype}, but out_dtype asks for another")
        T.same_place(am, dm)
        scales, ldsd = None, 0
    T.require_row_alignment(dm, 16 // _ELEMENT_BYTES.get(code, 2), "the GEMM stores rows of D with TMA")
    return d, dm.ld, scales, ldsd


def _aligned_rows(mat, x, name):
    """mat itself when its rows are 16-byte aligned (as the C API wants C and bias), else a
    Matrix of an aligned copy of x (a one-off copy, as the caller would have to make)."""
    unit = 16 // (4 if mat.dtype == L.F32 else 2)
    if mat.ptr % 16 == 0 and (mat.rows == 1 or mat.ld % unit == 0):
        T.require_row_alignment(mat, unit, "")  # a single row: the smallest aligned stride
        return mat
    _, view = T.empty(mat, mat.rows, mat.cols, T.round_up(mat.cols, unit), mat.dtype)
    view[...] = x
    return T.matrix(view, name, "float")


def _experts(x, name):
    """G of a 3-D [G][rows][cols] stack of experts, at least one."""
    if len(getattr(x, "shape", ())) != 3:
        raise ValueError(f"{name} must be 3-D [G][rows][cols]; got shape {tuple(getattr(x, 'shape', ()))}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} has shape {tuple(x.shape)}; fp8block needs at least one expert")
    return int(x.shape[0])


def _expert_stride(x, name):
    """(first expert's 2-D view, elements between experts) of a 3-D [G][rows][cols] array."""
    _experts(x, name)
    if T.is_torch(x):
        return x[0], x.stride(0)
    return x[0], x.strides[0] // x.itemsize


def _int32_rows(v, like, count, name):
    """The group sizes as a contiguous int32 array where the operands live (torch tensors
    through torch_group_rows)."""
    if T.is_torch(like.obj):
        t = torch_group_rows(T._torch().as_tensor(v), count, name).to(device=like.obj.device)
        return t, t.data_ptr()
    arr = np.asarray(v)
    _check_group_rows(arr.ndim, tuple(arr.shape), count, arr.dtype.kind not in "iu", arr.dtype, name)
    if arr.dtype != np.int32:
        _check_int32(arr, name)
    arr = np.ascontiguousarray(arr, dtype=np.int32)
    return arr, arr.ctypes.data


def torch_group_rows(t, count, name):
    """A tensor of group sizes as int32 where it lives, checked as _int32_rows checks NumPy's:
    integers only (a float or bool tensor would be truncated), and within int32 (a wider value
    would wrap to another, maybe valid, size) where that can be read without a device
    synchronisation, on the CPU; a device tensor is converted where it lives."""
    torch = T._torch()
    not_integer = t.is_floating_point() or t.is_complex() or t.dtype == torch.bool
    _check_group_rows(t.dim(), tuple(t.shape), count, not_integer, t.dtype, name)
    if t.device.type == "cpu" and t.dtype != torch.int32:
        _check_int32(t.numpy(), name)
    return t.to(dtype=torch.int32).contiguous()


def _check_group_rows(ndim, shape, count, not_integer, dtype, name):
    if ndim != 1 or shape[0] != count:
        raise ValueError(f"{name} must hold {count} values; got shape {shape}")
    if not_integer:
        raise TypeError(f"{name} has dtype {dtype}; expected an integer dtype (int32)")


def _check_int32(values, name):
    """values (a NumPy integer array of any width or sign) all within int32."""
    if values.size and (values.min() < -2**31 or values.max() >= 2**31):
        bad = values.min() if values.min() < -2**31 else values.max()
        raise ValueError(f"{name} holds {int(bad)}, outside int32: the library reads group sizes as int32")


def _expected_rows(expected_m, max_m):
    """The masked layout's expected_m as the descriptor takes it (0: max_m), checked by the
    library's rules (docs/DESIGN.md §1.8) so that a bad value is a ValueError naming it."""
    if expected_m is None:
        return 0
    try:
        rows = operator.index(expected_m)
    except TypeError:
        raise TypeError(f"expected_m must be an int; got {type(expected_m).__name__}") from None
    if rows < 0:
        raise ValueError(f"expected_m = {rows} is negative")
    if rows > max_m:
        raise ValueError(f"expected_m = {rows} is above max_m = {max_m}: a group holds at most max_m rows")
    return rows


def gemm_grouped(a: Array, sa: Array, b: Array, sb: Array, *,
                 offsets: Union[Array, Sequence[int], None] = None, counts: Union[Array, Sequence[int], None] = None,
                 out_dtype: Optional[DType] = None, c: Optional[Array] = None, bias: Optional[Array] = None,
                 pow2: bool = False, out: Union[Array, Tuple[Array, Array], None] = None,
                 expected_m: Optional[int] = None) -> Union[Array, Tuple[Array, Array]]:
    """Mixture-of-experts GEMM: group g's rows of A times expert g's B (docs/DESIGN.md §1.8).

    b: [G][N][K] codes, sb: [G][ceil(N/128)][ceil(K/128)] scales (quantize_128x128 per expert).
    offsets=o (contiguous layout): a is M×K with rows sorted by expert, o the G+1 row offsets,
    sa (ceil(K/128), M). counts=c (masked layout): a is [G][max_m][K] (sa the 1x128 scales of
    a.reshape(G*max_m, K)), c the G valid row counts. o and c are integers (int32 on the
    device; other integer dtypes are converted, after a range check where they are on the host).
    Returns D, M×N or [G][max_m][N]; rows no group owns are left as they were in `out`
    (uninitialised without it). out_dtype defaults to out's dtype, else bfloat16 for torch and
    float32 for NumPy.

    The epilogue is gemm's: out_dtype="float8_e4m3fn" returns (codes, scales) in the form
    quantize_1x128 returns (codes M×N or [G][max_m][N], scales (ceil(N/128), M)), each group's
    rows quantized as the plain GEMM's (pow2: power-of-two scales), ready to be the next grouped
    GEMM's a; out= is then a (codes, scales) pair. c: M×N (or [G][max_m][N]) float values added
    to A·Bᵀ (c may be a float32 out: D += A·Bᵀ in place); bias: N values added to every row.

    expected_m (masked layout only): how many rows a group is expected to hold, in [0, max_m]
    (None or 0: max_m). A hint for the GPU's tile choice, as DeepGEMM's masked expected_m: the
    counts stay on the device, so the plan otherwise assumes full groups. Never changes D.
    """
    if (offsets is None) == (counts is None):
        raise ValueError("pass offsets= (contiguous layout) or counts= (masked layout), one of them")
    masked = counts is not None
    if expected_m is not None and not masked:
        raise ValueError("expected_m belongs to the masked layout (counts=)")
    b0, stride_b = _expert_stride(b, "b")
    sb0, stride_sb = _expert_stride(sb, "sb")
    groups = b.shape[0]
    if sb.shape[0] != groups:
        raise ValueError(f"b holds {groups} experts but sb {sb.shape[0]}: each expert needs its scales")
    if masked:
        if len(getattr(a, "shape", ())) != 3 or a.shape[0] != groups:
            raise ValueError(f"with counts=, a must be [G][max_m][K] with G = {groups}; got {tuple(a.shape)}")
        max_m = a.shape[1]
        a2 = a.reshape(groups * max_m, a.shape[2])
        expected_m = _expected_rows(expected_m, max_m)
        for name, x in (("c", c), ("out", out[0] if isinstance(out, tuple) else out)):
            if len(getattr(x, "shape", ())) == 3 and tuple(x.shape[:2]) != (groups, max_m):
                raise ValueError(f"{name} has shape {tuple(x.shape)}: with counts=, a 3-D {name} is "
                                 f"[G][max_m][N] = [{groups}][{max_m}][N], as a is")
    else:
        max_m, a2 = 0, a
    am = T.matrix(a2, "a", "codes")
    bm = T.matrix(b0, "b", "codes")
    if am.cols != bm.cols:
        raise ValueError(f"a has K = {am.cols} columns and b {bm.cols}: they must match")
    m, n, k = am.rows, bm.rows, am.cols
    kb = T.ceil_div(k, 128)
    sam = _scales(sa, "sa", (kb, m), "1x128 scales of a", (m, kb))
    sbm = _scales(sb0, "sb[0]", (T.ceil_div(n, 128), kb), "128x128 scales of one expert", (kb, T.ceil_div(n, 128)))
    operands = [am, sam, bm, sbm]
    fields = _addends(c, bias, m, n, operands)
    device, torch_tensor = T.same_place(*operands)
    T.require_row_alignment(am, 16, "the GEMM loads rows of a with TMA")
    T.require_row_alignment(bm, 16, "the GEMM loads rows of b with TMA")
    T.require_row_alignment(sam, 4, "the GEMM loads rows of sa with TMA")
    # rows_alive holds the int32 array rows_ptr points into until the call has run
    rows_alive, rows_ptr = _int32_rows(counts if masked else offsets, am, groups if masked else groups + 1,
                                       "counts" if masked else "offsets")
    code = _gemm_output_code(out_dtype, out, torch_tensor)
    d, scales, out_fields = _gemm_output(out, code, pow2, m, n, am)
    desc = L.gemm_desc(m=m, n=n, k=k, a=am.ptr, lda=am.ld, sa=sam.ptr, ldsa=sam.ld,
                       b=bm.ptr, ldb=bm.ld, sb=sbm.ptr, ldsb=sbm.ld, **out_fields, **fields,
                       group_layout=L.GROUPS_MASKED if masked else L.GROUPS_CONTIGUOUS, groups=groups,
                       group_rows=rows_ptr, max_m=max_m, group_stride_b=stride_b, group_stride_sb=stride_sb,
                       expected_m=expected_m or 0)
    _call(device, torch_tensor, "fp8block_gemm_ex", L.ctypes.byref(desc))
    if out is not None:
        return out
    if masked:
        d = d.reshape(groups, max_m, n)
    return (d, scales) if code == L.E4M3 else d


def quantize_1x128_transpose(x: Array, *, pow2: bool = False) -> Tuple[Tuple[Array, Array], Tuple[Array, Array]]:
    """Both 1x128 quantizations a training step needs of x (M×K), from one read:
    ((q, s), (qt, st)) with (q, s) = quantize_1x128(x) and (qt, st) = quantize_1x128(x.T),
    byte for byte. qt is K×M; st (ceil(M/128), K), K contiguous. An N-D x (..., K) is folded
    into M rows (q then has x's shape; qt is K×M)."""
    x, lead = T.fold_rows(x, "x")
    xm = T.matrix(x, "x", "float")
    rows, cols = xm.rows, xm.cols
    ldq, ldqt = T.codes_ld(cols), T.codes_ld(rows)
    srows, scols, lds = T.scales_1x128(rows, cols)
    strows, stcols, ldst = T.scales_1x128(cols, rows)
    _, q = T.empty(xm, rows, cols, ldq, L.E4M3)
    _, s = T.empty(xm, srows, scols, lds, L.F32)
    _, qt = T.empty(xm, cols, rows, ldqt, L.E4M3)
    _, st = T.empty(xm, strows, stcols, ldst, L.F32)
    _call(xm.device, xm.is_torch, "fp8block_quantize_1x128_transpose", L.SCALE_POW2 if pow2 else 0,
          xm.ptr, xm.dtype, rows, cols, xm.ld, T.pointer(q), ldq, T.pointer(s), lds,
          T.pointer(qt), ldqt, T.pointer(st), ldst)
    return (T.unfold_rows(q, lead), s), (qt, st)


def transpose_128x128(q: Array, s: Array) -> Tuple[Array, Array]:
    """Wᵀ of a 128x128-quantized W (N×K codes q, scales s of shape (ceil(N/128), ceil(K/128))),
    exactly, no requantization: (qt, st) = quantize_128x128(W.T). The dgrad GEMM's b."""
    qm = T.matrix(q, "q", "codes")
    rows, cols = qm.rows, qm.cols
    sm = _scales(s, "s", (T.ceil_div(rows, 128), T.ceil_div(cols, 128)), "128x128 scales of q",
                 (T.ceil_div(cols, 128), T.ceil_div(rows, 128)))
    device, torch_tensor = T.same_place(qm, sm)
    ldqt = T.codes_ld(rows)
    strows, stcols, ldst = T.scales_128x128(cols, rows)
    _, qt = T.empty(qm, cols, rows, ldqt, L.E4M3)
    _, st = T.empty(qm, strows, stcols, ldst, L.F32)
    _call(device, torch_tensor, "fp8block_transpose_128x128", qm.ptr, qm.ld, sm.ptr, sm.ld, rows, cols,
          T.pointer(qt), ldqt, T.pointer(st), ldst)
    return qt, st


def _quantize(x, block, pow2):
    lead = None
    if block == L.BLOCK_1x128:  # activations: (..., K) folded into rows; weights stay 2-D
        x, lead = T.fold_rows(x, "x")
    xm = T.matrix(x, "x", "float")
    rows, cols = xm.rows, xm.cols
    ldq = T.codes_ld(cols)
    _, codes = T.empty(xm, rows, cols, ldq, L.E4M3)
    scale_rows, scale_cols, lds = (T.scales_1x128 if block == L.BLOCK_1x128 else T.scales_128x128)(rows, cols)
    _, scales = T.empty(xm, scale_rows, scale_cols, lds, L.F32)
    _quantize_call(xm, block, pow2, codes, ldq, scales, lds)
    return T.unfold_rows(codes, lead), scales


def _quantize_call(xm, block, pow2, codes, ldq, scales, lds):
    """The library's quantize of xm into codes (rows ldq apart) and scales (rows lds apart)."""
    _call(xm.device, xm.is_torch, "fp8block_quantize_ex", block, L.SCALE_POW2 if pow2 else 0, xm.ptr, xm.dtype,
          xm.rows, xm.cols, xm.ld, T.pointer(codes), ldq, T.pointer(scales), lds)


def _dequantize(codes, scales, block, out_dtype):
    lead = None
    if block == L.BLOCK_1x128:
        codes, lead = T.fold_rows(codes, "codes")
    qm, sm = _dequantize_operands(codes, scales, block, "codes", "scales")
    code = T.float_dtype_code(out_dtype, "out_dtype")
    _, y = T.empty(qm, qm.rows, qm.cols, qm.cols, code)
    _dequantize_call(qm, sm, block, y, code)
    return T.unfold_rows(y, lead)


def _dequantize_experts(codes, scales, out_dtype):
    """dequantize_128x128 of each expert into its rows of one [G][N][K] buffer."""
    if len(getattr(scales, "shape", ())) != 3 or scales.shape[0] != codes.shape[0]:
        raise ValueError(f"codes are [G][N][K] with G = {codes.shape[0]}: scales must be "
                         f"[G][ceil(N/128)][ceil(K/128)]; got shape {tuple(getattr(scales, 'shape', ()))}")
    groups, (rows, cols) = _experts(codes, "codes"), (int(d) for d in codes.shape[1:])
    experts = [_dequantize_operands(codes[g], scales[g], L.BLOCK_128x128, f"codes[{g}]", f"scales[{g}]")
               for g in range(groups)]
    code = T.float_dtype_code(out_dtype, "out_dtype")
    _, y = T.empty(experts[0][0], groups * rows, cols, cols, code)
    y = y.reshape(groups, rows, cols)
    for g, (qm, sm) in enumerate(experts):
        _dequantize_call(qm, sm, L.BLOCK_128x128, y[g], code)
    return y


def _dequantize_operands(codes, scales, block, codes_name, scales_name):
    """(codes, scales) as Matrix, scales checked against the codes' shape, both in one place."""
    qm = T.matrix(codes, codes_name, "codes")
    rows, cols = qm.rows, qm.cols
    kb = T.ceil_div(cols, 128)
    if block == L.BLOCK_1x128:
        sm = _scales(scales, scales_name, (kb, rows), "1x128 scales", (rows, kb))
    else:
        sm = _scales(scales, scales_name, (T.ceil_div(rows, 128), kb), "128x128 scales",
                     (kb, T.ceil_div(rows, 128)))
    T.same_place(qm, sm)
    return qm, sm


def _dequantize_call(qm, sm, block, y, code):
    """The library's dequantize of qm and sm into y (rows×cols, rows contiguous)."""
    fn = "fp8block_dequantize_1x128" if block == L.BLOCK_1x128 else "fp8block_dequantize_128x128"
    _call(qm.device, qm.is_torch, fn, qm.ptr, qm.ld, sm.ptr, sm.ld, qm.rows, qm.cols, T.pointer(y), code, qm.cols)


def _scales(s, name, shape, what, transposed_shape):
    """Checks scales against their expected (rows, cols) shape, with a hint for the
    transposed (torch._scaled_mm) view."""
    got = tuple(s.shape) if hasattr(s, "shape") else None
    if got is not None and got != shape:
        hint = ""
        if got == transposed_shape:
            hint = (" — this looks like the transposed view torch._scaled_mm takes; "
                    f"pass {name}.t() (torch) or {name}.T (NumPy)")
        raise ValueError(f"{name} ({what}) must have shape {shape}; got {got}{hint}")
    return T.matrix(s, name, "scales")


def _call(device, torch_tensor, fn_name, *args):
    """Runs a library entry point on the context of `device` (the library selects the CUDA
    device itself) and the current torch stream of that device."""
    ctx = L.context(device)
    L.check(getattr(L.library(), fn_name)(ctx, *args, T.stream_of(device, torch_tensor)), ctx)
