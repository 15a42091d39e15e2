"""gemm's epilogue through the binding on NumPy (the CPU backend): float8_e4m3fn output is,
byte for byte, quantize_1x128 of the float32 output (the next GEMM's a as it stands); c and
bias are added in fp32 before rounding; bad c, bias and pow2 are refused before any work."""

import zlib

import numpy as np
import pytest

import data
import fp8block

SHAPES = [(1, 17, 127), (17, 129, 300), (130, 257, 256)]


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def operands(rng, m, n, k):
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, m, k))
    qb, sb = fp8block.quantize_128x128(data.matrix(rng, n, k))
    return qa, sa, qb, sb


@pytest.mark.parametrize("pow2", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_e4m3_output_is_quantized_f32_output(rng, shape, pow2):
    qa, sa, qb, sb = operands(rng, *shape)
    c = (8 * rng.standard_normal((shape[0], shape[1]))).astype(np.float32)
    bias = rng.standard_normal(shape[1]).astype(np.float32)
    d32 = fp8block.gemm(qa, sa, qb, sb, out_dtype="float32", c=c, bias=bias)
    want_codes, want_scales = fp8block.quantize_1x128(d32, pow2=pow2)
    codes, scales = fp8block.gemm(qa, sa, qb, sb, out_dtype="float8_e4m3fn", c=c, bias=bias, pow2=pow2)
    assert codes.shape == want_codes.shape and scales.shape == want_scales.shape
    assert scales.strides == want_scales.strides
    np.testing.assert_array_equal(codes, want_codes)
    np.testing.assert_array_equal(scales.view(np.uint32), want_scales.view(np.uint32))
    # and it chains: the next layer takes (codes, scales) as its a
    qw, sw = fp8block.quantize_128x128(data.matrix(rng, 64, shape[1]))
    assert fp8block.gemm(codes, scales, qw, sw).shape == (shape[0], 64)


@pytest.mark.parametrize("c_dtype", ["float32", "float16"])
@pytest.mark.parametrize("shape", SHAPES)
def test_c_and_bias_are_added_in_fp32(rng, shape, c_dtype):
    qa, sa, qb, sb = operands(rng, *shape)
    m, n, _ = shape
    c = (8 * rng.standard_normal((m, n))).astype(c_dtype)
    bias = rng.standard_normal(n).astype(np.float32)
    plain = fp8block.gemm(qa, sa, qb, sb, out_dtype="float32")
    got = fp8block.gemm(qa, sa, qb, sb, out_dtype="float32", c=c, bias=bias)
    want = (plain + c.astype(np.float32)).astype(np.float32) + bias
    np.testing.assert_array_equal(got.view(np.uint32), want.astype(np.float32).view(np.uint32))
    got16 = fp8block.gemm(qa, sa, qb, sb, out_dtype="float16", bias=bias)
    with np.errstate(over="ignore"):  # beyond float16's range both sides hold inf
        np.testing.assert_array_equal(got16, (plain + bias).astype(np.float16))


def test_bad_epilogue_arguments_are_refused(rng):
    qa, sa, qb, sb = operands(rng, 17, 129, 300)
    with pytest.raises(ValueError, match="c is 16×129"):
        fp8block.gemm(qa, sa, qb, sb, c=np.zeros((16, 129), np.float32))
    with pytest.raises(ValueError, match=r"bias has shape \(128,\)"):
        fp8block.gemm(qa, sa, qb, sb, bias=np.zeros(128, np.float32))
    with pytest.raises(TypeError, match="c has dtype"):
        fp8block.gemm(qa, sa, qb, sb, c=np.zeros((17, 129), np.int32))
    with pytest.raises(ValueError, match="pow2 applies to float8_e4m3fn output only"):
        fp8block.gemm(qa, sa, qb, sb, out_dtype="float32", pow2=True)
    with pytest.raises(TypeError, match="float8_e4m3fn"):
        fp8block.gemm(qa, sa, qb, sb, out_dtype="int8")
