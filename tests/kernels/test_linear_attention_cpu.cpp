// The CPU reference of Sana's ReLU linear attention against diffusers' "padding trick" formulation,
// written here independently in LibTorch eager ops.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "kernels/ops.h"
#include "support/tensor_checks.h"

namespace {

// diffusers SanaLinearAttnProcessor2_0 on [B, H, N, D] tensors: pad v with a row of ones, v@k, @q.
torch::Tensor padding_trick(torch::Tensor q, torch::Tensor k, torch::Tensor v) {
    q = torch::relu(q).transpose(2, 3).to(torch::kFloat);  // [B, H, D, N]
    k = torch::relu(k).to(torch::kFloat);                  // [B, H, N, D]
    auto vt = v.transpose(2, 3).to(torch::kFloat);         // [B, H, Dv, N]
    vt = torch::constant_pad_nd(vt, {0, 0, 0, 1}, 1.0);    // [B, H, Dv+1, N]
    auto scores = torch::matmul(vt, k);                    // [B, H, Dv+1, D]
    auto o = torch::matmul(scores, q);                     // [B, H, Dv+1, N]
    auto num = o.slice(2, 0, -1);
    auto den = o.slice(2, -1);
    return (num / (den + 1e-15)).transpose(2, 3).to(v.scalar_type());  // [B, H, N, Dv]
}

}  // namespace

TEST_CASE("relu_linear_attention (CPU): matches the diffusers padding-trick formulation", "[kernels]") {
    torch::manual_seed(0);
    auto shape = GENERATE(std::vector<int64_t>{1, 2, 7, 8}, std::vector<int64_t>{2, 3, 96, 32},
                          std::vector<int64_t>{1, 1, 1, 4});
    auto q = torch::randn(shape);
    auto k = torch::randn(shape);
    auto v = torch::randn(shape);
    auto out = kernels::relu_linear_attention(q, k, v, 1e-15);
    REQUIRE_ALLCLOSE(out, padding_trick(q, k, v), 1e-5, 1e-5);
}

TEST_CASE("relu_linear_attention (CPU): non-contiguous inputs and bfloat16 accumulate in float32", "[kernels]") {
    torch::manual_seed(1);
    auto q = torch::randn({2, 16, 4, 8}).transpose(1, 2);  // [2, 4, 16, 8], non-contiguous
    auto k = torch::randn({2, 16, 4, 8}).transpose(1, 2);
    auto v = torch::randn({2, 16, 4, 8}).transpose(1, 2);
    REQUIRE_FALSE(q.is_contiguous());
    REQUIRE_ALLCLOSE(kernels::relu_linear_attention(q, k, v, 1e-15), padding_trick(q, k, v), 1e-5, 1e-5);
    auto out16 =
        kernels::relu_linear_attention(q.to(torch::kBFloat16), k.to(torch::kBFloat16), v.to(torch::kBFloat16), 1e-15);
    CHECK(out16.scalar_type() == torch::kBFloat16);
    REQUIRE_ALLCLOSE(out16.to(torch::kFloat), padding_trick(q, k, v), 2e-2, 2e-2);
}

TEST_CASE("relu_linear_attention: rejects mismatched shapes with a clear message", "[kernels]") {
    auto q = torch::randn({1, 2, 3, 4});
    auto k = torch::randn({1, 2, 5, 4});
    REQUIRE_THROWS_WITH(kernels::relu_linear_attention(q, k, q, 1e-15), Catch::Contains("q and k shapes differ"));
    REQUIRE_THROWS_WITH(kernels::relu_linear_attention(q.flatten(), q, q, 1e-15), Catch::Contains("[B, H, N, D]"));
}
