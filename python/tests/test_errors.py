"""Bad arguments get a clear error from Python before any call; library failures become
Fp8BlockError with the library's status and explanation; a missing library says how to
build it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fp8block
from fp8block import _library, ops


@pytest.fixture(scope="module")
def operands():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((8, 256)).astype(np.float32)
    w = rng.standard_normal((32, 256)).astype(np.float32)
    return fp8block.quantize_1x128(x) + fp8block.quantize_128x128(w)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 8), np.float64), "dtype float64; expected float32, bfloat16 or float16"),
    (np.zeros((4, 8), np.int32), "dtype int32"),
    (np.zeros(8, np.float32), "must be 2-D"),
    (np.zeros((0, 8), np.float32), "at least one row and column"),
    (np.zeros((4, 16), np.float32)[:, ::2], "must be contiguous"),
    (np.zeros((16, 4), np.float32).T, "must be contiguous"),
    ([[1.0, 2.0]], "NumPy array or a torch tensor"),
])
def test_quantize_rejects(bad, message):
    for quantize in (fp8block.quantize_1x128, fp8block.quantize_128x128):
        with pytest.raises((TypeError, ValueError), match=message):
            quantize(bad)


def test_weights_must_be_2d_or_experts():
    """1x128 calls fold an N-D x into rows; weights are a matrix, or 3-D [G][N][K] experts,
    each quantized alone (test_grouped.py), and have no other reading."""
    for shape in [(8,), (2, 2, 4, 8)]:
        with pytest.raises(ValueError, match=r"must be 2-D \(N×K\), or 3-D \[G\]\[N\]\[K\] experts"):
            fp8block.quantize_128x128(np.zeros(shape, np.float32))


def test_read_only_out_is_refused(operands):
    qa, sa, qb, sb = operands
    d = np.zeros((8, 32), np.float32)
    d.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        fp8block.gemm(qa, sa, qb, sb, out=d)
    assert not d.any()


def test_out_is_checked_before_anything_is_written(operands):
    qa, sa, qb, sb = operands
    d = np.full((8, 32), 7.0, np.float32)
    for bad, error, message in [
        (np.zeros((8, 31), np.float32), ValueError, "expected 8 rows of 32"),
        (np.zeros((8, 32), np.float16), TypeError, "out_dtype asks for another"),
        (np.zeros((8, 64), np.float32)[:, ::2], ValueError, "must be contiguous"),
        (np.zeros((2, 5, 64), np.float32)[:, :4, :32], ValueError, "do not fold"),
        ((d, d), TypeError, "not float8_e4m3fn"),
    ]:
        with pytest.raises(error, match=message):
            fp8block.gemm(qa, sa, qb, sb, "float32", out=bad)
    with pytest.raises(TypeError, match=r"\(codes, scales\) pair"):
        fp8block.gemm(qa, sa, qb, sb, "float8_e4m3fn", out=d)
    with pytest.raises(ValueError, match=r"out scales \(1x128 scales of D\) must have shape \(1, 8\)"):
        fp8block.gemm(qa, sa, qb, sb, "float8_e4m3fn", out=(np.zeros((8, 32), np.uint8), np.zeros((8, 1), np.float32)))
    assert (d == 7.0).all()


def test_gemm_rejects_mismatched_k(operands):
    qa, sa, qb, sb = operands
    with pytest.raises(ValueError, match="same K"):
        fp8block.gemm(qa[:, :128], sa[:1], qb, sb)


def test_gemm_explains_the_transposed_scaled_mm_view(operands):
    qa, sa, qb, sb = operands
    with pytest.raises(ValueError, match=r"sa \(1x128 scales of a\) must have shape \(2, 8\); "
                                         r"got \(8, 2\) — this looks like the transposed view"):
        fp8block.gemm(qa, sa.T, qb, sb)


def test_gemm_rejects_wrong_scale_shapes_and_dtypes(operands):
    qa, sa, qb, sb = operands
    with pytest.raises(ValueError, match=r"sb \(128x128 scales of b\) must have shape \(1, 2\)"):
        fp8block.gemm(qa, sa, qb, np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match="scales are float32"):
        fp8block.gemm(qa, sa.astype(np.float64), qb, sb)
    with pytest.raises(TypeError, match="e4m3 codes are float8_e4m3fn or uint8"):
        fp8block.gemm(qa.astype(np.float32), sa, qb, sb)


def test_gemm_rejects_unaligned_rows(operands):
    qa, sa, qb, sb = operands
    k = 250  # rows of 250 bytes: not a multiple of 16
    a = np.ascontiguousarray(qa[:, :k])
    b = np.ascontiguousarray(qb[:, :k])
    with pytest.raises(ValueError, match=r"a has a row stride of 250 elements; it must be a multiple of 16"):
        fp8block.gemm(a, sa, b, sb)
    with pytest.raises(ValueError, match="not 16-byte aligned"):
        fp8block.gemm(qa[:, 1:], sa, qb[:, 1:], sb)
    sa_unpadded = np.ascontiguousarray(np.ones((2, 6), np.float32))
    with pytest.raises(ValueError, match=r"sa has a row stride of 6 elements; it must be a multiple of 4"):
        fp8block.gemm(qa[:6], sa_unpadded, qb, sb)


def test_gemm_rejects_unknown_output_dtype(operands):
    with pytest.raises(TypeError, match="out_dtype = 'int8': expected float32, bfloat16, float16 or float8_e4m3fn"):
        fp8block.gemm(*operands, out_dtype="int8")
    with pytest.raises(TypeError, match="expected float32, bfloat16, float16 or float8_e4m3fn"):
        fp8block.gemm(*operands, out_dtype=np.float64)


def test_bfloat16_numpy_output_needs_ml_dtypes(operands):
    if _has_ml_dtypes():
        assert fp8block.gemm(*operands, out_dtype="bfloat16").dtype.name == "bfloat16"
    else:
        with pytest.raises(TypeError, match="needs the ml_dtypes package"):
            fp8block.gemm(*operands, out_dtype="bfloat16")


def test_dequantize_rejects_wrong_scales(operands):
    qa, sa, qb, sb = operands
    with pytest.raises(ValueError, match=r"scales \(1x128 scales\) must have shape \(2, 8\)"):
        fp8block.dequantize_1x128(qa, sb)
    with pytest.raises(ValueError, match=r"scales \(128x128 scales\) must have shape \(1, 2\)"):
        fp8block.dequantize_128x128(qb, sa)


def test_library_status_becomes_fp8block_error():
    """Arguments Python does not check (here m = 0 through the raw call) reach the
    library, whose status and explanation come back in the exception."""
    buf = np.zeros(64, np.uint8)
    p = buf.ctypes.data + (-buf.ctypes.data) % 16
    with pytest.raises(fp8block.Fp8BlockError) as info:
        ops._call(_library.DEVICE_CPU, False, "fp8block_gemm",
                  0, 1, 1, p, 16, p, 4, p, 16, p, 1, p, _library.F32, 4)
    assert info.value.status == fp8block.Status.ERR_INVALID_ARGUMENT
    assert info.value.status_name
    assert "m = 0" in info.value.message and "m = 0" in str(info.value)


def test_failed_context_creation_is_an_error_and_not_cached():
    with pytest.raises(fp8block.Fp8BlockError) as info:
        _library.context(4096)  # no machine has this CUDA ordinal
    assert info.value.status != fp8block.Status.OK and info.value.message
    assert 4096 not in _library._contexts


def test_missing_library_says_what_to_do(tmp_path):
    missing = tmp_path / "nowhere" / "libfp8block.so"
    env = dict(os.environ, FP8BLOCK_LIBRARY=str(missing),
               PYTHONPATH=str(Path(fp8block.__file__).parent.parent))
    code = "import numpy, fp8block; fp8block.quantize_1x128(numpy.ones((1, 1), numpy.float32))"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "LibraryNotFoundError" in run.stderr
    assert str(missing) in run.stderr
    assert "pip install ." in run.stderr and "make build" in run.stderr and "FP8BLOCK_LIBRARY" in run.stderr


def test_import_needs_no_library(tmp_path):
    env = dict(os.environ, FP8BLOCK_LIBRARY=str(tmp_path / "absent.so"),
               PYTHONPATH=str(Path(fp8block.__file__).parent.parent))
    run = subprocess.run([sys.executable, "-c", "import fp8block"], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_a_file_that_is_not_the_library_is_refused(tmp_path):
    fake = tmp_path / "libfp8block.so"
    fake.write_text("not a shared object")
    env = dict(os.environ, FP8BLOCK_LIBRARY=str(fake),
               PYTHONPATH=str(Path(fp8block.__file__).parent.parent))
    code = "import fp8block; fp8block.library_path()"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode != 0 and "loading" in run.stderr and "make build" in run.stderr


def _has_ml_dtypes():
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        return False
    return True
