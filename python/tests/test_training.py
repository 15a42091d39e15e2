"""The training layouts through the binding on NumPy (the CPU backend): quantize_1x128_transpose
is quantize_1x128 of x and of x.T byte for byte; transpose_128x128 is quantize_128x128 of W.T;
and the weight-gradient GEMM (b_block="1x128") on those tensors is dYᵀ·X within the GEMM's
bound, accumulating into an fp32 gradient with c=."""

import zlib

import numpy as np
import pytest

import data
import fp8block
import reference as ref

SHAPES = [(1, 17), (17, 1), (130, 257), (300, 129)]


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def same(a, b):
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8))


@pytest.mark.parametrize("pow2", [False, True])
@pytest.mark.parametrize("dtype", data.NUMPY_FLOAT_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_quantize_transpose_is_both_quantizations(rng, shape, dtype, pow2):
    x = data.matrix(rng, *shape, dtype, specials=True)
    (q, s), (qt, st) = fp8block.quantize_1x128_transpose(x, pow2=pow2)
    want_q, want_s = fp8block.quantize_1x128(x, pow2=pow2)
    want_qt, want_st = fp8block.quantize_1x128(np.ascontiguousarray(x.T), pow2=pow2)
    same(q, want_q), same(s, want_s), same(qt, want_qt), same(st, want_st)


@pytest.mark.parametrize("shape", SHAPES)
def test_weight_transpose_is_exact(rng, shape):
    w = data.matrix(rng, *shape)
    q, s = fp8block.quantize_128x128(w)
    qt, st = fp8block.transpose_128x128(q, s)
    want_qt, want_st = fp8block.quantize_128x128(np.ascontiguousarray(w.T))
    same(qt, want_qt), same(st, want_st)


@pytest.mark.parametrize("tokens", [1, 129, 300])
def test_weight_gradient_gemm(rng, tokens):
    out, inp = 130, 257
    dy = data.matrix(rng, tokens, out)
    x = data.matrix(rng, tokens, inp)
    _, (a, sa) = fp8block.quantize_1x128_transpose(dy)  # dYᵀ: out × tokens, blocks along tokens
    _, (b, sb) = fp8block.quantize_1x128_transpose(x)   # Xᵀ: in × tokens
    dw = fp8block.gemm(a, sa, b, sb, b_block="1x128", out_dtype="float32")
    expected = ref.expand_1x128(sa, out, tokens) * ref.e4m3_decode(a).astype(np.float64)
    bexp = ref.expand_1x128(sb, inp, tokens) * ref.e4m3_decode(b).astype(np.float64)
    want = expected @ bexp.T
    assert np.linalg.norm(dw - want) <= 1e-3 * np.linalg.norm(want)
    grad = (rng.standard_normal((out, inp))).astype(np.float32)
    acc = fp8block.gemm(a, sa, b, sb, b_block="1x128", out_dtype="float32", c=grad)
    np.testing.assert_array_equal(acc, (dw + grad).astype(np.float32))
    with pytest.raises(ValueError, match="b_block"):
        fp8block.gemm(a, sa, b, sb, b_block="128x1")
    with pytest.raises(ValueError, match=r"1x128 scales of b"):
        fp8block.gemm(a, sa, b, sb.T, b_block="1x128")
