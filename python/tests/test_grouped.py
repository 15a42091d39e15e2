"""gemm_grouped through the binding on NumPy (the CPU backend): each group's rows equal the plain
gemm of those rows with its expert's weights; rows no group owns keep what `out` held; bad
group data is refused; the masked layout's expected_m is a hint that changes no bit."""

import zlib

import numpy as np
import pytest

import data
import fp8block


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def experts(rng, g, n, k):
    """[G][N][K] codes with 16-byte rows (a view of a padded buffer) and [G][N/128][K/128] scales."""
    q, s = zip(*(fp8block.quantize_128x128(data.matrix(rng, n, k)) for _ in range(g)))
    codes = np.zeros((g, n, -(-k // 16) * 16), dtype=np.uint8)
    codes[:, :, :k] = np.stack(q)
    return codes[:, :, :k], np.stack(s)


def rows_of(qa, sa, r0, r1):
    """Rows r0..r1 of quantized activations as gemm takes them: scale rows padded to 4 floats."""
    scales = np.zeros((sa.shape[0], -(-(r1 - r0) // 4) * 4), dtype=np.float32)
    scales[:, :r1 - r0] = sa[:, r0:r1]
    return qa[r0:r1], scales[:, :r1 - r0]


def test_contiguous(rng):
    qb, sb = experts(rng, 4, 130, 300)
    offsets = np.array([0, 17, 17, 145, 146], dtype=np.int32)
    m = 150  # 4 rows past the last group
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, m, 300))
    out = np.full((m, 132), 7.0, dtype=np.float32)[:, :130]  # rows 16-byte aligned, as D needs
    d = fp8block.gemm_grouped(qa, sa, qb, sb, offsets=offsets, out_dtype="float32", out=out)
    for g in range(4):
        r0, r1 = offsets[g], offsets[g + 1]
        if r1 > r0:
            want = fp8block.gemm(*rows_of(qa, sa, r0, r1), qb[g], sb[g], out_dtype="float32")
            np.testing.assert_array_equal(d[r0:r1], want)
    np.testing.assert_array_equal(d[146:], 7.0)


def test_masked(rng):
    g, max_m, n, k = 3, 40, 72, 129
    qb, sb = experts(rng, g, n, k)
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, g * max_m, k))
    counts = np.array([0, 40, 13], dtype=np.int32)
    out = np.zeros((g, max_m, n), dtype=np.float32)
    d = fp8block.gemm_grouped(qa.reshape(g, max_m, k), sa, qb, sb, counts=counts, out_dtype="float32", out=out)
    assert d.shape == (g, max_m, n)
    for e in range(g):
        c = counts[e]
        rows = slice(e * max_m, e * max_m + c)
        if c:
            want = fp8block.gemm(*rows_of(qa, sa, rows.start, rows.stop), qb[e], sb[e], out_dtype="float32")
            np.testing.assert_array_equal(d[e, :c], want)
        np.testing.assert_array_equal(d[e, c:], 0.0)


def test_bad_group_data(rng):
    qb, sb = experts(rng, 2, 64, 128)
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, 10, 128))
    with pytest.raises(fp8block.Fp8BlockError, match=r"group_rows\[1\]"):
        fp8block.gemm_grouped(qa, sa, qb, sb, offsets=[0, 11, 10])
    with pytest.raises(ValueError, match="offsets must hold 3 values"):
        fp8block.gemm_grouped(qa, sa, qb, sb, offsets=[0, 10])
    with pytest.raises(ValueError, match="one of them"):
        fp8block.gemm_grouped(qa, sa, qb, sb)


def test_masked_expected_m_changes_no_bit(rng):
    g, max_m, n, k = 2, 40, 72, 129
    qb, sb = experts(rng, g, n, k)
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, g * max_m, k))
    a = qa.reshape(g, max_m, k)
    counts = np.array([17, 40], dtype=np.int32)
    want = fp8block.gemm_grouped(a, sa, qb, sb, counts=counts, out=np.zeros((g, max_m, n), np.float32))
    assert np.any(want != 0)
    for expected_m in (0, 1, 20, np.int64(40)):
        d = fp8block.gemm_grouped(a, sa, qb, sb, counts=counts, out=np.zeros((g, max_m, n), np.float32),
                                  expected_m=expected_m)
        np.testing.assert_array_equal(d, want)


def test_expected_m_errors(rng):
    qb, sb = experts(rng, 2, 64, 128)
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, 10, 128))
    with pytest.raises(ValueError, match="expected_m belongs to the masked layout"):
        fp8block.gemm_grouped(qa, sa, qb, sb, offsets=[0, 4, 10], expected_m=4)
    a = qa.reshape(2, 5, 128)
    with pytest.raises(ValueError, match="expected_m = -1 is negative"):
        fp8block.gemm_grouped(a, sa, qb, sb, counts=[5, 2], expected_m=-1)
    with pytest.raises(ValueError, match="expected_m = 6 is above max_m = 5"):
        fp8block.gemm_grouped(a, sa, qb, sb, counts=[5, 2], expected_m=6)
    with pytest.raises(TypeError, match="expected_m must be an int"):
        fp8block.gemm_grouped(a, sa, qb, sb, counts=[5, 2], expected_m=2.5)
