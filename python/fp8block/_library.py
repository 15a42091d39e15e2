"""Finding and loading libfp8block.so, its C prototypes, errors and contexts.

The binding is plain ctypes, no extension module: the wheel (`pip install .` at the
repository root) carries the library it compiled next to this file, and the same Python
code works with any build of the library (with or without the CUDA backend).
"""

import atexit
import ctypes
import enum
import os
import threading
from pathlib import Path
from typing import Dict, Optional

LIBRARY_NAME = "libfp8block.so"
LIBRARY_ENV = "FP8BLOCK_LIBRARY"

# The header's FP8BLOCK_VERSION_MAJOR/MINOR/PATCH, which this binding's prototypes follow
# (python/tests/test_version.py checks them against include/fp8block.h; the wheel's own
# version is read from the header when it is built).
VERSION = (0, 1, 1)


class Status(enum.IntEnum):
    """fp8block_status (include/fp8block.h)."""

    OK = 0
    ERR_INVALID_ARGUMENT = 1
    ERR_MISALIGNED = 2
    ERR_UNSUPPORTED = 3
    ERR_CUDA = 4
    ERR_OUT_OF_MEMORY = 5
    ERR_INTERNAL = 6


# fp8block_dtype
F32, BF16, F16, E4M3 = 0, 1, 2, 3

# fp8block_block and flags
BLOCK_1x128, BLOCK_128x128 = 0, 1
SCALE_POW2 = 1
B_SCALES_128x128, B_SCALES_1x128 = 0, 1
GROUPS_NONE, GROUPS_CONTIGUOUS, GROUPS_MASKED = 0, 1, 2

DEVICE_CPU = -1


class Fp8BlockError(RuntimeError):
    """A call into libfp8block failed.

    ``status`` is the library's fp8block_status (a Status, never OK), ``status_name``
    its name, and the message is fp8block_last_error's explanation. Argument errors found
    in Python before the call are ValueError/TypeError instead.
    """

    def __init__(self, status, status_name, message):
        super().__init__(f"{status_name}: {message}" if message else status_name)
        self.status = status
        self.status_name = status_name
        self.message = message


class LibraryNotFoundError(ImportError):
    """libfp8block.so could not be found or loaded."""


def _package_dir():
    return Path(__file__).resolve().parent


def candidate_paths():
    """Where the library is looked for, in order (FP8BLOCK_LIBRARY wins and is exclusive)."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        return [Path(explicit)]
    package_dir = _package_dir()
    return [package_dir / LIBRARY_NAME, package_dir.parent.parent / "build" / LIBRARY_NAME]


def _not_found_message(tried, why):
    lines = [f"fp8block: cannot load the C library {LIBRARY_NAME} ({why})."]
    lines.append("Looked at:")
    lines.extend(f"  {p}" for p in tried)
    lines.append(
        "Install the package with `pip install .` from the repository root (it compiles the "
        "library into the package), build it there with `make build` (it lands in build/), or "
        f"point the environment variable {LIBRARY_ENV} at the full path of a {LIBRARY_NAME}."
    )
    return "\n".join(lines)


_i64 = ctypes.c_int64
_ptr = ctypes.c_void_p
_status = ctypes.c_int
_ctx_p = ctypes.c_void_p

class GemmDesc(ctypes.Structure):
    """fp8block_gemm_desc (include/fp8block.h), field for field; ``struct_size`` is set by
    ``gemm_desc()``. A test checks the layout against the header's sizeof."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("m", _i64), ("n", _i64), ("k", _i64),
        ("a", _ptr), ("lda", _i64), ("sa", _ptr), ("ldsa", _i64),
        ("b", _ptr), ("ldb", _i64), ("sb", _ptr), ("ldsb", _i64),
        ("b_scales", ctypes.c_int),
        ("d", _ptr), ("d_dtype", ctypes.c_int), ("ldd", _i64),
        ("sd", _ptr), ("ldsd", _i64), ("d_scale_flags", ctypes.c_uint),
        ("c", _ptr), ("c_dtype", ctypes.c_int), ("ldc", _i64),
        ("bias", _ptr), ("bias_dtype", ctypes.c_int),
        ("group_layout", ctypes.c_int), ("groups", _i64),
        ("group_rows", _ptr), ("max_m", _i64),
        ("group_stride_b", _i64), ("group_stride_sb", _i64),
        ("expected_m", _i64),  # 0.1.1
    ]


def gemm_desc(**fields):
    """A GemmDesc with struct_size set and the given fields (the rest zero: the defaults)."""
    desc = GemmDesc(struct_size=ctypes.sizeof(GemmDesc))
    for name, value in fields.items():
        setattr(desc, name, value)
    return desc


_PROTOTYPES = {
    "fp8block_create": (_status, [ctypes.POINTER(_ctx_p), ctypes.c_int]),
    "fp8block_destroy": (None, [_ctx_p]),
    "fp8block_status_string": (ctypes.c_char_p, [_status]),
    "fp8block_last_error": (ctypes.c_char_p, [_ctx_p]),
    "fp8block_device": (ctypes.c_int, [_ctx_p]),
    "fp8block_version": (ctypes.c_int, []),
    "fp8block_quantize_ex": (
        _status,
        [_ctx_p, ctypes.c_int, ctypes.c_uint, _ptr, ctypes.c_int, _i64, _i64, _i64,
         _ptr, _i64, _ptr, _i64, _ptr],
    ),
    "fp8block_dequantize_1x128": (
        _status,
        [_ctx_p, _ptr, _i64, _ptr, _i64, _i64, _i64, _ptr, ctypes.c_int, _i64, _ptr],
    ),
    "fp8block_dequantize_128x128": (
        _status,
        [_ctx_p, _ptr, _i64, _ptr, _i64, _i64, _i64, _ptr, ctypes.c_int, _i64, _ptr],
    ),
    "fp8block_quantize_1x128_transpose": (
        _status,
        [_ctx_p, ctypes.c_uint, _ptr, ctypes.c_int, _i64, _i64, _i64, _ptr, _i64, _ptr, _i64,
         _ptr, _i64, _ptr, _i64, _ptr],
    ),
    "fp8block_transpose_128x128": (
        _status,
        [_ctx_p, _ptr, _i64, _ptr, _i64, _i64, _i64, _ptr, _i64, _ptr, _i64, _ptr],
    ),
    "fp8block_gemm_ex": (_status, [_ctx_p, ctypes.POINTER(GemmDesc), _ptr]),
    "fp8block_gemm": (
        _status,
        [_ctx_p, _i64, _i64, _i64, _ptr, _i64, _ptr, _i64, _ptr, _i64, _ptr, _i64,
         _ptr, ctypes.c_int, _i64, _ptr],
    ),
}

_lock = threading.Lock()
_lib = None
_lib_path: Optional[Path] = None


def library():
    """The loaded library (loaded on first use); raises LibraryNotFoundError."""
    global _lib, _lib_path
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = candidate_paths()
        existing = [p for p in tried if p.is_file()]
        if not existing:
            raise LibraryNotFoundError(_not_found_message(tried, "no such file"))
        path = existing[0]
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            raise LibraryNotFoundError(_not_found_message(tried, f"loading {path} failed: {e}"))
        missing = [name for name in _PROTOTYPES if not hasattr(lib, name)]
        if missing:
            raise LibraryNotFoundError(_not_found_message(
                tried, f"{path} lacks {', '.join(missing)}: it is not a current libfp8block"))
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        found = _version_tuple(lib.fp8block_version())
        if _abi(found) != _abi(VERSION):
            raise LibraryNotFoundError(_not_found_message(
                tried, f"{path} is libfp8block {_version_string(found)}, whose ABI differs from "
                f"the {_version_string(VERSION)} this binding was written for (docs/DESIGN.md §3.6)"))
        _lib, _lib_path = lib, path
        return lib


def _version_tuple(number):
    """(major, minor, patch) of an FP8BLOCK_VERSION number (MAJOR·10000 + MINOR·100 + PATCH)."""
    return number // 10000, number // 100 % 100, number % 100


def _version_string(version):
    return ".".join(str(part) for part in version)


def _abi(version):
    """What the SONAME carries: the major version, and the minor one while the major is 0."""
    return version[:2] if version[0] == 0 else version[:1]


def library_version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH" (fp8block_version(); loads it if needed)."""
    return _version_string(_version_tuple(library().fp8block_version()))


def library_path() -> Path:
    """The path of the loaded library (loading it if needed)."""
    library()
    assert _lib_path is not None  # library() sets it with _lib
    return _lib_path


def _decode(raw):
    return raw.decode("utf-8", "replace") if raw else ""


def check(status, ctx):
    """Raises Fp8BlockError for a failed call, with the calling thread's last error."""
    if status == Status.OK:
        return
    lib = library()
    if status in Status.__members__.values():
        status = Status(status)
    raise Fp8BlockError(status, _decode(lib.fp8block_status_string(status)),
                        _decode(lib.fp8block_last_error(ctx)))


# One context per device, created on first use and destroyed at interpreter exit.
_contexts: Dict[int, int] = {}


def context(device):
    """The process-wide context of a device (DEVICE_CPU or a CUDA ordinal)."""
    ctx = _contexts.get(device)
    if ctx is not None:
        return ctx
    lib = library()
    with _lock:
        ctx = _contexts.get(device)
        if ctx is None:
            handle = _ctx_p()
            check(lib.fp8block_create(ctypes.byref(handle), device), None)
            ctx = handle.value
            _contexts[device] = ctx
    return ctx


@atexit.register
def _destroy_contexts():
    with _lock:
        for ctx in _contexts.values():
            _lib.fp8block_destroy(ctx)
        _contexts.clear()
