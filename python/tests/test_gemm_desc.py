"""The ctypes mirror of fp8block_gemm_desc matches the header: its size is the library's
(its own struct_size is accepted, and so is the first version's, an older caller's, but
nothing smaller), and every field lands where the library reads it (the library names the
field it finds set)."""

import ctypes

import numpy as np
import pytest

import fp8block
from fp8block import _library as L


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((8, 256)).astype(np.float32)
    w = rng.standard_normal((32, 256)).astype(np.float32)
    (a, sa), (b, sb) = fp8block.quantize_1x128(x), fp8block.quantize_128x128(w)
    d = np.zeros((8, 32), np.float32)
    return a, sa, b, sb, d


def _desc(operands, **extra):
    a, sa, b, sb, d = operands
    ptr = lambda arr: arr.ctypes.data  # noqa: E731
    return L.gemm_desc(m=8, n=32, k=256, a=ptr(a), lda=a.strides[0], sa=ptr(sa), ldsa=sa.strides[0] // 4,
                       b=ptr(b), ldb=b.strides[0], sb=ptr(sb), ldsb=sb.strides[0] // 4,
                       d=ptr(d), d_dtype=L.F32, ldd=32, **extra)


def _run(desc):
    lib, ctx = L.library(), L.context(L.DEVICE_CPU)
    status = lib.fp8block_gemm_ex(ctx, ctypes.byref(desc), None)
    return status, lib.fp8block_last_error(ctx).decode()


def test_size_matches_the_library(operands):
    desc = _desc(operands)
    assert _run(desc) == (L.Status.OK, "")
    # a byte set past the mirror is past the library's struct too: the sizes are the same
    class Newer(ctypes.Structure):
        _fields_ = [("desc", L.GemmDesc), ("field", ctypes.c_uint64)]
    newer = Newer(desc=_desc(operands), field=1)
    newer.desc.struct_size = ctypes.sizeof(Newer)
    status, message = _run(newer.desc)
    assert status == L.Status.ERR_UNSUPPORTED, message
    assert f"past the {ctypes.sizeof(L.GemmDesc)} bytes" in message, message
    # the first version's size (0.1.0's, before expected_m): an older caller, whose memory past
    # struct_size is not read (expected_m = -1 there would be refused)
    first_size = L.GemmDesc.expected_m.offset
    desc.struct_size, desc.expected_m = first_size, -1
    assert _run(desc) == (L.Status.OK, "")
    desc.struct_size = first_size - 8
    status, message = _run(desc)
    assert status == L.Status.ERR_INVALID_ARGUMENT and "struct_size" in message


def test_the_result_is_the_gemm(operands):
    a, sa, b, sb, d = operands
    assert _run(_desc(operands))[0] == L.Status.OK
    np.testing.assert_array_equal(d, fp8block.gemm(a, sa, b, sb))


@pytest.mark.parametrize("field, value, says", [
    ("sd", 16, "sd is set but d_dtype is"), ("ldsd", 8, "ldsd is set but d_dtype is"),
    ("d_scale_flags", 1, "d_scale_flags is set but d_dtype is"),
    ("c_dtype", 1, "c_dtype is set but c is NULL"), ("ldc", 32, "ldc is set but c is NULL"),
    ("bias_dtype", 1, "bias_dtype is set but bias is NULL"),
    ("b_scales", 1, "ldsb = "),  # 1x128 B scales: ldsb >= n, which 128x128's ldsb is not
    ("group_layout", 1, "groups = 0"), ("groups", 4, "groups is set but group_layout"),
    ("group_rows", 16, "group_rows is set but"), ("max_m", 64, "max_m is set but"),
    ("group_stride_b", 4096, "group_stride_b is set but"), ("group_stride_sb", 8, "group_stride_sb is set but"),
    ("expected_m", 64, "expected_m is set but"),
])
def test_every_field_lands_where_the_library_reads_it(operands, field, value, says):
    status, message = _run(_desc(operands, **{field: value}))
    assert status == L.Status.ERR_INVALID_ARGUMENT
    assert message.startswith(f"fp8block_gemm_ex: {says}"), message
