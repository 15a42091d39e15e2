"""fp8block.torch: the torch.library ops (each checked by torch.library.opcheck: schema, fake
implementation against the real one, AOT dispatch with dynamic shapes), torch.compile
(fullgraph=True) and torch.export of models using them against eager bit for bit, and the
InferenceLinear and Linear layers against the chain of fp8block calls they stand for (bit for
bit) and against nn.Linear (error bounds). On CPU tensors (the reference backend) everywhere
torch is installed; on CUDA tensors too where an sm_90 device is (else those cases skip,
saying why)."""

import io
import math

import pytest

import fp8block
import reference as ref
from torch_util import as_numpy, rng, tensor, torch  # noqa: F401 (rng: a fixture)

import fp8block.torch as fbt  # noqa: E402 (needs torch, which torch_util checked)
from fp8block.torch import _ops  # noqa: E402


@pytest.fixture(params=["cpu", "cuda"])
def device(request):
    if request.param == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device visible to torch")
        if tuple(torch.cuda.get_device_capability(0)) != (9, 0):
            pytest.skip("the CUDA backend is for sm_90")
        try:
            fp8block._library.context(0)
        except fp8block.Fp8BlockError as e:
            if "has no CUDA backend" in str(e):
                pytest.skip(f"this libfp8block was built without CUDA: {e}")
            raise
    return torch.device(request.param)


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and ref.same_bits(as_numpy(a), as_numpy(b))


def bits(t):
    """Codes as uint8: opcheck compares inputs before and after with allclose, which torch
    does not implement for float8 (the ops take uint8 codes as well)."""
    return t.view(torch.uint8) if t.dtype == torch.float8_e4m3fn else t


@pytest.fixture
def operands(rng, device):
    """x (2, 3, 300) activations, w 130×300 weights (awkward sizes: K and N not multiples of
    128, K not of 16), quantized."""
    x = tensor(rng, 6, 300, "bfloat16", device=device).reshape(2, 3, 300)
    w = tensor(rng, 130, 300, "float32", device=device)
    return x, w, fbt.quantize_1x128(x), fbt.quantize_128x128(w)


def test_every_op_passes_opcheck(operands, device, rng):
    x, w, (q, s), (qw, sw) = operands
    x2 = x.reshape(6, 300)
    (_, _), (qxt, sxt) = fbt.quantize_1x128_transpose(x2)
    (gq, gs), (gqt, gst) = fbt.quantize_1x128_transpose(tensor(rng, 6, 130, device=device))
    codes_out = torch.zeros(6, 144, dtype=torch.uint8, device=device)[:, :130]
    cases = [
        (_ops.quantize_1x128, (x, False)),
        (_ops.quantize_1x128, (x2.float(), True)),
        (_ops.quantize_128x128, (w, False)),
        (_ops.quantize_128x128, (w.reshape(2, 65, 300), True)),  # experts
        (_ops.dequantize_1x128, (bits(q), s, torch.bfloat16)),
        (_ops.dequantize_128x128, (bits(qw), sw, torch.float16)),
        (_ops.dequantize_128x128, (bits(qw).reshape(2, 65, 300), sw.expand(2, 2, 3).contiguous()[:, :1],
                                   torch.float32)),  # experts
        (_ops.quantize_1x128_transpose, (x2, True)),
        (_ops.transpose_128x128, (bits(qw), sw)),
        (_ops.gemm, (bits(q), s, bits(qw), sw, torch.bfloat16, None, None, "128x128")),
        (_ops.gemm, (bits(q), s, bits(qw), sw, torch.float32, tensor(rng, 6, 130, device=device).reshape(2, 3, 130),
                     tensor(rng, 1, 130, device=device)[0], "128x128")),
        (_ops.gemm, (bits(gqt), gst, bits(qxt), sxt, torch.float32, None, None, "1x128")),
        (_ops.gemm_e4m3, (bits(q), s, bits(qw), sw, None, None, True, "128x128")),
        (_ops.gemm_out, (bits(q), s, bits(qw), sw, torch.zeros(2, 3, 130, device=device), None, None, "128x128")),
        (_ops.gemm_e4m3_out, (bits(q.reshape(6, 300)), s, bits(qw), sw, codes_out,
                              torch.zeros(2, 8, device=device)[:, :6], None, None, False, "128x128")),
    ]
    # grouped: 3 experts, contiguous rows 0..2 | 3..6 | (none) and one row no group owns; masked 3 x 4 rows
    qe, se = experts(rng, device)
    (qg3, sg3) = fbt.quantize_1x128(tensor(rng, 12, 300, device=device))
    offsets = torch.tensor([0, 3, 7, 7], dtype=torch.int32, device=device)
    counts = torch.tensor([2, 4, 0], dtype=torch.int32, device=device)
    cases += [
        (_ops.gemm_grouped, (bits(qg3[:8]), sg3[:, :8], bits(qe), se, offsets, False, torch.bfloat16)),
        (_ops.gemm_grouped, (bits(qg3.reshape(3, 4, 300)), sg3, bits(qe), se, counts, True, torch.float32)),
        (_ops.gemm_grouped_out, (bits(qg3[:8]), sg3[:, :8], bits(qe), se, offsets, False,
                                 torch.zeros(8, 136, dtype=torch.bfloat16, device=device)[:, :130])),
        # masked with expected_m, the planning hint (an int argument, 0: none)
        (_ops.gemm_grouped, (bits(qg3.reshape(3, 4, 300)), sg3, bits(qe), se, counts, True, torch.bfloat16, 2)),
        (_ops.gemm_grouped_out, (bits(qg3.reshape(3, 4, 300)), sg3, bits(qe), se, counts, True,
                                 torch.zeros(3, 4, 132, device=device)[..., :130], 3)),
        # the epilogue: C (masked: [G][max_m][N]) and bias, and E4M3 D with its scales
        (_ops.gemm_grouped, (bits(qg3.reshape(3, 4, 300)), sg3, bits(qe), se, counts, True, torch.float32, 0,
                             tensor(rng, 12, 130, device=device).reshape(3, 4, 130),
                             tensor(rng, 1, 130, device=device)[0])),
        (_ops.gemm_grouped_out, (bits(qg3[:8]), sg3[:, :8], bits(qe), se, offsets, False,
                                 torch.zeros(8, 132, device=device)[:, :130], 0, None,
                                 tensor(rng, 1, 130, device=device)[0])),
        (_ops.gemm_grouped_e4m3, (bits(qg3[:8]), sg3[:, :8], bits(qe), se, offsets, False, 0,
                                  tensor(rng, 8, 130, device=device), None, True)),
        (_ops.gemm_grouped_e4m3_out, (bits(qg3.reshape(3, 4, 300)), sg3, bits(qe), se, counts, True,
                                      torch.zeros(3, 4, 144, dtype=torch.uint8, device=device)[..., :130],
                                      torch.zeros(2, 12, device=device), 2, None, None, False)),
    ]
    assert {op for op, _ in cases} == set(_ops.OPS), "an op without an opcheck case"
    for op, args in cases:
        torch.library.opcheck(op, args)


def test_functions_equal_the_plain_calls(operands):
    """fp8block.torch.* run the same library calls as fp8block.*: the same bits."""
    x, w, (q, s), (qw, sw) = operands
    for got, want in [((q, s), fp8block.quantize_1x128(x)), ((qw, sw), fp8block.quantize_128x128(w))]:
        assert same(got[0], want[0]) and same(got[1], want[1])
        assert got[0].stride() == want[0].stride() and got[1].stride() == want[1].stride()
    assert same(fbt.gemm(q, s, qw, sw), fp8block.gemm(q, s, qw, sw))
    # eager calls skip the dispatcher (_ops.call); through it, the same bits
    assert same(_ops.gemm(q, s, qw, sw, torch.bfloat16, None, None, "128x128"), fbt.gemm(q, s, qw, sw))
    e4m3, want = fbt.gemm(q, s, qw, sw, torch.float8_e4m3fn), fp8block.gemm(q, s, qw, sw, torch.float8_e4m3fn)
    assert same(e4m3[0], want[0]) and same(e4m3[1], want[1])
    w3 = w.reshape(2, 65, 300)  # experts: each one's own quantization
    qe, se = fbt.quantize_128x128(w3)
    for e in range(2):
        want = fp8block.quantize_128x128(w3[e])
        assert same(qe[e], want[0]) and same(se[e], want[1])


def experts(rng, device):
    """3 experts' 130x300 weights, quantized: [3][130][300] codes (rows 304 bytes apart, as the
    GEMM loads them), [3][2][3] scales."""
    qs = [fbt.quantize_128x128(tensor(rng, 130, 300, device=device)) for _ in range(3)]
    codes = torch.zeros(3, 130, 304, dtype=torch.float8_e4m3fn, device=device)[..., :300]
    for e, (q, _) in enumerate(qs):
        codes[e].copy_(q)
    return codes, torch.stack([s.contiguous() for _, s in qs]).contiguous()


def test_grouped_op_equals_the_plain_call_and_zeroes_unowned_rows(rng, device):
    qe, se = experts(rng, device)
    qa, sa = fbt.quantize_1x128(tensor(rng, 8, 300, device=device))
    offsets = torch.tensor([0, 3, 7, 7], dtype=torch.int32, device=device)
    d = fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets)
    want = fp8block.gemm_grouped(qa, sa, qe, se, offsets=offsets)
    assert d.shape == (8, 130) and same(d[:7], want[:7]) and (d[7] == 0).all()
    counts = torch.tensor([2, 0], dtype=torch.int32, device=device)
    qm, sm = fbt.quantize_1x128(tensor(rng, 8, 300, device=device))
    d = fbt.gemm_grouped(qm.reshape(2, 4, 300), sm, qe[:2], se[:2], counts=counts, out_dtype=torch.float32)
    want = fp8block.gemm_grouped(qm.reshape(2, 4, 300), sm, qe[:2], se[:2], counts=counts, out_dtype=torch.float32)
    assert d.shape == (2, 4, 130) and same(d[0, :2], want[0, :2]) and (d[0, 2:] == 0).all() and (d[1] == 0).all()
    out = torch.full((2, 4, 132), 5.0, device=device)[..., :130]
    assert fbt.gemm_grouped(qm.reshape(2, 4, 300), sm, qe[:2], se[:2], counts=counts, out=out) is out
    assert same(out[0, :2], want[0, :2]) and (out[0, 2:] == 5).all() and (out[1] == 5).all()
    compiled = torch.compile(lambda a, s: fbt.gemm_grouped(a, s, qe, se, offsets=offsets), fullgraph=True)
    assert same(compiled(qa, sa), fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets))


def test_grouped_op_epilogue(rng, device):
    """C, bias, pow2 and E4M3 output through the ops: the plain call's bits for the rows groups
    own; fresh outputs zero elsewhere (codes and scales), out= pairs left as they were; compiled
    the same."""
    qe, se = experts(rng, device)
    qa, sa = fbt.quantize_1x128(tensor(rng, 8, 300, device=device))
    offsets = torch.tensor([0, 3, 7, 7], dtype=torch.int32, device=device)
    c, bias = tensor(rng, 8, 130, device=device), tensor(rng, 1, 130, device=device)[0]
    d = fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets, out_dtype=torch.float32, c=c, bias=bias)
    want = fp8block.gemm_grouped(qa, sa, qe, se, offsets=offsets, out_dtype=torch.float32, c=c, bias=bias)
    assert same(d[:7], want[:7]) and (d[7] == 0).all()
    q, s = fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets, out_dtype=torch.float8_e4m3fn, c=c, bias=bias,
                            pow2=True)
    wq, ws = fp8block.gemm_grouped(qa, sa, qe, se, offsets=offsets, out_dtype=torch.float8_e4m3fn, c=c, bias=bias,
                                   pow2=True)
    no_c = fp8block.gemm_grouped(qa, sa, qe, se, offsets=offsets, out_dtype=torch.float8_e4m3fn, bias=bias, pow2=True)
    assert not same(no_c[0][:7], wq[:7])  # c changes D: a dropped c would not pass the checks below
    assert q.shape == (8, 130) and s.shape == (2, 8)
    assert same(q[:7], wq[:7]) and same(s[:, :7], ws[:, :7])
    assert (q[7].view(torch.uint8) == 0).all() and (s[:, 7] == 0).all()
    out = (torch.full((8, 144), 0x7E, dtype=torch.uint8, device=device)[:, :130].view(torch.float8_e4m3fn),
           torch.full((2, 8), -3.0, device=device))
    assert fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets, c=c, bias=bias, pow2=True, out=out) is out
    assert same(out[0][:7], wq[:7]) and same(out[1][:, :7], ws[:, :7])
    assert (out[0][7].view(torch.uint8) == 0x7E).all() and (out[1][:, 7] == -3).all()
    acc = c.clone()  # D += A·Bᵀ (+ bias) in place
    fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets, c=acc, bias=bias, out=acc)
    plain = fp8block.gemm_grouped(qa, sa, qe, se, offsets=offsets, out_dtype=torch.float32, c=c, bias=bias)
    assert same(acc[:7], plain[:7]) and same(acc[7], c[7])
    compiled = torch.compile(lambda x, sx: fbt.gemm_grouped(x, sx, qe, se, offsets=offsets, bias=bias,
                                                            out_dtype=torch.float8_e4m3fn), fullgraph=True)
    cq, cs = compiled(qa, sa)
    eq, es = fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets, bias=bias, out_dtype=torch.float8_e4m3fn)
    assert same(cq, eq) and same(cs, es)
    for call in (fbt.gemm_grouped, fp8block.gemm_grouped):  # the op layer and the plain call check alike
        with pytest.raises(TypeError, match="offsets has dtype torch.float32"):
            call(qa, sa, qe, se, offsets=offsets.float())
        # on the CPU, a value past int32 is refused: cast, 2^32 + 3 would be the valid offset 3
        with pytest.raises(ValueError, match="offsets holds 4294967299, outside int32"):
            call(qa, sa, qe, se, offsets=torch.tensor([0, 2**32 + 3, 7, 7]))
        unsigned = getattr(torch, "uint32", torch.uint8)  # torch.min has no uint32 kernel: read through NumPy
        uint = torch.tensor([0, 3, 7, 7]).to(unsigned).to(device)
        want = fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets)
        # rows 0..6: row 7, owned by no group, is uninitialised in the plain call's fresh D
        assert same(call(qa, sa, qe, se, offsets=uint)[:7], want[:7])
    with pytest.raises(ValueError, match="pow2 applies to float8_e4m3fn output only"):
        fbt.gemm_grouped(qa, sa, qe, se, offsets=offsets, pow2=True)


def test_grouped_op_expected_m_is_a_hint(rng, device):
    """expected_m reaches fp8block.gemm_grouped (whose rules refuse a bad one) and changes no bit."""
    qe, se = experts(rng, device)
    qm, sm = fbt.quantize_1x128(tensor(rng, 8, 300, device=device))
    a, counts = qm.reshape(2, 4, 300), torch.tensor([2, 4], dtype=torch.int32, device=device)
    want = fbt.gemm_grouped(a, sm, qe[:2], se[:2], counts=counts)
    for expected_m in (0, 1, 4):
        assert same(fbt.gemm_grouped(a, sm, qe[:2], se[:2], counts=counts, expected_m=expected_m), want)
    out = torch.zeros(2, 4, 136, dtype=torch.bfloat16, device=device)[..., :130]
    assert same(fbt.gemm_grouped(a, sm, qe[:2], se[:2], counts=counts, out=out, expected_m=2), want)
    with pytest.raises(ValueError, match="expected_m = 5 is above max_m = 4"):
        fbt.gemm_grouped(a, sm, qe[:2], se[:2], counts=counts, expected_m=5)
    with pytest.raises(ValueError, match="expected_m belongs to the masked layout"):
        fbt.gemm_grouped(qm, sm, qe[:2], se[:2], offsets=torch.tensor([0, 3, 8], dtype=torch.int32), expected_m=2)
    with pytest.raises(ValueError, match="expected_m belongs to the masked layout"):  # the op itself, called directly
        _ops.gemm_grouped(bits(qm), sm, bits(qe[:2]), se[:2], torch.tensor([0, 3, 8], dtype=torch.int32, device=device),
                          False, torch.bfloat16, 2)
    compiled = torch.compile(lambda x, s: fbt.gemm_grouped(x, s, qe[:2], se[:2], counts=counts, expected_m=2),
                             fullgraph=True)
    assert same(compiled(a, sm), want)


def test_out_and_in_place_accumulation(operands, rng, device):
    x, w, (q, s), (qw, sw) = operands
    d = tensor(rng, 6, 130, device=device).reshape(2, 3, 130)
    want = fbt.gemm(q, s, qw, sw, torch.float32, c=d.clone())
    got = fbt.gemm(q, s, qw, sw, c=d, out=d)
    assert got is d and same(d, want)
    # a row stride the GEMM cannot store to (130 floats) goes through a temporary, not an error
    packed = torch.empty(6, 130, dtype=torch.bfloat16, device=device)
    fbt.gemm(q.reshape(6, 300), s, qw, sw, out=packed)
    assert same(packed, fbt.gemm(q.reshape(6, 300), s, qw, sw))


class TwoLayers(torch.nn.Module):
    def __init__(self, device):
        super().__init__()
        torch.manual_seed(0)
        self.up = fbt.InferenceLinear.from_float(torch.nn.Linear(300, 260, device=device))
        self.down = fbt.InferenceLinear.from_float(torch.nn.Linear(260, 130, bias=False, device=device),
                                                   out_dtype=torch.float32)

    def forward(self, x):
        return self.down(torch.relu(self.up(x)))


def test_torch_compile_fullgraph_matches_eager(operands, device):
    x = operands[0]
    model = TwoLayers(device)
    eager = model(x)
    compiled = torch.compile(model, fullgraph=True)(x)
    assert same(compiled, eager)


def test_torch_compile_of_the_training_layer(rng, device):
    torch.manual_seed(1)
    layer = fbt.Linear(300, 130, device=device)
    x = tensor(rng, 6, 300, device=device).requires_grad_()
    eager_y = layer(x)
    eager_y.square().sum().backward()
    eager_grads = [t.grad.clone() for t in (x, layer.weight, layer.bias)]
    for t in (x, layer.weight, layer.bias):
        t.grad = None
    compiled_y = torch.compile(layer, fullgraph=True)(x)
    compiled_y.square().sum().backward()
    assert same(compiled_y, eager_y)
    for got, want in zip((x.grad, layer.weight.grad), eager_grads):
        assert same(got, want)
    # db is torch's own sum over tokens, which Inductor may order differently than eager
    torch.testing.assert_close(layer.bias.grad, eager_grads[2], rtol=1e-5, atol=0)


def test_torch_export_runs_the_ops(operands, device):
    x = operands[0]
    model = TwoLayers(device)
    exported = torch.export.export(model, (x,))
    called = {str(node.target) for node in exported.graph.nodes if node.op == "call_function"}
    assert {"fp8block.quantize_1x128.default", "fp8block.gemm.default"} <= called, called
    assert same(exported.module()(x), model(x))


def test_inference_linear_against_nn_linear(rng, device):
    torch.manual_seed(2)
    linear = torch.nn.Linear(1000, 520, device=device)
    layer = fbt.InferenceLinear.from_float(linear)
    x = tensor(rng, 48, 1000, "bfloat16", device=device).reshape(4, 12, 1000)
    y = layer(x)
    assert y.shape == (4, 12, 520) and y.dtype == torch.bfloat16
    # what the layer stands for, call by call
    qw, sw = fp8block.quantize_128x128(linear.weight.detach())
    qx, sx = fp8block.quantize_1x128(x)
    assert same(y, fp8block.gemm(qx, sx, qw, sw, torch.bfloat16, bias=linear.bias.detach()))
    want = linear(x.float())
    error = ((y.float() - want).norm() / want.norm()).item()
    assert error < 0.06, f"relative error {error:.4f} against nn.Linear"


@pytest.mark.parametrize("lead", [(1,), (5,), (2, 3)])
@pytest.mark.parametrize("out_dtype,bias_dtype", [(None, torch.float32), (torch.float32, torch.bfloat16), (None, None)])
def test_inference_linear_direct_calls_equal_the_ops(rng, device, lead, out_dtype, bias_dtype, monkeypatch):
    """The eager forward's direct library calls give the ops path's output bit for bit, with
    its shape, dtype and strides; what they do not cover falls back to the ops."""
    torch.manual_seed(5)
    linear = torch.nn.Linear(300, 130, bias=bias_dtype is not None, device=device)
    if bias_dtype is not None:
        linear = linear.to(bias_dtype)
    layer = fbt.InferenceLinear.from_float(linear, out_dtype=out_dtype)
    x = tensor(rng, math.prod(lead), 300, "bfloat16", device=device).reshape(*lead, 300)
    direct = layer._direct_forward(x)
    assert direct is not None
    monkeypatch.setattr(fbt.InferenceLinear, "_direct_forward", lambda self, x: None)
    through_ops = layer(x)
    assert same(direct, through_ops) and direct.stride() == through_ops.stride()
    monkeypatch.undo()
    assert layer._direct_forward(x.reshape(-1, 300)[:, :299]) is None  # not this layer's K
    assert layer._direct_forward(tensor(rng, 300, 4, "bfloat16", device=device).t()) is None  # strided rows
    assert layer._direct_forward(x.to(torch.float8_e4m3fn)) is None
    codes = layer.weight_codes
    layer.weight_codes = codes.t().contiguous().t()  # same values, columns apart: not the layer's layout
    assert layer._direct_forward(x) is None and same(layer(x), through_ops)
    layer.weight_codes = codes


def test_inference_linear_state_dict_and_dtype_moves(rng, device):
    torch.manual_seed(3)
    layer = fbt.InferenceLinear.from_float(torch.nn.Linear(300, 130, device=device))
    x = tensor(rng, 5, 300, "bfloat16", device=device)
    y = layer(x)
    saved = io.BytesIO()
    torch.save(layer.state_dict(), saved)
    fresh = fbt.InferenceLinear(300, 130, device=device)
    fresh.load_state_dict(torch.load(io.BytesIO(saved.getvalue())))
    assert same(fresh(x), y)
    fresh.to(torch.bfloat16)  # converts the bias only: codes and scales keep their bits
    assert fresh.weight_codes.dtype == torch.float8_e4m3fn and fresh.weight_scales.dtype == torch.float32
    assert same(fresh.weight_scales, layer.weight_scales) and fresh.bias.dtype == torch.bfloat16
    moved = fbt.InferenceLinear.from_float(torch.nn.Linear(300, 130)).to(device)
    assert moved.weight_codes.stride(0) == 304, "rows must stay padded to 16 bytes across .to()"


def test_inference_linear_rejects_bad_weights():
    layer = fbt.InferenceLinear(300, 130)
    with pytest.raises(ValueError, match=r"weight has shape \(130, 299\); this layer is 130×300"):
        layer.quantize_weight_(torch.zeros(130, 299))
    with pytest.raises(ValueError, match="both must be ≥ 1"):
        fbt.InferenceLinear(0, 3)


def test_linear_backward_is_the_fp8_chain(rng, device):
    """Linear's y, dx, dW and db equal, bit for bit, the fp8block calls of the recipe in
    docs/DESIGN.md §1.7, and are close to nn.Linear's in fp32."""
    torch.manual_seed(4)
    linear = torch.nn.Linear(300, 130, device=device)
    layer = fbt.Linear.from_float(linear)
    x = tensor(rng, 6, 300, device=device).reshape(2, 3, 300).requires_grad_()
    dy = tensor(rng, 6, 130, device=device).reshape(2, 3, 130)
    y = layer(x)
    y.backward(dy)

    w, x2, dy2 = linear.weight.detach(), x.detach().reshape(6, 300), dy.reshape(6, 130)
    qw, sw = fp8block.quantize_128x128(w)
    (qx, sx), (qxt, sxt) = fp8block.quantize_1x128_transpose(x2)
    (qg, sg), (qgt, sgt) = fp8block.quantize_1x128_transpose(dy2)
    want_y = fp8block.gemm(qx, sx, qw, sw, torch.float32, bias=linear.bias.detach())
    want_dx = fp8block.gemm(qg, sg, *fp8block.transpose_128x128(qw, sw), torch.float32)
    want_dw = fp8block.gemm(qgt, sgt, qxt, sxt, torch.float32, b_block="1x128")
    assert same(y.reshape(6, 130), want_y)
    assert same(x.grad.reshape(6, 300), want_dx)
    assert same(layer.weight.grad, want_dw)
    assert same(layer.bias.grad, dy2.sum(0))

    xf = x.detach().clone().requires_grad_()
    yf = linear(xf)
    yf.backward(dy)
    for name, got, want in [("y", y, yf), ("dx", x.grad, xf.grad), ("dW", layer.weight.grad, linear.weight.grad)]:
        error = ((got.float() - want).norm() / want.norm()).item()
        assert error < 0.08, f"{name}: relative error {error:.4f} against nn.Linear"


@pytest.mark.parametrize("weight_dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("lead", [(6,), (2, 3)])
def test_linear_direct_calls_equal_the_ops(rng, device, weight_dtype, lead, monkeypatch):
    """The training step's direct library calls (fp8block.torch._direct) give the ops path's y,
    dx, dW and db bit for bit; an input off 16-byte alignment takes the ops path."""
    from fp8block.torch import _direct

    def step(layer, x, dy):
        x = x.detach().requires_grad_()  # the same storage: an offset input stays offset
        layer.zero_grad(set_to_none=True)
        y = layer(x)
        y.backward(dy)
        return y, x.grad, layer.weight.grad, layer.bias.grad

    torch.manual_seed(6)
    layer = fbt.Linear.from_float(torch.nn.Linear(300, 130, device=device).to(weight_dtype))
    x = tensor(rng, math.prod(lead), 300, "bfloat16", device=device).reshape(*lead, 300)
    dy = tensor(rng, math.prod(lead), 130, "bfloat16", device=device).reshape(*lead, 130)
    calls = []
    real_call = _direct._call
    monkeypatch.setattr(_direct, "_call", lambda like, name, *args: (calls.append(name), real_call(like, name, *args)))
    direct = step(layer, x, dy)
    assert calls == ["fp8block_quantize_1x128_transpose", "fp8block_quantize_ex", "fp8block_gemm_ex",
                     "fp8block_quantize_1x128_transpose", "fp8block_gemm_ex", "fp8block_transpose_128x128",
                     "fp8block_gemm_ex"], calls
    monkeypatch.setattr(_direct, "usable", lambda *tensors: False)
    through_ops = step(layer, x, dy)
    for got, want in zip(direct, through_ops):
        assert same(got, want) and got.stride() == want.stride()
    monkeypatch.undo()
    calls.clear()
    monkeypatch.setattr(_direct, "_call", lambda like, name, *args: (calls.append(name), real_call(like, name, *args)))
    offset = tensor(rng, 1, math.prod(lead) * 300 + 1, "bfloat16", device=device).reshape(-1)[1:]
    y, dx, dw, db = step(layer, offset.reshape(*lead, 300), dy)
    assert calls == ["fp8block_quantize_1x128_transpose", "fp8block_gemm_ex", "fp8block_transpose_128x128",
                     "fp8block_gemm_ex"], calls  # the forward through the ops; dy is aligned
    assert same(y, step(layer, offset.reshape(*lead, 300).clone(), dy)[0])


def test_linear_without_weight_grad_skips_the_transposes(rng, device):
    layer = fbt.Linear(300, 130, bias=False, device=device).requires_grad_(False)
    x = tensor(rng, 6, 300, device=device).requires_grad_()
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is None


def test_cuda_graph_replays_inference_linear(rng, device):
    if device.type != "cuda":
        pytest.skip("CUDA graphs need a CUDA device")
    layer = fbt.InferenceLinear.from_float(torch.nn.Linear(7168, 2112, device=device))
    x = tensor(rng, 64, 7168, "bfloat16", device=device)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        layer(x)  # warm-up on the capture stream (library context, workspace)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        y = layer(x)
    fresh = tensor(rng, 64, 7168, "bfloat16", device=device)
    x.copy_(fresh)
    graph.replay()
    torch.cuda.synchronize()
    assert same(y, layer(fresh))
