"""Linear layers on fp8block: InferenceLinear (weights quantized once, stored as codes and
scales) and Linear (trainable: every GEMM of the step in FP8, DeepSeek-V3's recipe).

Both run on the current stream, allocate only their outputs (and, in training, the quantized
operands the backward pass keeps), and trace through torch.compile and torch.export: traced,
every fp8block call in them is a torch.library op (_ops.py); in eager mode on plain contiguous
tensors they call the library directly (_direct.py), same buffers, same results.
"""

import math
from typing import Optional

import torch

from .. import _matrices as T
from . import _direct
from . import _functions as F
from . import _ops

Tensor = torch.Tensor


class InferenceLinear(torch.nn.Module):
    """y = x·Wᵀ + bias with W held in FP8: e4m3 codes and 128x128 scales, quantized once
    (from_float). Each call quantizes x in 1x128 blocks and runs one GEMM, the bias added in its
    epilogue: two kernels. x may have any leading dimensions; y has x's dtype unless out_dtype
    says otherwise (float32, bfloat16, float16).

    State dict: ``weight_codes`` (N × round_up(K, 16) float8_e4m3fn: rows padded to 16 bytes,
    as the GEMM loads them; columns past K are padding), ``weight_scales``
    (ceil(N/128) × round_up(ceil(K/128), 4) float32, padded likewise) and ``bias``. The padding
    is part of the stored tensor so that .to(device) and loading keep the rows aligned.
    """

    _QUANTIZED_BITS = {"weight_codes": torch.uint8, "weight_scales": torch.int32}

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 out_dtype: Optional[torch.dtype] = None, pow2: bool = False,
                 bias_dtype: torch.dtype = torch.float32, device=None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"in_features = {in_features}, out_features = {out_features}: both must be ≥ 1")
        self.in_features, self.out_features = in_features, out_features
        self.out_dtype, self.pow2 = out_dtype, pow2
        scale_rows, _, lds = T.scales_128x128(out_features, in_features)
        self.register_buffer("weight_codes", torch.zeros(
            (out_features, T.codes_ld(in_features)), dtype=torch.float8_e4m3fn, device=device))
        self.register_buffer("weight_scales", torch.ones(
            (scale_rows, lds), dtype=torch.float32, device=device))
        self.register_buffer("bias", torch.zeros(out_features, dtype=bias_dtype, device=device) if bias else None)

    @classmethod
    def from_float(cls, linear: torch.nn.Linear, *, out_dtype: Optional[torch.dtype] = None,
                   pow2: bool = False) -> "InferenceLinear":
        """The layer of a trained nn.Linear: its weight quantized 128x128 (pow2: power-of-two
        scales), its bias kept in its dtype (float32, bfloat16 or float16)."""
        w = linear.weight.detach()
        module = cls(linear.in_features, linear.out_features, linear.bias is not None, out_dtype=out_dtype,
                     pow2=pow2, device=w.device,
                     bias_dtype=linear.bias.dtype if linear.bias is not None else torch.float32)
        module.quantize_weight_(w)
        if linear.bias is not None:
            module.bias.copy_(linear.bias.detach())
        return module

    @torch.no_grad()
    def quantize_weight_(self, weight: Tensor) -> None:
        """Replaces the stored weight by quantize_128x128(weight) (N×K, any float dtype)."""
        if tuple(weight.shape) != (self.out_features, self.in_features):
            raise ValueError(f"weight has shape {tuple(weight.shape)}; this layer is "
                             f"{self.out_features}×{self.in_features}")
        codes, scales = F.quantize_128x128(weight.to(self.weight_codes.device), pow2=self.pow2)
        self.weight_codes[:, :self.in_features].copy_(codes)
        self.weight_scales[:, :scales.shape[1]].copy_(scales)

    def forward(self, x: Tensor) -> Tensor:
        if _ops.eager(x):
            y = self._direct_forward(x)
            if y is not None:
                return y
        qx, sx = F.quantize_1x128(x, pow2=self.pow2)
        kb = T.ceil_div(self.in_features, 128)
        return F.gemm(qx, sx, self.weight_codes[:, :self.in_features], self.weight_scales[:, :kb],
                      self.out_dtype if self.out_dtype is not None else x.dtype, bias=self.bias)

    def _direct_forward(self, x: Tensor) -> Optional[Tensor]:
        """The forward's two library calls made straight from here (_direct.py), with the same
        arguments and buffers as the ops path, for the common eager case (_direct.usable: x
        contiguous, on the layer's device, not requiring a gradient; the bias aligned).
        Anything else returns None and takes the ops path, which checks and explains.
        The ops path's generic operand checks cost ~70 us of host time a forward (CPU, stubbed
        library: bench/NOTES.md "InferenceLinear's host time"); this one ~31 (bench/linear_host.py)."""
        k, n = self.in_features, self.out_features
        out_dtype = self.out_dtype if self.out_dtype is not None else x.dtype
        codes, scales, bias = self.weight_codes, self.weight_scales, self.bias
        # the buffers as the layer makes them (padded, aligned rows): replaced ones take the ops path
        if (x.dim() < 2 or x.shape[-1] != k or codes.dtype != torch.float8_e4m3fn or scales.dtype != torch.float32
                or out_dtype not in _direct._float_codes() or codes.device != x.device or scales.device != x.device
                or not codes.is_contiguous() or not scales.is_contiguous() or codes.data_ptr() % 16
                or scales.data_ptr() % 16 or not _direct.usable(x, bias)):
            return None
        qx, sx = _direct.quantize_1x128(x.reshape(-1, k), pow2=self.pow2)
        y = _direct.gemm(qx, sx, codes, scales, out_dtype, bias=bias)  # K is qx's; the buffers' padding unread
        return y if x.dim() == 2 else y.view(*x.shape[:-1], n)

    def _apply(self, fn, recurse=True):
        # Module.to(dtype), .half() and .bfloat16() convert every floating-point buffer; the
        # codes and scales must keep their dtype (a bf16 scale is another scale), so they go
        # through fn as integer views of the same bits: moved, never converted.
        for name, bits in self._QUANTIZED_BITS.items():
            self._buffers[name] = self._buffers[name].view(bits)
        try:
            return super()._apply(fn, recurse)
        finally:
            for name in self._QUANTIZED_BITS:
                self._buffers[name] = self._buffers[name].view(
                    torch.float8_e4m3fn if name == "weight_codes" else torch.float32)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, out_dtype={self.out_dtype}, pow2={self.pow2}")


class _LinearFunction(torch.autograd.Function):
    """y = x·Wᵀ + b with the three GEMMs of the step in FP8 (docs/DESIGN.md §1.7):

        fprop  y  = x·Wᵀ      x 1x128 along K,   W 128x128
        dgrad  dx = dy·W      dy 1x128 along N,  Wᵀ 128x128 (W's codes and scales transposed)
        wgrad  dW = dyᵀ·x     dyᵀ 1x128 along M, xᵀ 1x128 along M, fp32 output

    x and dy are each read once by quantize_1x128_transpose for both of their layouts. The
    backward keeps xᵀ's codes and scales (1 byte an element) and W's, not x itself. In eager
    mode on plain contiguous tensors the calls go straight to the library (_direct.py; the
    ops path's checks were most of a step's host time), else through the ops.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, pow2):
        x2 = x.reshape(-1, x.shape[-1])
        Q = _direct if _direct.usable(x2, weight, bias) else F
        if ctx.needs_input_grad[1]:
            (qx, sx), (qxt, sxt) = Q.quantize_1x128_transpose(x2, pow2=pow2)
        else:
            (qx, sx), qxt, sxt = Q.quantize_1x128(x2, pow2=pow2), None, None
        qw, sw = Q.quantize_128x128(weight, pow2=pow2)
        y = Q.gemm(qx, sx, qw, sw, x.dtype, bias=bias)
        ctx.save_for_backward(qxt, sxt, qw, sw)
        ctx.pow2, ctx.x_shape, ctx.x_dtype = pow2, x.shape, x.dtype
        ctx.weight_dtype = weight.dtype
        ctx.bias_dtype = bias.dtype if bias is not None else None
        return y.view(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, dy):
        qxt, sxt, qw, sw = ctx.saved_tensors
        need_dx, need_dw, need_db = ctx.needs_input_grad[:3]
        # contiguous() is free on the usual contiguous dy; no stride() test, which torch 2.5's
        # dynamo refuses inside a compiled backward ("Illegal getattr invocation stride").
        dy2 = dy.reshape(-1, dy.shape[-1]).contiguous()
        dx = dw = db = None
        Q = _direct if _direct.usable(dy2) else F  # the saved operands are the quantizers' own
        if need_dw:
            (qg, sg), (qgt, sgt) = Q.quantize_1x128_transpose(dy2, pow2=ctx.pow2)
            dw = Q.gemm(qgt, sgt, qxt, sxt, torch.float32, b_block="1x128").to(ctx.weight_dtype)
        elif need_dx:
            qg, sg = Q.quantize_1x128(dy2, pow2=ctx.pow2)
        if need_dx:
            qwt, swt = Q.transpose_128x128(qw, sw)
            dx = Q.gemm(qg, sg, qwt, swt, ctx.x_dtype).view(ctx.x_shape)
        if need_db:
            db = dy2.sum(0, dtype=torch.float32).to(ctx.bias_dtype)
        return dx, dw, db, None


class Linear(torch.nn.Module):
    """A trainable nn.Linear whose forward and backward GEMMs run in FP8 with 1x128/128x128
    block scales (_LinearFunction). The weight and bias are ordinary parameters in their own
    dtype (the master copy an optimizer updates); they are quantized on every forward.
    Initialised as nn.Linear is; from_float takes over an existing layer's parameters."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, pow2: bool = False,
                 device=None, dtype=None):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"in_features = {in_features}, out_features = {out_features}: both must be ≥ 1")
        self.in_features, self.out_features, self.pow2 = in_features, out_features, pow2
        self.weight = torch.nn.Parameter(torch.empty((out_features, in_features), device=device, dtype=dtype))
        self.bias = torch.nn.Parameter(torch.empty(out_features, device=device, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as nn.Linear
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features)
            torch.nn.init.uniform_(self.bias, -bound, bound)

    @classmethod
    def from_float(cls, linear: torch.nn.Linear, *, pow2: bool = False) -> "Linear":
        w = linear.weight
        module = cls(linear.in_features, linear.out_features, linear.bias is not None, pow2=pow2,
                     device=w.device, dtype=w.dtype)
        with torch.no_grad():
            module.weight.copy_(w)
            if linear.bias is not None:
                module.bias.copy_(linear.bias)
        return module

    def forward(self, x: Tensor) -> Tensor:
        return _LinearFunction.apply(x, self.weight, self.bias, self.pow2)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, pow2={self.pow2}")
