# One call of each quantizer on 8192x8192 and 4096x7168 bf16, and a torch copy kernel of the
# same bytes, for Nsight Compute (kernel time, DRAM throughput, occupancy).
import torch, fp8block
for (m, k) in ((8192, 8192), (4096, 7168)):
    x = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
    y = torch.empty_like(x)
    for _ in range(2):
        fp8block.quantize_1x128(x); y.copy_(x)
    torch.cuda.synchronize()
