"""The binding on PyTorch CPU tensors, on the reference backend: no GPU needed, so these run
wherever torch is installed (without torch the module is one skip, with the reason, in the
summary)."""

import numpy as np
import pytest

import fp8block
import reference as ref
from torch_util import QUANTIZERS, TORCH_DTYPES, as_numpy, rng, tensor, torch  # noqa: F401 (rng: a fixture)


@pytest.mark.parametrize("block", QUANTIZERS)
@pytest.mark.parametrize("dtype", TORCH_DTYPES)
def test_cpu_tensors_match_reference(rng, block, dtype):
    quantize, dequantize, ref_quantize, expand = QUANTIZERS[block]
    x = tensor(rng, 130, 300, dtype, specials=True)
    codes, scales = quantize(x)
    assert codes.dtype == torch.float8_e4m3fn and codes.device.type == "cpu"
    assert scales.dtype == torch.float32
    want_codes, want_scales = ref_quantize(x.float().numpy())
    assert ref.same_bits(as_numpy(codes), want_codes)
    assert ref.same_bits(as_numpy(scales), want_scales)
    y = dequantize(codes, scales, out_dtype=torch.bfloat16)
    assert y.dtype == torch.bfloat16
    assert ref.same_bits(as_numpy(y), ref.dequantize(want_codes, expand(want_scales, 130, 300), "bfloat16"))


def test_cpu_gemm_defaults_to_bfloat16(rng):
    qa, sa = fp8block.quantize_1x128(tensor(rng, 16, 256, "bfloat16"))
    qb, sb = fp8block.quantize_128x128(tensor(rng, 24, 256, "bfloat16"))
    d = fp8block.gemm(qa, sa, qb, sb)
    assert d.dtype == torch.bfloat16 and d.shape == (16, 24)
    expected, magnitude = ref.gemm(as_numpy(qa), as_numpy(sa), as_numpy(qb), as_numpy(sb))
    got = d.float().numpy().astype(np.float64)
    assert np.all(np.abs(got - expected) <= ref.gemm_tolerance(expected, magnitude, "bfloat16"))


def test_codes_accepted_as_uint8_tensors(rng):
    qa, sa = fp8block.quantize_1x128(tensor(rng, 8, 128))
    qb, sb = fp8block.quantize_128x128(tensor(rng, 16, 128))
    want = fp8block.gemm(qa, sa, qb, sb, out_dtype=torch.float32)
    got = fp8block.gemm(qa.view(torch.uint8), sa, qb.view(torch.uint8), sb, out_dtype="float32")
    assert torch.equal(got, want)


def test_mixing_numpy_and_torch_is_refused(rng):
    qa, sa = fp8block.quantize_1x128(tensor(rng, 8, 128))
    qb, sb = fp8block.quantize_128x128(tensor(rng, 16, 128).numpy())
    with pytest.raises(TypeError, match="pass all operands of one kind"):
        fp8block.gemm(qa, sa, qb, sb)


def test_column_strided_tensor_is_refused(rng):
    x = tensor(rng, 256, 64)
    with pytest.raises(ValueError, match="must be contiguous"):
        fp8block.quantize_1x128(x.t())
    with pytest.raises(TypeError, match="expected float32, bfloat16 or float16"):
        fp8block.quantize_1x128(x.double())
