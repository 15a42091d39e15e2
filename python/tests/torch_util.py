"""What the torch test modules share: torch itself (a loud, counted skip of the importing
module where it is not installed), tensors of random data, bit-exact NumPy views."""

import zlib

import numpy as np
import pytest

import data
import fp8block
import reference as ref

torch = pytest.importorskip(
    "torch", reason="TORCH NOT INSTALLED: this module's torch tests did not run "
                    "(CI does not install torch; FP8BLOCK_INSTALL_TORCH=1 scripts/ensure-python-deps does)")

TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def tensor(rng, rows, cols, dtype="float32", specials=False, device="cpu", scale_range=3.0):
    x = data.matrix(rng, rows, cols, "float32", specials=specials, scale_range=scale_range)
    if dtype == "float16":
        x = np.clip(x, -60000, 60000)
    return torch.from_numpy(x).to(device=device, dtype=TORCH_DTYPES[dtype])


def as_numpy(t):
    """Tensor -> NumPy with the same bits: codes as uint8, bfloat16 as its uint16 bits."""
    t = t.detach().cpu()
    if t.dtype == torch.float8_e4m3fn:
        t = t.view(torch.uint8)
    elif t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
        return t.numpy().view(np.uint16)
    return t.numpy()


QUANTIZERS = {
    "1x128": (fp8block.quantize_1x128, fp8block.dequantize_1x128, ref.quantize_1x128, ref.expand_1x128),
    "128x128": (fp8block.quantize_128x128, fp8block.dequantize_128x128, ref.quantize_128x128,
                ref.expand_128x128),
}
