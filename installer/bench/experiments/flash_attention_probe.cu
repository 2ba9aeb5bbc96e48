// Sana 1600M's cross-attention (batch 2, 20 heads of 112, 1024 queries, 300 caption keys under a key-padding bias)
// in the experiment's flash kernel (flash_attention_kernel.cuh): its error against a float64 reference on the host,
// and its time. The engine's step runs cuDNN's SDPA here (≈ 33 µs a call in the step's profile on an H200).
//   nvcc -std=c++17 -arch=sm_90 -O3 --expt-relaxed-constexpr -I kernels/src/cuda \
//       installer/bench/experiments/flash_attention_probe.cu -o /tmp/fa && /tmp/fa [HEADS HEAD_DIM KEYS]  (HEAD_DIM 64 or 112)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "flash_attention_kernel.cuh"

using namespace kernels::cuda;

#define CK(x)                                                                          \
    do {                                                                               \
        cudaError_t e = (x);                                                           \
        if (e != cudaSuccess) {                                                        \
            printf("CUDA error %s at %s:%d\n", cudaGetErrorString(e), __FILE__, __LINE__); \
            return 1;                                                                  \
        }                                                                              \
    } while (0)

static float frand(unsigned& s) {
    s = s * 1664525u + 1013904223u;
    return ((s >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
}

int main(int argc, char** argv) {
    const int H = argc > 2 ? atoi(argv[1]) : 20, D = argc > 2 ? atoi(argv[2]) : 112;
    const int L = argc > 3 ? atoi(argv[3]) : 300;
    const int B = 2, N = 1024;
    const int valid[2] = {L, L * 2 / 5};
    // q: a head-split view of [B, N, H·D]; k, v: views of a packed [B, L, 2·H·D] (k first), as the engine has them.
    std::vector<__nv_bfloat16> hq((size_t)B * N * H * D), hkv((size_t)B * L * 2 * H * D), hbias((size_t)B * L);
    unsigned seed = 1;
    for (auto& x : hq) x = __float2bfloat16(frand(seed) * 2.0f);
    for (auto& x : hkv) x = __float2bfloat16(frand(seed) * 2.0f);
    for (int b = 0; b < B; ++b)
        for (int j = 0; j < L; ++j) hbias[(size_t)b * L + j] = __float2bfloat16(j < valid[b] ? 0.0f : -10000.0f);
    __nv_bfloat16 *q, *kv, *bias, *out;
    CK(cudaMalloc(&q, hq.size() * 2));
    CK(cudaMalloc(&kv, hkv.size() * 2));
    CK(cudaMalloc(&bias, hbias.size() * 2));
    CK(cudaMalloc(&out, hq.size() * 2));
    CK(cudaMemcpy(q, hq.data(), hq.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(kv, hkv.data(), hkv.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(bias, hbias.data(), hbias.size() * 2, cudaMemcpyHostToDevice));
    const Strides4 qs{(int64_t)N * H * D, D, (int64_t)H * D, 1};
    const Strides4 kvs{(int64_t)L * 2 * H * D, D, (int64_t)2 * H * D, 1};
    const Strides4 os = qs;
    const float scale = 1.0f / std::sqrt((float)D);
    cudaStream_t stream;
    CK(cudaStreamCreate(&stream));
    auto call = [&]() {
        return flash_attention(DType::kBFloat16, q, qs, kv, kvs, kv + H * D, kvs, bias, L, B, H, N, L, D, scale, out, os,
                               stream);
    };
    CK(call());
    CK(cudaStreamSynchronize(stream));
    std::vector<__nv_bfloat16> hout(hq.size());
    CK(cudaMemcpy(hout.data(), out, hout.size() * 2, cudaMemcpyDeviceToHost));
    // float64 reference on a sample of (b, h, n)
    double err2 = 0, ref2 = 0, max_abs = 0;
    std::vector<double> p(L);
    for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; h += 3)
            for (int n = 0; n < N; n += 37) {
                double mx = -1e300;
                for (int j = 0; j < L; ++j) {
                    double s = 0;
                    for (int d = 0; d < D; ++d)
                        s += (double)__bfloat162float(hq[((size_t)b * N + n) * H * D + h * D + d]) *
                             __bfloat162float(hkv[((size_t)b * L + j) * 2 * H * D + h * D + d]);
                    p[j] = s * scale + __bfloat162float(hbias[(size_t)b * L + j]);
                    mx = std::max(mx, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < L; ++j) sum += (p[j] = std::exp(p[j] - mx));
                for (int d = 0; d < D; ++d) {
                    double o = 0;
                    for (int j = 0; j < L; ++j)
                        o += p[j] * __bfloat162float(hkv[((size_t)b * L + j) * 2 * H * D + H * D + h * D + d]);
                    o /= sum;
                    const double got = __bfloat162float(hout[((size_t)b * N + n) * H * D + h * D + d]);
                    err2 += (got - o) * (got - o);
                    ref2 += o * o;
                    max_abs = std::max(max_abs, std::fabs(got - o));
                }
            }
    printf("H %d D %d L %d: rel L2 err %.3e, max abs err %.3e\n", H, D, L, std::sqrt(err2 / ref2), max_abs);
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    // Timed as the step runs it: 20 calls captured in a CUDA graph (no host launch cost in the figure).
    {
        cudaGraph_t graph;
        cudaGraphExec_t exec;
        const int per_graph = 20;
        CK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
        for (int i = 0; i < per_graph; ++i) call();
        CK(cudaStreamEndCapture(stream, &graph));
        CK(cudaGraphInstantiate(&exec, graph, 0));
        for (int i = 0; i < 3; ++i) CK(cudaGraphLaunch(exec, stream));
        const int iters = 20;
        cudaEventRecord(e0, stream);
        for (int i = 0; i < iters; ++i) cudaGraphLaunch(exec, stream);
        cudaEventRecord(e1, stream);
        CK(cudaEventSynchronize(e1));
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        const double us = ms * 1000 / (iters * per_graph);
        const double flop = 4.0 * B * H * N * (double)L * D;
        printf("  %.1f us a call (%.0f TFLOP/s)\n", us, flop / us * 1e-6);
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);
    }
    cudaFuncAttributes attr;
    cudaFuncGetAttributes(&attr, flash_attention_kernel<112>);
    printf("  D=112 kernel: %d registers, %zu B local, max threads %d\n", attr.numRegs, attr.localSizeBytes,
           attr.maxThreadsPerBlock);
    return 0;
}
