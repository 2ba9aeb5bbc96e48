// How much do cuBLASLt's other heuristic algorithms gain over its first choice on Sana-1600M's GEMMs
// (batch 2 at 1024²: M = 2048 tokens), bf16 in/out, float32 compute, bias epilogue. Weights rotate through 6 copies so
// that they come from DRAM as in the step.
#include <algorithm>
#include <vector>

#include "gemm_common.cuh"

int main(int argc, char** argv) {
    const int M = 2048;
    struct Shape { const char* name; int n, k; bool bias; };
    std::vector<Shape> shapes = {{"qkv", 6720, 2240, false}, {"proj", 2240, 2240, true}, {"inverted", 11200, 2240, true},
                                 {"point", 2240, 5600, false}, {"cross_q", 2240, 2240, true}};
    LtBench bench;
    if (bench.init(64u << 20) != 0) return 1;
    cublasLtHandle_t lt = bench.lt;
    size_t ws_size = bench.ws_size;
    void* ws = bench.ws;
    cudaStream_t stream = bench.stream;
    cudaEvent_t e0 = bench.e0, e1 = bench.e1;
    const int kCopies = 6;
    for (const auto& s : shapes) {
        __nv_bfloat16 *a, *c, *bias;
        std::vector<__nv_bfloat16*> w(kCopies);
        CK(cudaMalloc(&a, (size_t)M * s.k * 2));
        CK(cudaMalloc(&c, (size_t)M * s.n * 2));
        CK(cudaMalloc(&bias, (size_t)s.n * 2));
        fill<<<(M * s.k + 255) / 256, 256>>>(a, (size_t)M * s.k, 1, 0.1f);
        fill<<<(s.n + 255) / 256, 256>>>(bias, s.n, 3, 0.1f);
        for (int i = 0; i < kCopies; ++i) {
            CK(cudaMalloc(&w[i], (size_t)s.n * s.k * 2));
            fill<<<((size_t)s.n * s.k + 255) / 256, 256>>>(w[i], (size_t)s.n * s.k, 7 + i, 0.1f);
        }
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
            CK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
        }
        cublasLtMatrixLayout_t la, lb, lc;
        CK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, s.k, s.n, s.k));
        CK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, s.k, M, s.k));
        CK(cublasLtMatrixLayoutCreate(&lc, CUDA_R_16BF, s.n, M, s.n));
        cublasLtMatmulPreference_t pref;
        CK(cublasLtMatmulPreferenceCreate(&pref));
        CK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_size,
                                                sizeof(ws_size)));
        const int kWanted = 48;
        std::vector<cublasLtMatmulHeuristicResult_t> res(kWanted);
        int found = 0;
        CK(cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, kWanted, res.data(), &found));
        const float alpha = 1.0f, beta = 0.0f;
        const double flop = 2.0 * M * s.n * s.k;
        double first = 0, best = 1e30;
        int best_i = -1;
        for (int i = 0; i < found; ++i) {
            bool failed = false;
            for (int r = 0; r < 3; ++r) {
                if (cublasLtMatmul(lt, desc, &alpha, w[r % kCopies], la, a, lb, &beta, c, lc, c, lc, &res[i].algo, ws,
                                   ws_size, stream) != CUBLAS_STATUS_SUCCESS) {
                    failed = true;
                    break;
                }
            }
            if (failed) continue;
            const int iters = 60;
            cudaEventRecord(e0, stream);
            for (int r = 0; r < iters; ++r) {
                cublasLtMatmul(lt, desc, &alpha, w[r % kCopies], la, a, lb, &beta, c, lc, c, lc, &res[i].algo, ws,
                               ws_size, stream);
            }
            cudaEventRecord(e1, stream);
            cudaEventSynchronize(e1);
            float ms = 0;
            cudaEventElapsedTime(&ms, e0, e1);
            const double us = ms * 1000.0 / iters;
            if (i == 0) first = us;
            if (us < best) { best = us; best_i = i; }
            int tile = 0, stages = 0, splitk = 0, swizzle = 0, cluster = 0;
            size_t sz;
            cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_TILE_ID, &tile, sizeof(tile), &sz);
            cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_STAGES_ID, &stages, sizeof(stages), &sz);
            cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM, &splitk, sizeof(splitk), &sz);
            cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_CTA_SWIZZLING, &swizzle, sizeof(swizzle), &sz);
            cublasLtMatmulAlgoConfigGetAttribute(&res[i].algo, CUBLASLT_ALGO_CONFIG_CLUSTER_SHAPE_ID, &cluster, sizeof(cluster), &sz);
            printf("  %-9s algo %2d: %8.1f us  %6.1f TFLOP/s  tile %d stages %d splitk %d swizzle %d cluster %d ws %zu\n",
                   s.name, i, us, flop / us * 1e-6, tile, stages, splitk, swizzle, cluster, res[i].workspaceSize);
        }
        printf("%s M=%d N=%d K=%d: heuristic first %.1f us (%.1f TFLOP/s), best #%d %.1f us (%.1f TFLOP/s), gain %.1f%%\n",
               s.name, M, s.n, s.k, first, flop / first * 1e-6, best_i, best, flop / best * 1e-6,
               100.0 * (first - best) / first);
        fflush(stdout);
        cudaFree(a); cudaFree(c); cudaFree(bias);
        for (auto p : w) cudaFree(p);
    }
    return 0;
}
