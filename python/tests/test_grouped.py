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


def layout_case(rng, layout, k, offsets, counts, max_m):
    """A grouped call's operands in either layout: (a as the layout takes it, its quantization
    (qa, sa) as M×K rows, the groups' keyword, (group, its rows of the folded M×N D) per group,
    M). Contiguous: offsets, one row past the last group; masked: counts of max_m rows each."""
    if layout == "contiguous":
        m, groups = int(offsets[-1]) + 1, {"offsets": np.array(offsets, dtype=np.int32)}
        slices = [(g, slice(offsets[g], offsets[g + 1])) for g in range(len(offsets) - 1)]
    else:
        m, groups = len(counts) * max_m, {"counts": np.array(counts, dtype=np.int32)}
        slices = [(g, slice(g * max_m, g * max_m + c)) for g, c in enumerate(counts)]
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, m, k))
    a = qa if layout == "contiguous" else qa.reshape(len(counts), max_m, k)
    return a, (qa, sa), groups, slices, m


@pytest.mark.parametrize("layout", ["contiguous", "masked"])
@pytest.mark.parametrize("pow2", [False, True])
def test_e4m3_output(rng, layout, pow2):
    """E4M3 D: each group's codes and scales are the plain GEMM's of its rows, byte for byte,
    and quantize_1x128 of the grouped F32 D; codes and scales of rows no group owns keep what
    out held. N = 200 leaves a partial last scale block."""
    g, n, k = 3, 200, 300
    qb, sb = experts(rng, g, n, k)
    a, (qa, sa), groups, slices, m = layout_case(rng, layout, k, [0, 17, 17, 146], [13, 0, 40], 40)
    codes, scales = fp8block.gemm_grouped(a, sa, qb, sb, out_dtype="float8_e4m3fn", pow2=pow2, **groups)
    assert codes.shape == a.shape[:-1] + (n,) and scales.shape == (2, m)
    d32 = fp8block.gemm_grouped(a, sa, qb, sb, out_dtype="float32", **groups).reshape(m, n)
    flat = codes.reshape(m, n)
    for e, rows in slices:
        if rows.stop == rows.start:
            continue
        want_q, want_s = fp8block.gemm(*rows_of(qa, sa, rows.start, rows.stop), qb[e], sb[e],
                                       out_dtype="float8_e4m3fn", pow2=pow2)
        np.testing.assert_array_equal(flat[rows], want_q)
        np.testing.assert_array_equal(scales[:, rows].view(np.uint32), want_s.view(np.uint32))
        from_f32 = fp8block.quantize_1x128(np.ascontiguousarray(d32[rows]), pow2=pow2)
        np.testing.assert_array_equal(flat[rows], from_f32[0])
        np.testing.assert_array_equal(scales[:, rows].view(np.uint32), from_f32[1].view(np.uint32))
    # out= a (codes, scales) pair, poisoned: rows no group owns keep the poison
    out_q = np.full(codes.shape[:-1] + (208,), 0x7E, dtype=np.uint8)[..., :n]  # rows 16-byte aligned
    out_s = np.full((2, scale_ld(m)), -3.0, dtype=np.float32)[:, :m]
    got = fp8block.gemm_grouped(a, sa, qb, sb, out_dtype="float8_e4m3fn", pow2=pow2, out=(out_q, out_s), **groups)
    assert got[0] is out_q and got[1] is out_s
    owned = np.zeros(m, dtype=bool)
    for _, rows in slices:
        owned[rows] = True
    np.testing.assert_array_equal(out_q.reshape(m, n)[owned], flat[owned])
    np.testing.assert_array_equal(out_s[:, owned], scales[:, owned])
    assert np.all(out_q.reshape(m, n)[~owned] == 0x7E) and np.all(out_s[:, ~owned] == -3.0)


def scale_ld(m):
    """quantize_1x128's scale row stride for m rows (a multiple of 4 floats)."""
    return -(-m // 4) * 4


@pytest.mark.parametrize("layout", ["contiguous", "masked"])
@pytest.mark.parametrize("out_dtype", ["float32", "float16", "float8_e4m3fn"])
def test_c_and_bias(rng, layout, out_dtype):
    """C and bias: each group's rows are the plain GEMM's with the same rows of C and the bias,
    for a float and an E4M3 D; with a float32 D, c=out accumulates in place."""
    g, n, k = 3, 72, 129
    qb, sb = experts(rng, g, n, k)
    a, (qa, sa), groups, slices, m = layout_case(rng, layout, k, [0, 5, 5, 58], [20, 3, 0], 20)
    c = rng.standard_normal((m, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    # C as the layout's D: M×N, or [G][max_m][N] for the masked one
    d = fp8block.gemm_grouped(a, sa, qb, sb, out_dtype=out_dtype, c=c.reshape(a.shape[:-1] + (n,)), bias=bias,
                              **groups)
    flat_d = (d[0] if out_dtype == "float8_e4m3fn" else d).reshape(m, n)
    for e, rows in slices:
        if rows.stop == rows.start:
            continue
        want = fp8block.gemm(*rows_of(qa, sa, rows.start, rows.stop), qb[e], sb[e], out_dtype=out_dtype,
                             c=c[rows], bias=bias)
        if out_dtype == "float8_e4m3fn":
            np.testing.assert_array_equal(flat_d[rows], want[0])
            np.testing.assert_array_equal(d[1][:, rows].view(np.uint32), want[1].view(np.uint32))
        else:
            np.testing.assert_array_equal(flat_d[rows], want)
    if out_dtype == "float32":  # D += A·Bᵀ in place; rows no group owns keep C
        acc = c.copy()
        acc_out = acc.reshape(a.shape[:-1] + (n,))
        fp8block.gemm_grouped(a, sa, qb, sb, c=acc_out, out=acc_out, **groups)
        owned = np.zeros(m, dtype=bool)
        for _, rows in slices:
            owned[rows] = True
        plain = fp8block.gemm_grouped(a, sa, qb, sb, c=c, bias=None, out_dtype="float32", **groups)
        np.testing.assert_array_equal(acc[owned], plain.reshape(m, n)[owned])
        np.testing.assert_array_equal(acc[~owned], c[~owned])


def test_group_rows_must_be_int32_integers(rng):
    qb, sb = experts(rng, 2, 64, 128)
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, 10, 128))
    want = fp8block.gemm_grouped(qa, sa, qb, sb, offsets=[0, 4, 10])
    np.testing.assert_array_equal(fp8block.gemm_grouped(qa, sa, qb, sb, offsets=np.array([0, 4, 10], np.int64)), want)
    np.testing.assert_array_equal(fp8block.gemm_grouped(qa, sa, qb, sb, offsets=np.array([0, 4, 10], np.uint8)), want)
    with pytest.raises(TypeError, match="offsets has dtype float64; expected an integer dtype"):
        fp8block.gemm_grouped(qa, sa, qb, sb, offsets=[0, 4.5, 10])
    with pytest.raises(TypeError, match="counts has dtype bool"):
        fp8block.gemm_grouped(qa.reshape(2, 5, 128), sa, qb, sb, counts=np.array([True, False]))
    # 2^32 + 4 would wrap to 4, a valid offset: refused, not computed on the wrong rows
    with pytest.raises(ValueError, match="offsets holds 4294967300, outside int32"):
        fp8block.gemm_grouped(qa, sa, qb, sb, offsets=np.array([0, 2**32 + 4, 10], np.int64))


def test_expert_counts_and_masked_shapes_must_agree(rng):
    """sb with fewer experts than b would be read past its end; a 3-D c or out of the masked
    layout in another [G][max_m] order would be added to or written on the wrong rows."""
    qb, sb = experts(rng, 2, 64, 128)
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, 10, 128))
    with pytest.raises(ValueError, match="b holds 2 experts but sb 1"):
        fp8block.gemm_grouped(qa, sa, qb, np.ascontiguousarray(sb[:1]), offsets=[0, 4, 10])
    with pytest.raises(ValueError, match="at least one expert"):
        fp8block.gemm_grouped(qa, sa, qb[:0], sb[:0], offsets=[0])
    a = qa.reshape(2, 5, 128)
    with pytest.raises(ValueError, match=r"c has shape \(5, 2, 64\): with counts=, a 3-D c is \[G\]\[max_m\]\[N\]"):
        fp8block.gemm_grouped(a, sa, qb, sb, counts=[5, 2], c=np.zeros((5, 2, 64), np.float32))
    with pytest.raises(ValueError, match=r"out has shape \(5, 2, 64\)"):
        fp8block.gemm_grouped(a, sa, qb, sb, counts=[5, 2], out=np.zeros((5, 2, 64), np.float32))


def test_pow2_needs_e4m3(rng):
    qb, sb = experts(rng, 2, 64, 128)
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, 10, 128))
    with pytest.raises(ValueError, match="pow2 applies to float8_e4m3fn output only"):
        fp8block.gemm_grouped(qa, sa, qb, sb, offsets=[0, 4, 10], out_dtype="float32", pow2=True)


@pytest.mark.parametrize("dtype", data.NUMPY_FLOAT_DTYPES)
def test_quantize_experts(rng, dtype):
    """quantize_128x128 of [G][N][K] weights: expert g's codes and scales are quantize_128x128 of
    w[g], byte for byte (N = 130: no scale block spans two experts), rows 16-byte aligned, and
    gemm_grouped takes them as they come."""
    g, n, k = 3, 130, 300
    w = np.stack([data.matrix(rng, n, k) for _ in range(g)]).astype(data.numpy_dtype(dtype))
    codes, scales = fp8block.quantize_128x128(w, pow2=True)
    assert codes.shape == (g, n, k) and scales.shape == (g, 2, 3) and codes.strides[1] % 16 == 0
    for e in range(g):
        want_q, want_s = fp8block.quantize_128x128(w[e], pow2=True)
        np.testing.assert_array_equal(codes[e], want_q)
        np.testing.assert_array_equal(scales[e].view(np.uint32), want_s.view(np.uint32))
    qa, sa = fp8block.quantize_1x128(data.matrix(rng, 8, k))
    d = fp8block.gemm_grouped(qa, sa, codes, scales, offsets=[0, 3, 3, 8])
    for e, rows in ((0, slice(0, 3)), (2, slice(3, 8))):
        np.testing.assert_array_equal(d[rows], fp8block.gemm(*rows_of(qa, sa, rows.start, rows.stop), codes[e],
                                                               scales[e], out_dtype="float32"))
    back = fp8block.dequantize_128x128(codes, scales, out_dtype="float32")
    assert back.shape == (g, n, k)
    for e in range(g):
        np.testing.assert_array_equal(back[e], fp8block.dequantize_128x128(codes[e], scales[e]))
    with pytest.raises(ValueError, match="at least one expert"):
        fp8block.quantize_128x128(np.zeros((0, n, k), np.float32))
    with pytest.raises(ValueError, match=r"scales must be \[G\]\[ceil\(N/128\)\]\[ceil\(K/128\)\]"):
        fp8block.dequantize_128x128(codes, scales[0])
    with pytest.raises(ValueError, match=r"scales\[0\] \(128x128 scales\) must have shape \(2, 3\)"):
        fp8block.dequantize_128x128(codes, scales[:, :1])
