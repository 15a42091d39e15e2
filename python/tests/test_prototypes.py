"""The ctypes prototypes in _library.py are the header's: for every fp8block_* function
include/fp8block.h declares, the same number of parameters and, parameter by parameter and
for the result, the ctypes type its C type needs. No library is loaded: this runs anywhere.

ctypes cannot see a header, so a parameter added, removed or retyped there would otherwise
shift every argument after it without an error."""

import ctypes
import re
from pathlib import Path

import pytest

from fp8block import _library as L

HEADER = Path(__file__).resolve().parents[2] / "include" / "fp8block.h"

# Declared but not bound, and why: the binding quantizes through fp8block_quantize_ex,
# which takes the block shape and flags these two fix.
NOT_BOUND = {"fp8block_quantize_1x128", "fp8block_quantize_128x128"}

_SCALARS = {"int": ctypes.c_int, "unsigned": ctypes.c_uint, "unsigned int": ctypes.c_uint,
            "int64_t": ctypes.c_int64, "size_t": ctypes.c_size_t}


def _header():
    text = HEADER.read_text()
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def _declarations():
    """{name: (result C type, [parameter C types])} of every FP8BLOCK_API function."""
    decls = {}
    for result, name, params in re.findall(r"FP8BLOCK_API\s+([^;(]*?)\b(fp8block_\w+)\s*\(([^)]*)\)\s*;", _header()):
        params = " ".join(params.split())
        types = [] if params in ("", "void") else [_drop_name(p) for p in params.split(",")]
        decls[name] = (" ".join(result.split()), types)
    return decls


def _drop_name(param):
    """'const float *sa' -> 'const float *': a parameter's type without its name."""
    m = re.fullmatch(r"\s*(.*?[\s*])(\w+)\s*", param)
    assert m, f"cannot read the parameter {param!r} in {HEADER}"
    return " ".join(m.group(1).replace("*", " * ").split())


def _enums():
    return set(re.findall(r"typedef\s+enum\b[^{]*\{[^}]*\}\s*(\w+)\s*;", _header()))


def _ctype(c_type, enums):
    """The ctypes type the binding must use for a C type (its conventions: addresses of
    data as c_void_p, enums as c_int, strings the library returns as c_char_p)."""
    words = [w for w in c_type.split() if w != "const"]
    stars = words.count("*")
    base = " ".join(w for w in words if w != "*")
    if stars == 0:
        if base == "void":
            return None
        if base in enums:
            return ctypes.c_int
        return _SCALARS[base]
    if stars == 1:
        if base == "char":
            return ctypes.c_char_p
        if base == "fp8block_gemm_desc":
            return ctypes.POINTER(L.GemmDesc)
        return ctypes.c_void_p
    if stars == 2 and base == "fp8block_ctx":
        return ctypes.POINTER(ctypes.c_void_p)  # the context's out-parameter
    raise AssertionError(f"no ctypes rule for the C type {c_type!r}")


DECLS = _declarations()


def test_header_is_read():
    # The parser found the whole API: a regex that silently matched nothing would pass the rest.
    assert {"fp8block_create", "fp8block_version", "fp8block_gemm_ex", "fp8block_gemm"} <= set(DECLS)
    assert {"fp8block_status", "fp8block_dtype", "fp8block_block"} <= _enums()


def test_every_declared_function_is_bound_or_said_why_not():
    assert set(DECLS) - set(L._PROTOTYPES) == NOT_BOUND
    assert not set(L._PROTOTYPES) - set(DECLS), "bound but not declared in the header"


@pytest.mark.parametrize("name", sorted(L._PROTOTYPES))
def test_prototype_matches_header(name):
    restype, argtypes = L._PROTOTYPES[name]
    result, params = DECLS[name]
    enums = _enums()
    assert len(argtypes) == len(params), f"{name}: {len(argtypes)} argtypes, the header has {len(params)} parameters"
    for i, (got, c_type) in enumerate(zip(argtypes, params)):
        assert got is _ctype(c_type, enums), f"{name}: parameter {i} is {c_type} in the header, {got} in _library.py"
    assert restype is _ctype(result, enums), f"{name}: returns {result} in the header, {restype} in _library.py"
