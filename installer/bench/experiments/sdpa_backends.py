# Experiment: Sana's cross-attention (batch 2, 1024 queries, 300 caption keys, a key-padding bias) under each SDPA
# backend, and with the padded keys sliced off per sample instead of masked.
#   python3 sdpa_backends.py [HEADS HEAD_DIM]     default 20 112 (Sana 1600M; 600M: 16 72)
# The sixth session ran it at 70 heads of 32 (the self-attention's heads, not the cross-attention's): those figures in
# PERFORMANCE.md are for that shape.
import sys
import torch, torch.nn.functional as F
from torch.nn.attention import sdpa_kernel, SDPBackend
torch.manual_seed(0)
H, D = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (20, 112)
B, N, L = 2, 1024, 300
dev, dt = "cuda", torch.bfloat16
# q as the engine has it: a head-split view of [B, N, H*D]; k, v: views of [B, L, H*D]
q = torch.randn(B, N, H * D, device=dev, dtype=dt).view(B, N, H, D).transpose(1, 2)
k = torch.randn(B, L, H * D, device=dev, dtype=dt).view(B, L, H, D).transpose(1, 2)
v = torch.randn(B, L, H * D, device=dev, dtype=dt).view(B, L, H, D).transpose(1, 2)
valid = [300, 120]
mask = torch.zeros(B, L, device=dev)
for b, n in enumerate(valid): mask[b, :n] = 1
bias = ((1 - mask.to(dt)) * -10000.0)[:, None, None, :]
def timeit(fn, iters=50):
    for _ in range(5): fn()
    e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize(); e0.record()
    for _ in range(iters): fn()
    e1.record(); torch.cuda.synchronize()
    return e0.elapsed_time(e1) * 1000 / iters
ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=bias.float())
for name, be in [("cudnn", SDPBackend.CUDNN_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                 ("flash", SDPBackend.FLASH_ATTENTION), ("math", SDPBackend.MATH)]:
    try:
        with sdpa_kernel([be]):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
            us = timeit(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias))
        err = ((out.float() - ref).norm() / ref.norm()).item()
        print(f"masked  {name:9s}: {us:7.1f} us  rel err {err:.2e}  out strides {out.stride()}")
    except Exception as e:
        print(f"masked  {name:9s}: unsupported ({str(e).splitlines()[0][:100]})")
for name, be in [("cudnn", SDPBackend.CUDNN_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                 ("flash", SDPBackend.FLASH_ATTENTION)]:
    try:
        with sdpa_kernel([be]):
            def sliced():
                return [F.scaled_dot_product_attention(q[b:b+1], k[b:b+1, :, :n], v[b:b+1, :, :n]) for b, n in enumerate(valid)]
            outs = sliced()
            us = timeit(sliced)
        out = torch.cat(outs)
        err = ((out.float() - ref).norm() / ref.norm()).item()
        print(f"sliced  {name:9s}: {us:7.1f} us  rel err {err:.2e}")
    except Exception as e:
        print(f"sliced  {name:9s}: unsupported ({str(e).splitlines()[0][:100]})")
# no mask at all (all keys valid) for the floor of each
for name, be in [("cudnn", SDPBackend.CUDNN_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
                 ("flash", SDPBackend.FLASH_ATTENTION)]:
    try:
        with sdpa_kernel([be]):
            us = timeit(lambda: F.scaled_dot_product_attention(q, k, v))
        print(f"nomask  {name:9s}: {us:7.1f} us")
    except Exception as e:
        print(f"nomask  {name:9s}: unsupported ({str(e).splitlines()[0][:100]})")
