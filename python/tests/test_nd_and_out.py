"""N-D activations (leading dimensions folded into rows) and out= (D written into the
caller's buffer, in-place accumulation included), on NumPy arrays and the CPU backend: each
against the same call on the 2-D form, bit for bit."""

import zlib

import numpy as np
import pytest

import data
import fp8block
import reference as ref


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


@pytest.fixture
def operands(rng):
    """x (2, 3, 300) activations, w 130×300 weights and their quantizations."""
    x = data.matrix(rng, 6, 300, "float32", specials=True).reshape(2, 3, 300)
    w = data.matrix(rng, 130, 300, "float32")
    return x, fp8block.quantize_128x128(w)


def test_nd_quantize_folds_leading_dimensions(operands):
    x, _ = operands
    codes, scales = fp8block.quantize_1x128(x)
    want_codes, want_scales = fp8block.quantize_1x128(x.reshape(6, 300))
    assert codes.shape == (2, 3, 300) and scales.shape == (3, 6)
    assert ref.same_bits(codes.reshape(6, 300), want_codes)
    assert ref.same_bits(scales, want_scales)
    back = fp8block.dequantize_1x128(codes, scales)
    assert back.shape == (2, 3, 300)
    assert ref.same_bits(back.reshape(6, 300), fp8block.dequantize_1x128(want_codes, want_scales))


def test_nd_gemm_gives_nd_output(operands):
    x, (qw, sw) = operands
    qx, sx = fp8block.quantize_1x128(x)
    d = fp8block.gemm(qx, sx, qw, sw)
    assert d.shape == (2, 3, 130)
    assert ref.same_bits(d.reshape(6, 130), fp8block.gemm(qx.reshape(6, 300), sx, qw, sw))
    codes, scales = fp8block.gemm(qx, sx, qw, sw, "float8_e4m3fn")
    want_codes, want_scales = fp8block.gemm(qx.reshape(6, 300), sx, qw, sw, "float8_e4m3fn")
    assert codes.shape == (2, 3, 130) and ref.same_bits(codes.reshape(6, 130), want_codes)
    assert ref.same_bits(scales, want_scales)


def test_nd_quantize_transpose_folds_rows(operands):
    x, _ = operands
    (q, s), (qt, st) = fp8block.quantize_1x128_transpose(x)
    (q2, s2), (qt2, st2) = fp8block.quantize_1x128_transpose(x.reshape(6, 300))
    assert q.shape == (2, 3, 300) and qt.shape == (300, 6)
    for got, want in [(q.reshape(6, 300), q2), (s, s2), (qt, qt2), (st, st2)]:
        assert ref.same_bits(got, want)


@pytest.mark.parametrize("out", ["float32", "bfloat16", "float16"])
def test_out_receives_d(operands, out):
    x, (qw, sw) = operands
    dtype = data.numpy_dtype(out)  # first: without ml_dtypes the bfloat16 case is a skip
    qx, sx = fp8block.quantize_1x128(x)
    want = fp8block.gemm(qx, sx, qw, sw, out)
    buf = np.full((2, 3, 136), 9, dtype)  # rows padded: 16-byte aligned
    target = buf[:, :, :130]
    got = fp8block.gemm(qx, sx, qw, sw, out=target)
    assert got is target and got.dtype == want.dtype
    assert ref.same_bits(np.ascontiguousarray(target), np.ascontiguousarray(want))
    assert (buf[:, :, 130:] == 9).all(), "out= wrote past D's columns"


def test_out_accumulates_in_place(operands, rng):
    """c = out = D: D += A·Bᵀ, what weight-gradient accumulation does."""
    x, (qw, sw) = operands
    qx, sx = fp8block.quantize_1x128(x.reshape(6, 300))
    d = data.matrix(rng, 6, 132, "float32")[:, :130]
    want = fp8block.gemm(qx, sx, qw, sw, "float32", c=d.copy())
    got = fp8block.gemm(qx, sx, qw, sw, c=d, out=d)
    assert got is d
    assert ref.same_bits(np.ascontiguousarray(d), np.ascontiguousarray(want))


def test_e4m3_out_pair(operands):
    x, (qw, sw) = operands
    qx, sx = fp8block.quantize_1x128(x.reshape(6, 300))
    want_codes, want_scales = fp8block.gemm(qx, sx, qw, sw, "float8_e4m3fn")
    codes = np.zeros((6, 144), np.uint8)[:, :130]
    scales = np.zeros((2, 8), np.float32)[:, :6]
    got = fp8block.gemm(qx, sx, qw, sw, "float8_e4m3fn", out=(codes, scales))
    assert got[0] is codes and got[1] is scales
    assert ref.same_bits(np.ascontiguousarray(codes), np.ascontiguousarray(want_codes))
    assert ref.same_bits(np.ascontiguousarray(scales), np.ascontiguousarray(want_scales))
