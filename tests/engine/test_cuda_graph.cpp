// runtime::CudaGraphRunner: eager where graphs do not apply (CPU tensors, CPU builds, switched off), capture and
// replay on CUDA with results equal to the eager function's, and the eager fallback when a capture fails.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <vector>

#include "runtime/cuda_graph.h"
#include "support/tensor_checks.h"

using engine::runtime::CudaGraphRunner;

namespace {

// A few kernels with an intermediate the graph must allocate from its own pool: [N, D] x [D, D] → [N, D].
at::Tensor small_block(const std::vector<at::Tensor>& in) {
    at::Tensor h = at::relu(at::matmul(in[0], in[1]) + 0.5);
    return at::cat({h, h * in[0]}, -1).sum(-1);
}

}  // namespace

TEST_CASE("CudaGraphRunner: CPU tensors run eagerly and give the function's result", "[runtime]") {
    CudaGraphRunner runner("cpu test", small_block);
    torch::manual_seed(0);
    const std::vector<at::Tensor> in = {torch::randn({4, 8}), torch::randn({8, 8})};
    const at::Tensor out = runner.run(in);
    REQUIRE_MAXDIFF_REL(out, small_block(in), 0.0);
    CHECK(runner.eager_calls() == 1);
    CHECK(runner.captures() == 0);
    CHECK(runner.replays() == 0);
    CHECK_FALSE(runner.failed());
    runner.set_enabled(false);
    CHECK_FALSE(runner.enabled());
    CHECK(runner.run(in).equal(out));
    CHECK(runner.eager_calls() == 2);
}

TEST_CASE("CudaGraphRunner (CUDA): replays equal the eager function; a capture that fails falls back to eager",
          "[.cuda][runtime]") {
    if (!torch::cuda::is_available()) {
        WARN("no CUDA device");
        return;
    }
    REQUIRE(engine::runtime::cuda_graphs_built());
    torch::NoGradGuard no_grad;
    torch::manual_seed(0);
    const auto cuda = torch::TensorOptions().device(torch::kCUDA, 0);
    SECTION("capture once per signature, replay with new values") {
        CudaGraphRunner runner("cuda test", small_block, /*max_graphs=*/2);
        runner.set_enabled(true);
        for (int i = 0; i < 3; ++i) {
            const std::vector<at::Tensor> in = {torch::randn({16, 32}, cuda), torch::randn({32, 32}, cuda)};
            REQUIRE_MAXDIFF_REL(runner.run(in).cpu(), small_block(in).cpu(), 1e-5);
        }
        CHECK(runner.captures() == 1);
        CHECK(runner.replays() == 3);
        // A second shape: a second graph; a third: eager (max_graphs = 2).
        const std::vector<at::Tensor> b = {torch::randn({8, 32}, cuda), torch::randn({32, 32}, cuda)};
        REQUIRE_MAXDIFF_REL(runner.run(b).cpu(), small_block(b).cpu(), 1e-5);
        const std::vector<at::Tensor> c = {torch::randn({4, 32}, cuda), torch::randn({32, 32}, cuda)};
        REQUIRE_MAXDIFF_REL(runner.run(c).cpu(), small_block(c).cpu(), 1e-5);
        CHECK(runner.captures() == 2);
        CHECK(runner.eager_calls() == 1);
        CHECK_FALSE(runner.failed());
        // The output is the caller's: a later replay does not overwrite it.
        const std::vector<at::Tensor> d = {torch::randn({16, 32}, cuda), torch::randn({32, 32}, cuda)};
        const at::Tensor first = runner.run(d);
        const at::Tensor kept = first.clone();
        (void)runner.run({d[0] * 2.0, d[1]});
        CHECK(first.equal(kept));
    }
    SECTION("a host synchronisation inside the function: the capture fails, the result is still right") {
        auto syncing = [](const std::vector<at::Tensor>& in) {
            const double m = in[0].abs().max().item<double>();  // not allowed while capturing
            return in[0] / m;
        };
        CudaGraphRunner runner("syncing test", syncing);
        runner.set_enabled(true);
        const std::vector<at::Tensor> in = {torch::randn({64}, cuda)};
        REQUIRE_MAXDIFF_REL(runner.run(in).cpu(), syncing(in).cpu(), 0.0);
        CHECK(runner.failed());
        CHECK(runner.captures() == 0);
        REQUIRE_MAXDIFF_REL(runner.run(in).cpu(), syncing(in).cpu(), 0.0);
        // The device still works after the failed capture.
        CHECK(torch::ones({3}, cuda).sum().item<double>() == 3.0);
    }
}
