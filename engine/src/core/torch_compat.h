// The one place that knows LibTorch versions apart (Debian 1.13 on CPU machines, pip 2.x on GPU
// machines). Everything else calls these shims.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Allocator.h>
#include <torch/version.h>

#include <cmath>
#include <optional>

// CUDA graphs (runtime/cuda_graph_cuda.cpp, compiled only against a CUDA LibTorch): 1 where the CUDA caching
// allocator has beginAllocateToPool / endAllocateToPool / releasePool (torch >= 2.1), which a failed capture needs to
// stop routing allocations to the graph's pool. at::cuda::CUDAGraph's capture_begin(pool) / capture_end() / replay()
// with default arguments are the same in 1.13 and 2.x (2.x adds a capture-mode argument and a keep_graph constructor
// argument, both defaulted), so they need no shim.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define KINORA_TORCH_GRAPH_POOL_API 1
#else
#define KINORA_TORCH_GRAPH_POOL_API 0
#endif

// FP8 GEMMs with one scale per row of A and per column of B (at::_scaled_mm's row-wise scaling: torch >= 2.5 on
// CUDA devices of compute capability >= 8.9). Debian's 1.13 has no float8 types at all.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define KINORA_TORCH_FP8_ROWWISE 1
#else
#define KINORA_TORCH_FP8_ROWWISE 0
#endif

namespace engine::core {

/// softmax(q kᵀ · scale + mask) v over the last two dims: q [.., Lq, D], k [.., Lk, D], v [.., Lk, Dv].
/// mask: bool (true = attend) or additive float, broadcastable to [.., Lq, Lk]. scale defaults to
/// 1/sqrt(D). Torch 2.x uses the fused kernels (flash / memory-efficient on CUDA); 1.13 computes it
/// explicitly (with float32 softmax for half inputs).
inline at::Tensor scaled_dot_product_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                               const std::optional<at::Tensor>& mask = std::nullopt,
                                               std::optional<double> scale = std::nullopt) {
#if TORCH_VERSION_MAJOR >= 2
    return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
#else
    const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)) * s;  // [.., Lq, Lk]
    if (mask) {
        if (mask->scalar_type() == at::kBool) {
            scores = scores.masked_fill(mask->logical_not(), -std::numeric_limits<float>::infinity());
        } else {
            scores = scores + *mask;
        }
    }
    at::Tensor probs = at::softmax(scores.to(at::kFloat), -1).to(q.scalar_type());
    return at::matmul(probs, v);
#endif
}

/// (a_q · diag-scaled) GEMM in float8 e4m3fn: out[m, n] = Σ_k a[m, k]·b[n, k] · a_scale[m] · b_scale[n] (+ bias[n]),
/// a_q: [M, K], b_q: [N, K] uint8 tensors of e4m3fn bit patterns (kernels::quantize_rows_e4m3), a_scale: [M],
/// b_scale: [N] float32; the result [M, N] in bfloat16 (row-wise scaling writes bfloat16 only), bias bfloat16 or
/// undefined. cuBLASLt / CUTLASS accumulate in float32. Throws on LibTorch builds without row-wise FP8.
inline at::Tensor scaled_mm_e4m3_rowwise(const at::Tensor& a_q, const at::Tensor& a_scale, const at::Tensor& b_q,
                                         const at::Tensor& b_scale, const at::Tensor& bias) {
#if KINORA_TORCH_FP8_ROWWISE
    const at::Tensor a = a_q.view(c10::ScalarType::Float8_e4m3fn);
    const at::Tensor b = b_q.view(c10::ScalarType::Float8_e4m3fn).t();  // [K, N], column-major as the kernels want it
    std::optional<at::Tensor> bias_opt;
    if (bias.defined()) {
        bias_opt = bias;
    }
    return at::_scaled_mm(a, b, a_scale.view({-1, 1}), b_scale.view({1, -1}), bias_opt, std::nullopt, at::kBFloat16,
                          /*use_fast_accum=*/true);
#else
    (void)a_q;
    (void)a_scale;
    (void)b_q;
    (void)b_scale;
    (void)bias;
    TORCH_CHECK(false, "FP8 matrix products need LibTorch 2.5 or newer built with CUDA (this one is ",
                TORCH_VERSION, ")");
#endif
}

/// A c10::Allocator whose overrides fit every supported LibTorch: `allocate` is const in 1.13 and not in
/// 2.x, where `copy_data` is also required (the gpu-pip preset needs torch >= 2.7). Subclasses implement
/// allocate_bytes.
class AllocatorBase : public c10::Allocator {
public:
#if TORCH_VERSION_MAJOR >= 2
    c10::DataPtr allocate(size_t n) override { return allocate_bytes(n); }
    void copy_data(void* dest, const void* src, std::size_t count) const override {
        default_copy_data(dest, src, count);
    }
#else
    c10::DataPtr allocate(size_t n) const override { return allocate_bytes(n); }
#endif

protected:
    virtual c10::DataPtr allocate_bytes(size_t n) const = 0;
};

/// Lets (or stops) cuBLAS and cuDNN use TF32 for float32 matmuls and convolutions on Ampere and newer. PyTorch's
/// defaults are off for matmuls and on for convolutions; parity runs in float32 turn both off. (Torch 2.9+ marks
/// these setters deprecated in favour of the float32-precision API; they still work.)
inline void set_cuda_tf32(bool allow) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    at::globalContext().setAllowTF32CuBLAS(allow);
    at::globalContext().setAllowTF32CuDNN(allow);
#pragma GCC diagnostic pop
}

}  // namespace engine::core
