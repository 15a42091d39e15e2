"""NumPy arrays and PyTorch tensors as the C API sees them: a pointer, a shape, a row
stride in elements, an fp8block dtype and a device; and allocation of outputs in the
contract layouts. torch is imported only when a torch tensor is handed in.
"""

import functools
import sys

import numpy as np

from . import _library as L

try:  # NumPy has no bfloat16 of its own; ml_dtypes (optional) provides one.
    import ml_dtypes
except ImportError:
    ml_dtypes = None

ALIGN = 64  # bytes; NumPy outputs start on this boundary (the GEMM needs 16)


def round_up(v, to):
    return (v + to - 1) // to * to


def ceil_div(a, b):
    return (a + b - 1) // b


# ---- the contract layouts (docs/DESIGN.md §1.2) ----------------------------------------
# What every output of fp8block is allocated as, here once for ops.py, the torch ops' fakes
# and the layers' direct calls: rows padded to 16 bytes, because the GEMM loads and stores
# rows with TMA, and cuBLASLt (so torch._scaled_mm) reads 128x128 scales with that padding.

def codes_ld(cols):
    """Row stride (elements) of e4m3 codes with `cols` columns."""
    return round_up(cols, 16)


def out_ld(cols, element_bytes):
    """Row stride (elements) of a float output (D, dequantized) with `cols` columns."""
    return round_up(cols, 16 // element_bytes)


def scales_1x128(rows, cols):
    """(rows, cols, ld) of the scales of a rows×cols matrix quantized 1x128: one row per
    128-column block, the matrix's rows contiguous (A's scale layout)."""
    return ceil_div(cols, 128), rows, round_up(rows, 4)


def scales_128x128(rows, cols):
    """(rows, cols, ld) of the scales of a rows×cols matrix quantized 128x128: the block grid,
    row-major."""
    kb = ceil_div(cols, 128)
    return ceil_div(rows, 128), kb, round_up(kb, 4)


def _torch():
    return sys.modules.get("torch")


def is_torch(x):
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


# ---- dtypes -------------------------------------------------------------------------

_NUMPY_FLOATS = {np.dtype(np.float32): L.F32, np.dtype(np.float16): L.F16}
if ml_dtypes is not None:
    _NUMPY_FLOATS[np.dtype(ml_dtypes.bfloat16)] = L.BF16
_NUMPY_CODES = {np.dtype(np.uint8)}
if ml_dtypes is not None:
    _NUMPY_CODES.add(np.dtype(ml_dtypes.float8_e4m3fn))

_NAMES_TO_CODE = {"float32": L.F32, "fp32": L.F32, "bfloat16": L.BF16, "bf16": L.BF16,
                  "float16": L.F16, "fp16": L.F16, "half": L.F16}


@functools.lru_cache(maxsize=None)
def _torch_tables():
    """torch's dtypes as fp8block sees them, built once torch is in use: (input floats ->
    code, accepted code dtypes, code -> output dtype)."""
    torch = _torch()
    floats = {torch.float32: L.F32, torch.bfloat16: L.BF16, torch.float16: L.F16}
    outputs = {code: dtype for dtype, code in floats.items()}
    outputs[L.E4M3] = torch.float8_e4m3fn
    return floats, {torch.float8_e4m3fn, torch.uint8}, outputs


@functools.lru_cache(maxsize=None)
def _torch_device(ordinal):
    torch = _torch()
    return torch.device("cpu") if ordinal == L.DEVICE_CPU else torch.device("cuda", ordinal)


def float_dtype_code(dtype, what):
    """An output dtype given as a string, NumPy dtype or torch dtype -> fp8block_dtype."""
    torch = _torch()
    if torch is not None and isinstance(dtype, torch.dtype):
        code = _torch_tables()[0].get(dtype)
    elif isinstance(dtype, str):
        code = _NAMES_TO_CODE.get(dtype.lower())
    else:
        try:
            np_dtype = np.dtype(dtype)
        except TypeError:
            np_dtype = None
        code = _NUMPY_FLOATS.get(np_dtype)
    if code is None:
        raise TypeError(f"{what} = {dtype!r}: expected float32, bfloat16 or float16")
    return code


_E4M3_NAMES = {"float8_e4m3fn", "e4m3", "fp8"}


def output_dtype_code(dtype, what):
    """A GEMM output dtype: float32, bfloat16, float16 or float8_e4m3fn -> fp8block_dtype."""
    torch = _torch()
    if torch is not None and dtype is torch.float8_e4m3fn:
        return L.E4M3
    if isinstance(dtype, str) and dtype.lower() in _E4M3_NAMES:
        return L.E4M3
    if ml_dtypes is not None and not isinstance(dtype, str) and (torch is None or not isinstance(dtype, torch.dtype)):
        try:
            if np.dtype(dtype) == np.dtype(ml_dtypes.float8_e4m3fn):
                return L.E4M3
        except TypeError:
            pass
    try:
        return float_dtype_code(dtype, what)
    except TypeError:
        raise TypeError(f"{what} = {dtype!r}: expected float32, bfloat16, float16 or float8_e4m3fn") from None


# ---- N-D operands: leading dimensions folded into rows ----------------------------------

def fold_rows(x, name):
    """x of shape (..., cols) as (2-D rows×cols array, leading shape): the leading dimensions
    folded into rows (a view where the strides allow it, else a copy, as torch.reshape and
    np.reshape do). The leading shape is None for a 2-D x (nothing to unfold)."""
    if not hasattr(x, "shape"):
        return x, None  # matrix() says what it should have been
    shape = tuple(x.shape)
    if len(shape) < 2:
        raise ValueError(f"{name} must be 2-D, or N-D with its leading dimensions folded into rows; "
                         f"got shape {shape}")
    if len(shape) == 2:
        return x, None
    if 0 in shape[:-1]:
        raise ValueError(f"{name} has shape {shape}; fp8block needs at least one row and column")
    return x.reshape(-1, shape[-1]), shape[:-1]


def fold_rows_in_place(x, name, rows, cols):
    """An output given by the caller as a rows×cols 2-D view of the same memory; ValueError
    when its leading dimensions cannot be folded without a copy (the results would be lost)."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) < 2 or shape[-1] != cols or int(np.prod(shape[:-1])) != rows:
        raise ValueError(f"{name} has shape {shape}; expected {rows} rows of {cols} "
                         f"(leading dimensions folded into rows)")
    if len(shape) == 2:
        return x
    try:
        if is_torch(x):
            return x.view(rows, cols)
        view = x.view()
        view.shape = (rows, cols)  # raises instead of copying
        return view
    except (RuntimeError, AttributeError, ValueError):
        raise ValueError(f"{name} has shape {shape} and strides that do not fold into {rows}×{cols} "
                         f"rows without a copy; pass a tensor whose leading dimensions are contiguous") from None


def unfold_rows(y, lead):
    """A rows×cols result back to (*lead, cols) (a view)."""
    if lead is None:
        return y
    return y.view(*lead, y.shape[-1]) if is_torch(y) else y.reshape(*lead, y.shape[-1])


# ---- a matrix as (pointer, rows, cols, ld, dtype, device) -----------------------------

class Matrix:
    """A 2-D operand in the C API's terms. ``ld`` is the row stride in elements."""

    __slots__ = ("obj", "name", "is_torch", "ptr", "rows", "cols", "ld", "dtype", "device")

    def __init__(self, obj, name, ptr, rows, cols, ld, dtype, device, torch_tensor):
        self.obj, self.name, self.ptr = obj, name, ptr
        self.rows, self.cols, self.ld = rows, cols, ld
        self.dtype, self.device, self.is_torch = dtype, device, torch_tensor

    def where(self):
        return "CPU" if self.device == L.DEVICE_CPU else f"cuda:{self.device}"


def _kind_of(x):
    return "torch" if is_torch(x) else "numpy"


def matrix(x, name, role):
    """Describes x (NumPy array or torch tensor) as a Matrix.

    role: "float" (an input to quantize: float32/bfloat16/float16), "codes" (e4m3 codes:
    torch.float8_e4m3fn or uint8) or "scales" (float32). Rows may be strided (a leading
    dimension >= cols); elements within a row must be contiguous.
    """
    if is_torch(x):
        torch = _torch()
        if x.dim() != 2:
            raise ValueError(f"{name} must be 2-D; got shape {tuple(x.shape)}")
        floats, codes, _ = _torch_tables()
        dtype = _role_dtype(name, role, x.dtype, floats, codes, torch.float32)
        rows, cols = x.shape
        row_stride, col_stride = x.stride()
        if x.device.type == "cpu":
            device = L.DEVICE_CPU
        elif x.device.type == "cuda":
            device = x.device.index if x.device.index is not None else torch.cuda.current_device()
        else:
            raise ValueError(f"{name} is on device {x.device}; fp8block runs on CPU or CUDA")
        ptr = x.data_ptr()
        torch_tensor = True
    elif isinstance(x, np.ndarray):
        if x.ndim != 2:
            raise ValueError(f"{name} must be 2-D; got shape {x.shape}")
        dtype = _role_dtype(name, role, x.dtype, _NUMPY_FLOATS, _NUMPY_CODES, np.dtype(np.float32))
        rows, cols = x.shape
        item = x.dtype.itemsize
        if x.strides[0] % item or x.strides[1] % item:
            raise ValueError(f"{name} has strides {x.strides} bytes, not whole elements")
        row_stride, col_stride = x.strides[0] // item, x.strides[1] // item
        device = L.DEVICE_CPU
        ptr = x.ctypes.data
        torch_tensor = False
    else:
        raise TypeError(f"{name} must be a NumPy array or a torch tensor; got {type(x).__name__}")
    if rows < 1 or cols < 1:
        raise ValueError(f"{name} has shape {(rows, cols)}; fp8block needs at least one row and column")
    if col_stride != 1 and cols > 1:
        raise ValueError(
            f"{name} has strides {(row_stride, col_stride)} (elements): the elements of a row must "
            f"be contiguous (stride 1); pass a row-major array (e.g. .contiguous() / np.ascontiguousarray)")
    ld = row_stride if rows > 1 else max(row_stride, cols)
    if ld < cols:
        raise ValueError(f"{name} has a row stride of {row_stride} elements, less than its {cols} columns")
    return Matrix(x, name, ptr, rows, cols, ld, dtype, device, torch_tensor)


def _role_dtype(name, role, dtype, floats, codes, f32):
    if role == "float":
        code = floats.get(dtype)
        if code is None:
            hint = "" if ml_dtypes is not None or floats is not _NUMPY_FLOATS else \
                " (for bfloat16 NumPy arrays, install ml_dtypes)"
            raise TypeError(f"{name} has dtype {dtype}; expected float32, bfloat16 or float16{hint}")
        return code
    if role == "codes":
        if dtype not in codes:
            raise TypeError(f"{name} has dtype {dtype}; e4m3 codes are float8_e4m3fn or uint8")
        return L.E4M3
    if dtype != f32:
        raise TypeError(f"{name} has dtype {dtype}; scales are float32")
    return L.F32


def same_place(*matrices):
    """The device all operands share (and whether they are torch tensors); else ValueError."""
    first = matrices[0]
    for m in matrices[1:]:
        if m.is_torch != first.is_torch:
            raise TypeError(f"{first.name} is a {_kind_of(first.obj)} array but {m.name} is a "
                            f"{_kind_of(m.obj)} one: pass all operands of one kind")
        if m.device != first.device:
            raise ValueError(f"{first.name} is on {first.where()} but {m.name} is on {m.where()}: "
                             f"all operands must be on one device")
    return first.device, first.is_torch


def require_row_alignment(m, elems, why):
    """The row stride must be a multiple of `elems` and the base 16-byte aligned. A single
    row has no meaningful stride: it is given the smallest one that satisfies the rule."""
    if m.rows == 1:
        m.ld = round_up(m.ld, elems)
    elif m.ld % elems:
        raise ValueError(f"{m.name} has a row stride of {m.ld} elements; it must be a multiple of "
                         f"{elems} ({why})")
    if m.ptr % 16:
        raise ValueError(f"{m.name} starts at address {m.ptr:#x}, not 16-byte aligned ({why})")


# ---- outputs --------------------------------------------------------------------------

def _numpy_dtype(code):
    if code == L.F32:
        return np.dtype(np.float32)
    if code == L.F16:
        return np.dtype(np.float16)
    if code == L.BF16:
        if ml_dtypes is None:
            raise TypeError("bfloat16 output with NumPy needs the ml_dtypes package "
                            "(pip install ml_dtypes); or ask for float32")
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(np.uint8)


def empty(like, rows, cols, ld, code):
    """A rows×cols matrix of type `code` whose rows are `ld` elements apart, on the same
    kind and device as `like`; returns (full rows×ld buffer, rows×cols view)."""
    if like.is_torch:
        full = _torch().empty((rows, ld), dtype=_torch_tables()[2][code],
                              device=_torch_device(like.device))
        return full, full[:, :cols]
    dtype = _numpy_dtype(code)
    nbytes = rows * ld * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
    offset = (-raw.ctypes.data) % ALIGN
    full = raw[offset:offset + nbytes].view(dtype).reshape(rows, ld)
    return full, full[:, :cols]


def pointer(array):
    return array.data_ptr() if is_torch(array) else array.ctypes.data


def stream_of(device, torch_tensor):
    """The stream to run on: the current torch stream of a CUDA device, else None."""
    if device == L.DEVICE_CPU or not torch_tensor:
        return None
    return _torch().cuda.current_stream(device).cuda_stream or None
