// Can cuBLASLt end Sana-1600M's block GEMMs with the residual add (and the block's gate) instead of a separate pass?
// For each GEMM that closes a sub-layer (batch 2 at 1024²: M = 2048 tokens, bf16 in/out, float32 compute) it times
//   plain:   y = a·Wᵀ (+ b)                                   (what the step runs, then a residual kernel)
//   C:       d = a·Wᵀ (+ b) + x                               (beta = 1, C = the residual)
//   gate:    d = g ⊙ (a·Wᵀ) (+ g ⊙ b) + x                     (alpha a device vector over D's rows, beta = 1 on the host)
// and checks each variant's output against the plain product plus the residual computed here in float32.
// Weights rotate through six copies so that they come from DRAM, as in the step.
#include <algorithm>
#include <cmath>
#include <vector>

#include "gemm_common.cuh"

static float bf(__nv_bfloat16 v) { return __bfloat162float(v); }

int main() {
    const int M = 2048;
    struct Shape {
        const char* name;
        int n, k;
        bool bias;
    };
    const std::vector<Shape> shapes = {{"attn1_out", 2240, 2240, true}, {"attn2_out", 2240, 2240, true},
                                       {"ff_point", 2240, 5600, false}};
    LtBench bench;
    if (bench.init(32u << 20) != 0) return 1;
    cublasLtHandle_t lt = bench.lt;
    size_t ws_size = bench.ws_size;
    void* ws = bench.ws;
    cudaStream_t stream = bench.stream;
    cudaEvent_t e0 = bench.e0, e1 = bench.e1;
    const int kCopies = 6;
    for (const auto& s : shapes) {
        __nv_bfloat16 *a, *x, *y, *d, *bias, *gbias;
        float* gate;
        std::vector<__nv_bfloat16*> w(kCopies);
        CK(cudaMalloc(&a, (size_t)M * s.k * 2));
        CK(cudaMalloc(&x, (size_t)M * s.n * 2));
        CK(cudaMalloc(&y, (size_t)M * s.n * 2));
        CK(cudaMalloc(&d, (size_t)M * s.n * 2));
        CK(cudaMalloc(&bias, (size_t)s.n * 2));
        CK(cudaMalloc(&gbias, (size_t)s.n * 2));
        CK(cudaMalloc(&gate, (size_t)s.n * 4));
        fill<<<(M * s.k + 255) / 256, 256>>>(a, (size_t)M * s.k, 1, 2.0f);
        fill<<<(M * s.n + 255) / 256, 256>>>(x, (size_t)M * s.n, 2, 4.0f);
        fill<<<(s.n + 255) / 256, 256>>>(bias, s.n, 3, 1.0f);
        fill_f32<<<(s.n + 255) / 256, 256>>>(gate, s.n, 4, -0.5f, 1.5f);
        for (int i = 0; i < kCopies; ++i) {
            CK(cudaMalloc(&w[i], (size_t)s.n * s.k * 2));
            fill<<<((size_t)s.n * s.k + 255) / 256, 256>>>(w[i], (size_t)s.n * s.k, 7 + i, 0.05f);
        }
        CK(cudaDeviceSynchronize());
        // g ⊙ b on the host (the engine computes it once per step on the device).
        std::vector<__nv_bfloat16> h_bias(s.n), h_gbias(s.n);
        std::vector<float> h_gate(s.n);
        CK(cudaMemcpy(h_bias.data(), bias, s.n * 2, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(h_gate.data(), gate, s.n * 4, cudaMemcpyDeviceToHost));
        for (int i = 0; i < s.n; ++i) h_gbias[i] = __float2bfloat16(h_gate[i] * bf(h_bias[i]));
        CK(cudaMemcpy(gbias, h_gbias.data(), s.n * 2, cudaMemcpyHostToDevice));

        cublasLtMatrixLayout_t la, lb, lc;
        CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, s.k, s.n, s.k));
        CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, s.k, M, s.k));
        CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, s.n, M, s.n));
        cublasLtMatmulPreference_t pref;
        CK(cublasLtMatmulPreferenceCreate(&pref));
        CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_size,
                                                sizeof(ws_size)));
        const double flop = 2.0 * M * s.n * s.k;
        std::vector<__nv_bfloat16> h_y((size_t)M * s.n), h_x((size_t)M * s.n), h_d((size_t)M * s.n);
        for (int variant = 0; variant < 3; ++variant) {
            const char* vname = variant == 0 ? "plain" : variant == 1 ? "C" : "gate";
            cublasLtMatmulDesc_t desc;
            CK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
            cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
            CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
            CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
            if (s.bias) {
                cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
                CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
                cudaDataType_t bt = CUDA_R_16BF;
                CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
                __nv_bfloat16* bp = variant == 2 ? gbias : bias;
                CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp)));
            }
            float one = 1.0f, zero = 0.0f;
            const void* alpha = &one;
            const void* beta = variant == 0 ? &zero : &one;
            if (variant == 2) {
                cublasLtPointerMode_t pm = CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST;
                CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm, sizeof(pm)));
                alpha = gate;
            }
            const int kWanted = 16;
            std::vector<cublasLtMatmulHeuristicResult_t> res(kWanted);
            int found = 0;
            const cublasStatus_t hs =
                cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, kWanted, res.data(), &found);
            if (hs != CUBLAS_STATUS_SUCCESS || found == 0) {
                printf("%-9s %-5s: no algorithm (status %d, found %d)\n", s.name, vname, (int)hs, found);
                cublasLtMatmulDescDestroy(desc);
                continue;
            }
            __nv_bfloat16* out = variant == 0 ? y : d;
            double best = 1e30, first = 0;
            int best_i = -1, failed = 0;
            for (int i = 0; i < std::min(found, 8); ++i) {
                if (cublasLtMatmul(lt, desc, alpha, w[0], la, a, lb, beta, x, lc, out, lc, &res[i].algo, ws, ws_size,
                                   stream) != CUBLAS_STATUS_SUCCESS) {
                    ++failed;
                    continue;
                }
                const int iters = 60;
                cudaEventRecord(e0, stream);
                for (int r = 0; r < iters; ++r) {
                    cublasLtMatmul(lt, desc, alpha, w[r % kCopies], la, a, lb, beta, x, lc, out, lc, &res[i].algo, ws,
                                   ws_size, stream);
                }
                cudaEventRecord(e1, stream);
                cudaEventSynchronize(e1);
                float ms = 0;
                cudaEventElapsedTime(&ms, e0, e1);
                const double us = ms * 1000.0 / iters;
                if (i == 0) first = us;
                if (us < best) {
                    best = us;
                    best_i = i;
                }
            }
            // The output of the first algorithm with weight copy 0 (the timing loop ends on copy 59 % 6 = 5).
            CK(cublasLtMatmul(lt, desc, alpha, w[0], la, a, lb, beta, x, lc, out, lc, &res[0].algo, ws, ws_size,
                              stream));
            CK(cudaStreamSynchronize(stream));
            double max_err = 0, max_ref = 0;
            if (variant == 0) {
                CK(cudaMemcpy(h_y.data(), y, h_y.size() * 2, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(h_x.data(), x, h_x.size() * 2, cudaMemcpyDeviceToHost));
            } else {
                CK(cudaMemcpy(h_d.data(), d, h_d.size() * 2, cudaMemcpyDeviceToHost));
                for (size_t i = 0; i < h_d.size(); ++i) {
                    const int col = (int)(i % s.n);
                    const float g = variant == 2 ? h_gate[col] : 1.0f;
                    const float ref = bf(h_x[i]) + g * bf(h_y[i]);
                    max_err = std::max(max_err, (double)std::fabs(bf(h_d[i]) - ref));
                    max_ref = std::max(max_ref, (double)std::fabs(ref));
                }
            }
            printf("%-9s %-5s: %d algorithms (%d failed), first %.1f us (%.0f TFLOP/s), best #%d %.1f us; "
                   "max |d - ref| %.4g of max |ref| %.4g\n",
                   s.name, vname, found, failed, first, flop / first * 1e-6, best_i, best, max_err, max_ref);
            fflush(stdout);
            cublasLtMatmulDescDestroy(desc);
        }
        cudaFree(a);
        cudaFree(x);
        cudaFree(y);
        cudaFree(d);
        cudaFree(bias);
        cudaFree(gbias);
        cudaFree(gate);
        for (auto p : w) cudaFree(p);
    }
    return 0;
}
