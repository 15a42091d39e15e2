"""Test matrices: fresh random values whose magnitude changes from block to block, with
the special blocks of the scale rule planted where the shape has room for them."""

import numpy as np
import pytest

try:
    import ml_dtypes
except ImportError:
    ml_dtypes = None

# bfloat16 is always a case: without ml_dtypes each bfloat16 case is a skip with this reason
# (counted in pytest's summary, listed by -rs), never a case that is not there.
NUMPY_FLOAT_DTYPES = ["float32", "float16", "bfloat16"]
ML_DTYPES_MISSING = ("ML_DTYPES NOT INSTALLED: this bfloat16 NumPy case did not run "
                     "(scripts/ensure-python-deps installs ml_dtypes)")


def numpy_dtype(name):
    if name == "bfloat16":
        if ml_dtypes is None:
            pytest.skip(ML_DTYPES_MISSING)
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def _plant_specials(rng, x):
    """Plants, one per 128x128 region in row-major order as far as the shape allows: an
    all-zero block, a NaN, an infinity, values whose scale underflows fp32 (s = 1), values
    whose scale is subnormal, and negative zeros among ordinary values."""
    rows, cols = x.shape
    regions = [(bi, bj) for bi in range(-(-rows // 128)) for bj in range(-(-cols // 128))]

    def region(i):
        bi, bj = regions[i]
        return slice(bi * 128, (bi + 1) * 128), slice(bj * 128, (bj + 1) * 128)

    plants = [
        lambda r, c: x.__setitem__((r, c), 0.0),
        lambda r, c: x.__setitem__((r.start, c.start), np.nan),
        lambda r, c: x.__setitem__((r.start, c.start), -np.inf),
        lambda r, c: x.__setitem__((r, c), rng.uniform(-1e-43, 1e-43, size=x[r, c].shape)),
        lambda r, c: x.__setitem__((r, c), rng.uniform(-1e-37, 1e-37, size=x[r, c].shape)),
        lambda r, c: x.__setitem__((r, slice(c.start, c.start + 3)), -0.0),
    ]
    for i, plant in enumerate(plants[:len(regions)]):
        plant(*region(i))


def matrix(rng, rows, cols, dtype="float32", specials=False, scale_range=3.0):
    """rows×cols of `dtype` (a NumPy dtype name; bfloat16 through ml_dtypes)."""
    x = rng.standard_normal((rows, cols))
    x *= 10.0 ** rng.uniform(-scale_range, scale_range, size=(rows, 1))
    x *= np.repeat(10.0 ** rng.uniform(-1, 1, size=(1, -(-cols // 128))), 128, axis=1)[:, :cols]
    if dtype == "float16":
        x = np.clip(x, -60000, 60000)
    if specials:
        _plant_specials(rng, x)
    return x.astype(np.float32).astype(numpy_dtype(dtype))
