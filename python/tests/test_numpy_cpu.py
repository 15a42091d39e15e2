"""The binding on NumPy arrays (the CPU reference backend) against the NumPy reference."""

import threading
import zlib

import numpy as np
import pytest

import data
import fp8block
import reference as ref
from fp8block import _library

SHAPES = [(1, 1), (1, 128), (5, 300), (17, 130), (130, 257), (300, 400)]


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


QUANTIZERS = {  # block: binding, reference, shape of the scales for an M×K input
    "1x128": (fp8block.quantize_1x128, ref.quantize_1x128, lambda m, k: (-(-k // 128), m)),
    "128x128": (fp8block.quantize_128x128, ref.quantize_128x128,
                lambda m, k: (-(-m // 128), -(-k // 128))),
}


@pytest.mark.parametrize("pow2", [False, True])
@pytest.mark.parametrize("dtype", data.NUMPY_FLOAT_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("block", QUANTIZERS)
def test_quantize_matches_reference(rng, block, shape, dtype, pow2):
    quantize, ref_quantize, scale_shape = QUANTIZERS[block]
    x = data.matrix(rng, *shape, dtype, specials=True)
    codes, scales = quantize(x, pow2=pow2)
    want_codes, want_scales = ref_quantize(x.astype(np.float32), pow2)
    assert codes.dtype == np.uint8 and codes.shape == shape
    assert scales.dtype == np.float32 and scales.shape == scale_shape(*shape)
    assert scales.strides[1] == 4 and scales.strides[0] % 16 == 0, scales.strides
    assert ref.same_bits(codes, want_codes), _first_mismatch(codes, want_codes)
    assert ref.same_bits(scales, want_scales), _first_mismatch(scales, want_scales)


def test_pow2_scales_are_powers_of_two(rng):
    x = data.matrix(rng, 64, 1000)
    _, scales = fp8block.quantize_1x128(x, pow2=True)
    mantissa, _ = np.frexp(scales)
    assert np.all(mantissa == 0.5)


def test_quantize_reads_strided_rows(rng):
    big = data.matrix(rng, 40, 700)
    x = big[3:33, 10:310]  # a leading dimension of 700, an offset base
    assert not x.flags.c_contiguous
    for quantize in (fp8block.quantize_1x128, fp8block.quantize_128x128):
        got = quantize(x)
        want = quantize(np.ascontiguousarray(x))
        assert ref.same_bits(got[0], want[0]) and ref.same_bits(got[1], want[1])


def test_codes_rows_are_16_byte_aligned(rng):
    codes, scales = fp8block.quantize_1x128(data.matrix(rng, 3, 20))
    assert codes.strides == (32, 1) and codes.ctypes.data % 16 == 0
    assert scales.strides == (16, 4) and scales.ctypes.data % 16 == 0


@pytest.mark.parametrize("out", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(1, 1), (17, 130), (300, 400)])
def test_dequantize_matches_reference(rng, shape, out):
    if out == "bfloat16" and data.ml_dtypes is None:
        pytest.skip(data.ML_DTYPES_MISSING)
    x = data.matrix(rng, *shape, specials=True)
    rows, cols = shape
    for quantize, dequantize, expand in (
            (fp8block.quantize_1x128, fp8block.dequantize_1x128, ref.expand_1x128),
            (fp8block.quantize_128x128, fp8block.dequantize_128x128, ref.expand_128x128)):
        codes, scales = quantize(x)
        y = dequantize(codes, scales, out_dtype=out)
        assert y.shape == shape and y.dtype.name == out
        want = ref.dequantize(codes, expand(scales, rows, cols), out)
        got = y.view(np.uint16) if out == "bfloat16" else y
        assert ref.same_bits(got, want), _first_mismatch(got, want)


def test_quantize_dequantize_round_trip_error(rng):
    x = data.matrix(rng, 64, 512, scale_range=1.0)
    for quantize, dequantize, expand in (
            (fp8block.quantize_1x128, fp8block.dequantize_1x128, ref.expand_1x128),
            (fp8block.quantize_128x128, fp8block.dequantize_128x128, ref.expand_128x128)):
        codes, scales = quantize(x)
        y = dequantize(codes, scales)
        # e4m3 keeps 3 mantissa bits (relative error <= 2^-4); below 2^-6·s codes are subnormal.
        s = expand(scales, *x.shape)
        assert np.all(np.abs(y - x) <= 2.0 ** -4 * np.abs(x) + 2.0 ** -10 * s)


GEMM_SHAPES = [(1, 1, 1), (1, 17, 128), (17, 33, 130), (64, 200, 257), (130, 256, 512)]


@pytest.mark.parametrize("out", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("mnk", GEMM_SHAPES)
def test_gemm_matches_fp64_reference(rng, mnk, out):
    if out == "bfloat16" and data.ml_dtypes is None:
        pytest.skip(data.ML_DTYPES_MISSING)
    m, n, k = mnk
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, m, k, scale_range=1.0))
    qb, sb = fp8block.quantize_128x128(data.matrix(rng, n, k, scale_range=1.0))
    d = fp8block.gemm(qa, sa, qb, sb, out_dtype=out)
    assert d.shape == (m, n) and d.dtype.name == out
    assert d.ctypes.data % 16 == 0 and d.strides[0] % 16 == 0
    wrong, worst = ref.gemm_errors(d, *ref.gemm(qa, sa, qb, sb), out)
    assert wrong == 0, f"{wrong} elements out of tolerance; {worst}"


def test_gemm_default_output_is_float32_for_numpy(rng):
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, 4, 256))
    qb, sb = fp8block.quantize_128x128(data.matrix(rng, 8, 256))
    assert fp8block.gemm(qa, sa, qb, sb).dtype == np.float32


def test_gemm_approximates_the_float_product(rng):
    x = rng.standard_normal((96, 1024)).astype(np.float32)
    w = rng.standard_normal((160, 1024)).astype(np.float32)
    d = fp8block.gemm(*fp8block.quantize_1x128(x), *fp8block.quantize_128x128(w))
    exact = x.astype(np.float64) @ w.T.astype(np.float64)
    rel = np.linalg.norm(d - exact) / np.linalg.norm(exact)
    assert rel < 0.05, rel  # e4m3 rounds each operand by up to 2^-4


def test_gemm_nan_block_surfaces(rng):
    x = data.matrix(rng, 8, 256)
    x[2, 200] = np.nan  # row 2, second K block
    qa, sa = fp8block.quantize_1x128(x)
    qb, sb = fp8block.quantize_128x128(data.matrix(rng, 16, 256))
    d = fp8block.gemm(qa, sa, qb, sb)
    assert np.all(np.isnan(d[2])) and not np.any(np.isnan(np.delete(d, 2, axis=0)))


def test_gemm_accepts_padded_scale_buffer_views(rng):
    """sa as returned is a view of a buffer padded to a multiple of 4 rows; the same
    numbers in a user-made padded buffer give the same D."""
    m, n, k = 6, 32, 300
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, m, k))
    qb, sb = fp8block.quantize_128x128(data.matrix(rng, n, k))
    own = np.zeros((sa.shape[0], 12), dtype=np.float32)[:, :m]
    own[...] = sa
    assert ref.same_bits(fp8block.gemm(qa, own, qb, sb), fp8block.gemm(qa, sa, qb, sb))


def test_gemm_from_several_threads(rng):
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, 70, 384))
    qb, sb = fp8block.quantize_128x128(data.matrix(rng, 90, 384))
    want = fp8block.gemm(qa, sa, qb, sb)
    results = [None] * 6

    def work(i):
        results[i] = fp8block.gemm(qa, sa, qb, sb)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(ref.same_bits(r, want) for r in results)


def test_one_cpu_context_is_reused(rng):
    x = data.matrix(rng, 4, 130)
    fp8block.quantize_1x128(x)
    ctx = _library._contexts[_library.DEVICE_CPU]
    fp8block.gemm(*fp8block.quantize_1x128(x), *fp8block.quantize_128x128(x))
    fp8block.dequantize_1x128(*fp8block.quantize_1x128(x))
    assert _library._contexts[_library.DEVICE_CPU] == ctx
    assert _library.context(_library.DEVICE_CPU) == ctx


def test_library_path_is_the_one_asked_for():
    import os
    wanted = os.environ.get("FP8BLOCK_LIBRARY")
    path = fp8block.library_path()
    assert path.name == "libfp8block.so"
    if wanted:
        assert os.path.samefile(path, wanted)


def _first_mismatch(got, want):
    got, want = np.asarray(got), np.asarray(want)
    width = {1: np.uint8, 2: np.uint16, 4: np.uint32}[got.dtype.itemsize]
    diff = np.argwhere(got.view(width) != want.view(width))
    if len(diff) == 0:
        return "shapes or NaN patterns differ"
    i = tuple(diff[0])
    return f"{len(diff)} differ; first at {i}: got {got[i]!r}, want {want[i]!r}"
