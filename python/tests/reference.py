"""An independent NumPy reference of docs/DESIGN.md's numeric contract: e4m3 encoding and
decoding, the block scale rule, quantization, dequantization and the GEMM (in fp64).
It shares nothing with the C library, so agreement means both follow the document."""

import numpy as np

E4M3_MAX = 448.0
E4M3_NAN = 0x7F


def _decode_code(c):
    sign = -1.0 if c & 0x80 else 1.0
    exponent, mantissa = (c >> 3) & 0xF, c & 0x7
    if exponent == 0xF and mantissa == 0x7:
        return np.nan
    if exponent == 0:
        return sign * mantissa * 2.0 ** -9
    return sign * (1.0 + mantissa / 8.0) * 2.0 ** (exponent - 7)


E4M3_TABLE = np.array([_decode_code(c) for c in range(256)], dtype=np.float64)
# Codes 0x00..0x7e are the non-negative finite values, in increasing order.
_POSITIVE = E4M3_TABLE[:0x7F]


def e4m3_decode(codes):
    return E4M3_TABLE[np.asarray(codes, dtype=np.uint8)]


def e4m3_encode(v):
    """float32 -> e4m3fn codes: round to nearest even, finite values saturate to ±448,
    NaN -> 0x7f."""
    v = np.asarray(v, dtype=np.float32)
    mag = np.abs(v.astype(np.float64))
    finite = np.isfinite(mag)
    clipped = np.where(finite, np.minimum(mag, E4M3_MAX), 0.0)
    lo = np.clip(np.searchsorted(_POSITIVE, clipped, side="right") - 1, 0, 0x7D)
    hi = lo + 1
    mid = (_POSITIVE[lo] + _POSITIVE[hi]) / 2
    code = np.where(clipped < mid, lo, hi)
    code = np.where(clipped == mid, np.where(lo % 2 == 0, lo, hi), code)
    code = code.astype(np.uint8) | np.where(np.signbit(v), 0x80, 0).astype(np.uint8)
    return np.where(np.isnan(v), E4M3_NAN, np.where(np.isinf(v), code | 0x7E, code)).astype(np.uint8)


def _pow2_ceil(s):
    """Smallest power of two >= s (finite, > 0), on the fp32 bits."""
    u = np.atleast_1d(s).astype(np.float32).ravel().view(np.uint32).astype(np.uint64)
    normal = (u & 0x7F800000) != 0
    up = np.where(u & 0x007FFFFF, (u & 0xFF800000) + 0x00800000, u)
    sub = np.array([1 << int(x - 1).bit_length() if x > 0 else 0 for x in u], dtype=np.uint64)
    out = np.where(normal, up, sub).astype(np.uint32).view(np.float32)
    return out.reshape(np.shape(s))


def block_scale(amax_bits, pow2):
    """docs/DESIGN.md's scale of a block from the maximum of its |x| bit patterns."""
    amax_bits = np.asarray(amax_bits, dtype=np.uint32)
    amax = amax_bits.view(np.float32)
    with np.errstate(all="ignore"):
        s = (amax / np.float32(E4M3_MAX)).astype(np.float32)
    s = np.where(s == 0, np.float32(1), s).astype(np.float32)
    if pow2:
        finite = amax_bits < 0x7F800000
        s = np.where(finite, _pow2_ceil(np.where(finite, s, np.float32(1))), s).astype(np.float32)
    s = np.where(amax_bits == 0, np.float32(1), s)
    return np.where(amax_bits >= 0x7F800000, np.float32(np.nan), s).astype(np.float32)


def _abs_bits(x32):
    return x32.view(np.uint32) & np.uint32(0x7FFFFFFF)


def quantize_1x128(x, pow2=False):
    """x: rows×cols (any float dtype, converted exactly to fp32). Returns codes rows×cols
    and scales (ceil(cols/128), rows)."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    rows, cols = x32.shape
    kb = -(-cols // 128)
    padded = np.zeros((rows, kb * 128), dtype=np.uint32)
    padded[:, :cols] = _abs_bits(x32)
    scales = block_scale(padded.reshape(rows, kb, 128).max(axis=2), pow2)  # rows×kb
    per_element = np.repeat(scales, 128, axis=1)[:, :cols]
    with np.errstate(all="ignore"):
        codes = e4m3_encode(x32 / per_element)
    return codes, np.ascontiguousarray(scales.T)


def quantize_128x128(w, pow2=False):
    """w: rows×cols. Returns codes rows×cols and scales (ceil(rows/128), ceil(cols/128))."""
    w32 = np.ascontiguousarray(w, dtype=np.float32)
    rows, cols = w32.shape
    rb, kb = -(-rows // 128), -(-cols // 128)
    padded = np.zeros((rb * 128, kb * 128), dtype=np.uint32)
    padded[:rows, :cols] = _abs_bits(w32)
    scales = block_scale(padded.reshape(rb, 128, kb, 128).max(axis=(1, 3)), pow2)
    per_element = np.repeat(np.repeat(scales, 128, axis=0), 128, axis=1)[:rows, :cols]
    with np.errstate(all="ignore"):
        codes = e4m3_encode(w32 / per_element)
    return codes, scales


def expand_1x128(scales, rows, cols):
    """(ceil(cols/128), rows) scales -> one per element, rows×cols."""
    return np.repeat(np.asarray(scales).T, 128, axis=1)[:rows, :cols]


def expand_128x128(scales, rows, cols):
    s = np.asarray(scales)
    return np.repeat(np.repeat(s, 128, axis=0), 128, axis=1)[:rows, :cols]


def bf16_bits(x32):
    """fp32 -> bf16 bits, round to nearest even, NaN -> 0x7fff."""
    u = np.asarray(x32, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x32), np.uint16(0x7FFF), rounded)


def dequantize(codes, per_element_scales, out):
    """float(q)·s in fp32, rounded to `out` ("float32", "float16" or "bfloat16"). bfloat16
    is returned as its uint16 bits."""
    with np.errstate(all="ignore"):
        y = e4m3_decode(codes).astype(np.float32) * per_element_scales.astype(np.float32)
        if out == "float32":
            return y
        if out == "float16":
            return y.astype(np.float16)
    return bf16_bits(y)


def gemm(qa, sa, qb, sb):
    """D = A·Bᵀ of the dequantized operands in fp64, and Σ_k |a||b| (the error scale)."""
    m, k = qa.shape
    n = qb.shape[0]
    a = e4m3_decode(qa) * expand_1x128(sa, m, k).astype(np.float64)
    b = e4m3_decode(qb) * expand_128x128(sb, n, k).astype(np.float64)
    return a @ b.T, np.abs(a) @ np.abs(b).T


# Output rounding of each dtype (relative), and its smallest subnormal (absolute).
OUTPUT_ROUNDING = {"float32": (2.0 ** -24, 2.0 ** -149), "bfloat16": (2.0 ** -8, 2.0 ** -133),
                   "float16": (2.0 ** -11, 2.0 ** -24)}
ACCUMULATION = 2.0 ** -10  # what a block-promoted fp32 accumulation may lose, relative to Σ|ab|


# Where round-to-nearest-even goes to infinity: the largest finite value plus half its ulp.
OVERFLOW = {"float32": 2.0 ** 128 - 2.0 ** 103, "bfloat16": 2.0 ** 128 - 2.0 ** 119,
            "float16": 65520.0}


def gemm_tolerance(expected, magnitude, out):
    rel, tiny = OUTPUT_ROUNDING[out]
    return ACCUMULATION * magnitude + rel * np.abs(expected) + tiny


def gemm_errors(got, expected, magnitude, out):
    """Elements of an `out`-typed GEMM result that are not the fp64 `expected` within
    tolerance; an infinity is right where `expected` (give or take the tolerance) rounds
    to it. Returns (number wrong, a description of the worst)."""
    got = np.asarray(got, dtype=np.float64)
    tol = gemm_tolerance(expected, magnitude, out)
    with np.errstate(invalid="ignore"):
        excess = np.abs(got - expected) - tol
        overflowed = np.isinf(got) & (np.sign(got) == np.sign(expected)) & \
            (np.abs(expected) + tol >= OVERFLOW[out])
    wrong = ~((excess <= 0) | overflowed)
    if not wrong.any():
        return 0, ""
    i = np.unravel_index(np.argmax(np.where(wrong, np.nan_to_num(excess, nan=np.inf), -np.inf)), got.shape)
    return int(wrong.sum()), f"worst at {i}: got {got[i]!r}, expected {expected[i]!r} ± {tol[i]:.3g}"


_NAN_RULES = {  # a bit pattern (sign cleared) above the infinity's is a NaN
    "float32": (np.uint32, 0x7FFFFFFF, 0x7F800000),
    "float16": (np.uint16, 0x7FFF, 0x7C00),
    "bfloat16": (np.uint16, 0x7FFF, 0x7F80),
    "uint16": (np.uint16, 0x7FFF, 0x7F80),  # bfloat16 held as its bits
}


def same_bits(a, b):
    """Equal as bit patterns, except that any NaN equals any NaN (e4m3 codes: exactly)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.itemsize != b.dtype.itemsize:
        return False
    rule = _NAN_RULES.get(a.dtype.name)
    if rule is None:
        return bool(np.array_equal(a, b))
    width, magnitude, inf = rule
    a, b = a.view(width), b.view(width)
    both_nan = ((a & magnitude) > inf) & ((b & magnitude) > inf)
    return bool(np.all((a == b) | both_nan))
