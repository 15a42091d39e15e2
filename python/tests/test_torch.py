"""The binding on PyTorch CUDA tensors, on the CUDA backend: the results against the CPU
backend and against torch._scaled_mm fed the same codes and scales. Skipped without torch,
without a CUDA device, on a device that is not sm_90, or with a library built without CUDA;
on an sm_90 device any UNSUPPORTED (or other error) from the library is a failure. The
CPU-tensor tests are in test_torch_cpu.py."""

import os
import subprocess
import sys
import textwrap

import fp8block
import pytest
import reference as ref
from fp8block import _library
from torch_util import QUANTIZERS, TORCH_DTYPES, as_numpy, rng, tensor, torch  # noqa: F401 (rng: a fixture)


@pytest.fixture(scope="module")
def cuda():
    """CUDA device 0 with an fp8block context. A skip, with why, only without a CUDA device,
    on a device that is not sm_90, or with a library built without CUDA: on sm_90 a failure
    to make the context (UNSUPPORTED included) fails the tests."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible to torch")
    capability = torch.cuda.get_device_capability(0)
    if tuple(capability) != (9, 0):
        pytest.skip(f"device 0 is sm_{capability[0]}{capability[1]}; the CUDA backend is for sm_90")
    try:
        _library.context(0)
    except fp8block.Fp8BlockError as e:
        if e.status == fp8block.Status.ERR_UNSUPPORTED and "has no CUDA backend" in str(e):
            pytest.skip(f"this libfp8block was built without CUDA: {e}")
        raise
    return torch.device("cuda", 0)


def on_gpu(fn, *args, **kwargs):
    """fn(...) on CUDA tensors, then a device sync. An error, UNSUPPORTED included, fails:
    the cuda fixture has made sure this is an sm_90 device."""
    out = fn(*args, **kwargs)
    torch.cuda.synchronize()
    return out


@pytest.mark.parametrize("pow2", [False, True])
@pytest.mark.parametrize("dtype", TORCH_DTYPES)
@pytest.mark.parametrize("shape", [(1, 1), (17, 130), (257, 1000), (2112, 7168)])
@pytest.mark.parametrize("block", QUANTIZERS)
def test_cuda_quantize_equals_cpu_backend(cuda, rng, block, shape, dtype, pow2):
    quantize = QUANTIZERS[block][0]
    x = tensor(rng, *shape, dtype, specials=True)
    codes, scales = on_gpu(quantize, x.to(cuda), pow2=pow2)
    assert codes.device == cuda and scales.device == cuda
    want_codes, want_scales = quantize(x, pow2=pow2)
    assert codes.stride() == want_codes.stride() and scales.stride() == want_scales.stride()
    assert ref.same_bits(as_numpy(codes), as_numpy(want_codes)), "codes differ from the CPU backend"
    assert ref.same_bits(as_numpy(scales), as_numpy(want_scales)), "scales differ from the CPU backend"


@pytest.mark.parametrize("out", TORCH_DTYPES)
@pytest.mark.parametrize("block", QUANTIZERS)
def test_cuda_dequantize_equals_cpu_backend(cuda, rng, block, out):
    quantize, dequantize = QUANTIZERS[block][:2]
    codes, scales = quantize(tensor(rng, 300, 1000, specials=True))
    got = on_gpu(dequantize, to_keeping_strides(codes, cuda), to_keeping_strides(scales, cuda),
                 out_dtype=TORCH_DTYPES[out])
    want = dequantize(codes, scales, out_dtype=TORCH_DTYPES[out])
    assert ref.same_bits(as_numpy(got), as_numpy(want))


def to_keeping_strides(t, device):
    """A copy on `device` of a view into padded rows (codes, 1x128 scales), padding kept:
    Tensor.to would make it contiguous and lose the alignment the GEMM needs."""
    rows, cols = t.shape
    full = torch.empty((rows, max(t.stride(0), cols)), dtype=t.dtype, device=device)
    view = full[:, :cols]
    view.copy_(t)
    return view


GEMM_SHAPES = [(1, 1, 1), (17, 33, 130), (256, 512, 1024), (200, 1536, 4096), (1, 7168, 2048)]


@pytest.mark.parametrize("out", TORCH_DTYPES)
@pytest.mark.parametrize("mnk", GEMM_SHAPES)
def test_cuda_gemm_matches_cpu_backend_and_reference(cuda, rng, mnk, out):
    m, n, k = mnk
    qa, sa = fp8block.quantize_1x128(tensor(rng, m, k, scale_range=1.0))
    qb, sb = fp8block.quantize_128x128(tensor(rng, n, k, scale_range=1.0))
    d = on_gpu(fp8block.gemm, to_keeping_strides(qa, cuda), to_keeping_strides(sa, cuda),
               to_keeping_strides(qb, cuda), sb.to(cuda), out_dtype=TORCH_DTYPES[out])
    assert d.shape == (m, n) and d.dtype == TORCH_DTYPES[out] and d.device == cuda
    assert d.data_ptr() % 16 == 0 and (d.stride(0) * d.element_size()) % 16 == 0
    expected, magnitude = ref.gemm(as_numpy(qa), as_numpy(sa), as_numpy(qb), as_numpy(sb))
    got = d.float().cpu().numpy()
    cpu = fp8block.gemm(qa, sa, qb, sb, out_dtype=TORCH_DTYPES[out]).float().numpy()
    for name, result in (("CUDA", got), ("CPU", cpu)):
        wrong, worst = ref.gemm_errors(result, expected, magnitude, out)
        assert wrong == 0, f"{name} backend: {wrong} elements out of tolerance; {worst}"


# Shapes _scaled_mm must take (M and ceil(K/128) multiples of 4 or single blocks, K and N of
# 16), then ones it may refuse: a refusal there is torch's limit, reported as a skip.
SCALED_MM_SHAPES = [(256, 512, 1024, True), (128, 2112, 7168, True), (1024, 1536, 4096, True),
                    (100, 272, 1024, True), (20, 48, 4096, True), (96, 128, 640, True),
                    (128, 256, 640, False), (100, 272, 640, False), (30, 256, 512, False)]


@pytest.mark.parametrize("m, n, k, must_accept", SCALED_MM_SHAPES)
def test_cuda_gemm_equals_torch_scaled_mm(cuda, rng, m, n, k, must_accept):
    x = tensor(rng, m, k, "bfloat16", device=cuda, scale_range=1.0)
    w = tensor(rng, n, k, "bfloat16", device=cuda, scale_range=1.0)
    qa, sa = on_gpu(fp8block.quantize_1x128, x)
    qb, sb = on_gpu(fp8block.quantize_128x128, w)
    ours = on_gpu(fp8block.gemm, qa, sa, qb, sb, out_dtype=torch.bfloat16)
    try:
        theirs = torch._scaled_mm(qa, qb.t(), scale_a=sa.t(), scale_b=sb.t(), out_dtype=torch.bfloat16)
        torch.cuda.synchronize()
    except (RuntimeError, NotImplementedError, ValueError) as e:
        if must_accept and "only supported" not in str(e) and "requires cublasLt" not in str(e):
            raise
        pytest.skip(f"torch._scaled_mm refuses M={m} N={n} K={k} with these scales: "
                    f"{str(e).splitlines()[0]}")
    expected, magnitude = ref.gemm(as_numpy(qa), as_numpy(sa), as_numpy(qb), as_numpy(sb))
    for name, result in (("fp8block", ours), ("torch._scaled_mm", theirs)):
        wrong, worst = ref.gemm_errors(result.float().cpu().numpy(), expected, magnitude, "bfloat16")
        assert wrong == 0, f"{name}: {wrong} elements out of tolerance; {worst}"


def test_cuda_calls_run_on_the_current_stream(cuda, rng):
    """Inputs written late on a side stream must be seen: fp8block runs on that stream."""
    source = tensor(rng, 512, 2048, "bfloat16", device=cuda)
    w = tensor(rng, 256, 2048, "bfloat16", device=cuda)
    qb, sb = on_gpu(fp8block.quantize_128x128, w)
    want = on_gpu(fp8block.gemm, *on_gpu(fp8block.quantize_1x128, source), qb, sb)
    side = torch.cuda.Stream(cuda)
    with torch.cuda.stream(side):
        x = torch.zeros_like(source)
        torch.cuda._sleep(200_000_000)  # the copy below lands well after the calls are queued
        x.copy_(source)
        qa, sa = fp8block.quantize_1x128(x)
        got = fp8block.gemm(qa, sa, qb, sb)
    side.synchronize()
    assert torch.equal(got, want)


def test_cuda_context_is_made_once_per_device(cuda, rng):
    x = tensor(rng, 8, 256, device=cuda)
    on_gpu(fp8block.quantize_1x128, x)
    ctx = _library._contexts[0]
    on_gpu(fp8block.quantize_128x128, x)
    on_gpu(fp8block.dequantize_1x128, *on_gpu(fp8block.quantize_1x128, x))
    assert _library._contexts[0] == ctx and _library._contexts[_library.DEVICE_CPU] != ctx


def test_cuda_and_cpu_tensors_are_not_mixed(cuda, rng):
    qa, sa = fp8block.quantize_1x128(tensor(rng, 8, 128))
    qb, sb = fp8block.quantize_128x128(tensor(rng, 16, 128))
    with pytest.raises(ValueError, match="is on CPU but b is on cuda:0"):
        fp8block.gemm(qa, sa, qb.to(cuda), sb.to(cuda))


def test_cuda_gemm_takes_the_kernel_with_the_least_code(cuda):
    """FP8BLOCK_GEMM_LOG (read once a process, hence a child process) names the kernel each call
    takes: with no C, bias or stream-K the lean one, with a bias alone the bias one, with C the
    general one (its line names none)."""
    child = textwrap.dedent("""
        import torch, fp8block
        x = torch.randn(512, 256, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(256, 256, device="cuda", dtype=torch.bfloat16)
        (qa, sa), (qb, sb) = fp8block.quantize_1x128(x), fp8block.quantize_128x128(w)
        fp8block.gemm(qa, sa, qb, sb, out_dtype="bfloat16")
        fp8block.gemm(qa, sa, qb, sb, out_dtype="bfloat16", bias=torch.randn(256, device="cuda"))
        fp8block.gemm(qa, sa, qb, sb, out_dtype="float32", c=torch.zeros(512, 256, device="cuda"))
        torch.cuda.synchronize()
    """)
    run = subprocess.run([sys.executable, "-c", child], env=dict(os.environ, FP8BLOCK_GEMM_LOG="1"),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("fp8block gemm 512x256x256:")]
    assert len(lines) == 3, run.stderr
    assert lines[0].endswith("; lean kernel"), lines[0]
    assert lines[1].endswith("; bias kernel"), lines[1]
    assert not lines[2].endswith(" kernel"), lines[2]
