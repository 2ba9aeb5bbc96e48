#include "models/common/quantized_linear.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <map>
#include <mutex>

#include "core/torch_compat.h"
#include "kernels/ops.h"
#include "runtime/cuda_device.h"

namespace engine::models {
namespace {

// The float32 values of row-scaled e4m3 data: value(data[m, k]) · scale[m].
at::Tensor e4m3_rows_to_float(const at::Tensor& data, const at::Tensor& scale) {
    return kernels::e4m3_to_float(data) * scale.unsqueeze(1);
}

// One small FP8 product on the device, once per device: the capability checks infer support, this shows it (a
// LibTorch or cuBLAS without the row-wise kernel for this card fails here, at engine start, not in the first job).
// Returns the failure's message, or nullopt.
std::optional<std::string> fp8_probe(const c10::Device& device) {
    static std::mutex mutex;
    static std::map<int, std::optional<std::string>> results;
    const int index = device.has_index() ? device.index() : 0;
    std::lock_guard<std::mutex> lock(mutex);
    if (auto it = results.find(index); it != results.end()) {
        return it->second;
    }
    std::optional<std::string> failure;
    try {
        c10::InferenceMode guard;
        const auto options = at::TensorOptions().dtype(at::kBFloat16).device(c10::Device(c10::kCUDA, index));
        const at::Tensor x = at::ones({32, 32}, options);
        QuantizedWeight w = quantize_weight(at::ones({16, 32}, options), WeightQuantization::Fp8);
        const at::Tensor y = quantized_linear(x, w, at::zeros({16}, options));
        const double value = y[0][0].item<double>();  // 32: the product ran
        if (value != 32.0) {
            failure = "a test product gave " + std::to_string(value) + " instead of 32";
        }
    } catch (const c10::Error& e) {
        failure = e.what_without_backtrace();
    }
    results[index] = failure;
    return failure;
}

}  // namespace

std::optional<std::string> quantization_unavailable(WeightQuantization mode, const c10::Device& device,
                                                    at::ScalarType dtype) {
    if (mode != WeightQuantization::Fp8) {
        return std::nullopt;
    }
    if (!device.is_cuda()) {
        return std::string("FP8 quantisation runs on NVIDIA GPUs only (FP8 tensor cores); on the CPU use int8 "
                           "quantisation or none.");
    }
    if (!KINORA_TORCH_FP8_ROWWISE) {
        return std::string("FP8 quantisation needs a build of Kinora against LibTorch 2.5 or newer with CUDA; this "
                           "build has LibTorch ") +
               TORCH_VERSION + ". Use int8 quantisation or none.";
    }
    const int capability = runtime::cuda_compute_capability(device.has_index() ? device.index() : 0);
    if (capability < 89) {
        return "FP8 quantisation needs an NVIDIA GPU of compute capability 8.9 or newer (Ada, Hopper or later); this "
               "one has " +
               std::to_string(capability / 10) + "." + std::to_string(capability % 10) +
               ". Use int8 quantisation or none.";
    }
    if (dtype != at::kBFloat16) {
        return std::string("FP8 quantisation computes in bfloat16; choose the bf16 (or auto) precision with it, or "
                           "int8 quantisation.");
    }
    if (auto failure = fp8_probe(device)) {
        return "FP8 matrix products do not run on this GPU with this build (" + *failure +
               "). Use int8 quantisation or none.";
    }
    return std::nullopt;
}

bool quantizable(WeightQuantization mode, int64_t out_features, int64_t in_features) {
    if (mode == WeightQuantization::Fp8) {
        return out_features % 16 == 0 && in_features % 16 == 0 && out_features > 0 && in_features > 0;
    }
    return mode == WeightQuantization::Int8 && out_features > 0 && in_features > 0;
}

QuantizedWeight quantize_weight(const at::Tensor& weight, WeightQuantization mode) {
    TORCH_CHECK(weight.dim() == 2 && at::isFloatingType(weight.scalar_type()),
                "quantize_weight: a floating [out, in] matrix, got ", weight.sizes(), " ", weight.scalar_type());
    QuantizedWeight q;
    q.mode = mode;
    q.compute_dtype = weight.scalar_type();
    switch (mode) {
        case WeightQuantization::Fp8: {
            TORCH_CHECK(quantizable(mode, weight.size(0), weight.size(1)),
                        "quantize_weight: FP8 needs both sides multiples of 16, got ", weight.sizes());
            auto [data, scale] = kernels::quantize_rows_e4m3(weight);
            q.data = data;
            q.scale = scale;
            break;
        }
        case WeightQuantization::Int8: {
            const at::Tensor wf = weight.to(at::kFloat);
            // One scale per output channel, rounded to the compute dtype first, so that dequantising (q · s, one
            // rounding) uses exactly the scale the values were divided by.
            const at::Tensor amax = wf.abs().amax(1, /*keepdim=*/true).clamp_min(1e-12);
            q.scale = (amax / 127.0).to(q.compute_dtype);
            q.data = at::round(wf / q.scale.to(at::kFloat)).clamp(-127, 127).to(at::kChar);
            break;
        }
        case WeightQuantization::None:
            TORCH_CHECK(false, "quantize_weight: no quantisation mode given");
    }
    return q;
}

at::Tensor dequantize_weight(const QuantizedWeight& w) {
    switch (w.mode) {
        case WeightQuantization::Int8:
            return at::mul(w.data, w.scale);  // int8 · scale → the scale's dtype, one rounding
        case WeightQuantization::Fp8:
            return e4m3_rows_to_float(w.data, w.scale).to(w.compute_dtype);
        case WeightQuantization::None:
            break;
    }
    TORCH_CHECK(false, "dequantize_weight: not a quantised weight");
}

bool quantize_parameter(at::Tensor& weight, WeightQuantization mode, std::optional<QuantizedWeight>& out) {
    if (mode == WeightQuantization::None || !weight.defined() || weight.dim() < 2 || weight.numel() == 0 ||
        weight.numel() != weight.size(0) * weight.size(1) ||  // kernels wider than 1×1
        !quantizable(mode, weight.size(0), weight.size(1))) {
        return false;
    }
    out = quantize_weight(weight.reshape({weight.size(0), weight.size(1)}), mode);
    c10::InferenceMode guard;  // the parameter may be an inference tensor (loaded under InferenceMode)
    weight.set_(at::empty({0}, weight.options()));
    return true;
}

QuantizedActivation quantize_activation_e4m3(const at::Tensor& x) {
    QuantizedActivation a;
    a.leading.assign(x.sizes().begin(), x.sizes().end() - 1);
    a.dtype = x.scalar_type();
    auto [data, scale] = kernels::quantize_rows_e4m3(x.reshape({-1, x.size(-1)}));
    a.data = data;
    a.scale = scale;
    return a;
}

at::Tensor quantized_linear(const QuantizedActivation& x, const QuantizedWeight& w, const at::Tensor& bias) {
    TORCH_CHECK(w.mode == WeightQuantization::Fp8, "quantized_linear: an FP8 weight is needed for a quantised input");
    TORCH_CHECK(x.data.size(1) == w.data.size(1), "quantized_linear: input has ", x.data.size(1),
                " features, the layer takes ", w.data.size(1));
    at::Tensor out;  // [M, out]
    if (x.data.is_cuda()) {
        out = core::scaled_mm_e4m3_rowwise(x.data, x.scale, w.data, w.scale, bias);  // bf16
    } else {
        // Elsewhere the product of the same e4m3 operands is emulated in float32: the CPU tests run the whole FP8
        // path through it (quantization_unavailable refuses FP8 off the GPU to users: it would only be slower).
        const at::Tensor a = e4m3_rows_to_float(x.data, x.scale);
        const at::Tensor b = e4m3_rows_to_float(w.data, w.scale);
        out = bias.defined() ? at::addmm(bias.to(at::kFloat), a, b.t()) : at::mm(a, b.t());
    }
    std::vector<int64_t> sizes = x.leading;
    sizes.push_back(w.data.size(0));
    return out.view(sizes).to(x.dtype);
}

at::Tensor quantized_linear(const at::Tensor& x, const QuantizedWeight& w, const at::Tensor& bias) {
    switch (w.mode) {
        case WeightQuantization::Fp8:
            return quantized_linear(quantize_activation_e4m3(x), w, bias);
        case WeightQuantization::Int8: {
            const at::Tensor weight = dequantize_weight(w);
            return bias.defined() ? at::linear(x, weight, bias) : at::linear(x, weight);
        }
        case WeightQuantization::None:
            break;
    }
    TORCH_CHECK(false, "quantized_linear: not a quantised weight");
}

}  // namespace engine::models
