// to_string()/from_string() of the public enums, and the request checks that need no model.
#include <cmath>
#include <string>
#include <variant>

#include "engine/engine.h"

namespace engine {

const char* to_string(ErrorCode code) noexcept {
    switch (code) {
        case ErrorCode::None: return "none";
        case ErrorCode::InvalidRequest: return "invalid_request";
        case ErrorCode::ModelNotFound: return "model_not_found";
        case ErrorCode::ModelLoadFailed: return "model_load_failed";
        case ErrorCode::UnsupportedModel: return "unsupported_model";
        case ErrorCode::OutOfMemory: return "out_of_memory";
        case ErrorCode::DeviceUnavailable: return "device_unavailable";
        case ErrorCode::IoError: return "io_error";
        case ErrorCode::Internal: return "internal";
    }
    return "unknown";
}

const char* to_string(TaskKind kind) noexcept {
    switch (kind) {
        case TaskKind::None: return "none";
        case TaskKind::TextToImage: return "t2i";
        case TaskKind::TextToVideo: return "t2v";
        case TaskKind::ImageToVideo: return "i2v";
    }
    return "unknown";
}

const char* to_string(SamplerKind kind) noexcept {
    switch (kind) {
        case SamplerKind::Default: return "default";
        case SamplerKind::FlowDPMSolverMultistep: return "dpmpp_2m";
        case SamplerKind::FlowEuler: return "euler";
        case SamplerKind::SCM: return "scm";
        case SamplerKind::DDIM: return "ddim";
    }
    return "unknown";
}

SamplerKind sampler_kind_from_string(const std::string& name) noexcept {
    if (name == "dpmpp_2m" || name == "flow_dpmpp" || name == "dpm++") return SamplerKind::FlowDPMSolverMultistep;
    if (name == "euler" || name == "flow_euler") return SamplerKind::FlowEuler;
    if (name == "scm") return SamplerKind::SCM;
    if (name == "ddim") return SamplerKind::DDIM;
    return SamplerKind::Default;
}

const char* to_string(JobStatus status) noexcept {
    switch (status) {
        case JobStatus::None: return "none";
        case JobStatus::Queued: return "queued";
        case JobStatus::Running: return "running";
        case JobStatus::Finished: return "finished";
        case JobStatus::Failed: return "failed";
        case JobStatus::Cancelled: return "cancelled";
    }
    return "unknown";
}

const char* to_string(JobStage stage) noexcept {
    switch (stage) {
        case JobStage::None: return "none";
        case JobStage::LoadingModel: return "loading model";
        case JobStage::EncodingPrompt: return "encoding prompt";
        case JobStage::Denoising: return "denoising";
        case JobStage::Decoding: return "decoding";
        case JobStage::Finishing: return "finishing";
    }
    return "unknown";
}

const char* to_string(DeviceKind kind) noexcept {
    switch (kind) {
        case DeviceKind::Cpu: return "cpu";
        case DeviceKind::Cuda: return "cuda";
    }
    return "unknown";
}

const char* to_string(Precision precision) noexcept {
    switch (precision) {
        case Precision::Auto: return "auto";
        case Precision::Float32: return "fp32";
        case Precision::BFloat16: return "bf16";
        case Precision::Float16: return "fp16";
    }
    return "unknown";
}

const char* to_string(MemoryMode mode) noexcept {
    switch (mode) {
        case MemoryMode::Balanced: return "balanced";
        case MemoryMode::LowMemory: return "low";
        case MemoryMode::KeepLoaded: return "keep";
    }
    return "unknown";
}

const char* to_string(WeightQuantization quantization) noexcept {
    switch (quantization) {
        case WeightQuantization::None: return "none";
        case WeightQuantization::Int8: return "int8";
        case WeightQuantization::Fp8: return "fp8";
    }
    return "unknown";
}

TaskKind task_of(const GenerationRequest& request) noexcept {
    switch (request.index()) {
        case 0: return TaskKind::TextToImage;
        case 1: return TaskKind::TextToVideo;
        case 2: return TaskKind::ImageToVideo;
        default: return TaskKind::None;
    }
}

namespace {

Unexpected invalid(const std::string& message) { return make_error(ErrorCode::InvalidRequest, message); }

Expected<void> validate_common(const RequestCommon& r) {
    if (r.model_path.empty()) {
        return invalid("No model selected: choose a model (or pass --model).");
    }
    if (r.num_inference_steps < 0 || r.num_inference_steps > 1000) {
        return invalid("Steps must be between 1 and 1000 (0 means the model's default); got " +
                       std::to_string(r.num_inference_steps) + ".");
    }
    if (!std::isnan(r.guidance_scale) && (!std::isfinite(r.guidance_scale) || r.guidance_scale < 0.0 ||
                                          r.guidance_scale > 100.0)) {
        return invalid("Guidance scale must be between 0 and 100; got " + std::to_string(r.guidance_scale) + ".");
    }
    if (r.preview.every_n_steps < 0 || r.preview.min_interval_ms < 0) {
        return invalid("Preview interval must not be negative.");
    }
    return {};
}

Expected<void> validate_size(int width_px, int height_px, int multiple, int max_px) {
    auto bad = [&](const char* what, int v) -> Expected<void> {
        if (v == 0) {
            return {};  // model default
        }
        if (v < 0 || v % multiple != 0 || v > max_px) {
            return invalid(std::string(what) + " must be a positive multiple of " + std::to_string(multiple) +
                           " up to " + std::to_string(max_px) + " pixels; got " + std::to_string(v) + ".");
        }
        return {};
    };
    if (auto e = bad("Width", width_px); !e) return e;
    if (auto e = bad("Height", height_px); !e) return e;
    return {};
}

Expected<void> validate_video(const TextToVideoRequest& r) {
    if (auto e = validate_size(r.width_px, r.height_px, 8, 2048); !e) return e;
    if (r.num_frames < 0 || r.num_frames > 256) {
        return invalid("Frames must be between 1 and 256 (0 means the model's default); got " +
                       std::to_string(r.num_frames) + ".");
    }
    if (!std::isnan(r.fps) && !(r.fps > 0.0 && r.fps <= 240.0)) {
        return invalid("fps must be between 1 and 240; got " + std::to_string(r.fps) + ".");
    }
    if (!std::isnan(r.eta) && !(r.eta >= 0.0 && r.eta <= 1.0)) {
        return invalid("eta must be between 0 and 1; got " + std::to_string(r.eta) + ".");
    }
    return {};
}

}  // namespace

Expected<void> validate_request(const GenerationRequest& request) noexcept {
    try {
        if (const auto* t2i = std::get_if<TextToImageRequest>(&request)) {
            if (auto e = validate_common(*t2i); !e) return e;
            // Sana needs multiples of 32 (the DC-AE downsamples 32x); 4K models go to 4096.
            if (auto e = validate_size(t2i->width_px, t2i->height_px, 32, 4096); !e) return e;
            if (t2i->max_sequence_length <= 0 || t2i->max_sequence_length > 4096) {
                return invalid("max sequence length must be between 1 and 4096.");
            }
            return {};
        }
        if (const auto* i2v = std::get_if<ImageToVideoRequest>(&request)) {
            if (auto e = validate_common(*i2v); !e) return e;
            if (auto e = validate_video(*i2v); !e) return e;
            if (i2v->image.empty()) {
                return invalid("Image-to-video needs an input image: drop a picture on the window (or pass --image).");
            }
            if (!i2v->image.is_consistent()) {
                return invalid("The input image's pixel buffer does not match its size.");
            }
            if (i2v->frame_stride < 0) {
                return invalid("Frame stride must not be negative.");
            }
            return {};
        }
        const auto& t2v = std::get<TextToVideoRequest>(request);
        if (auto e = validate_common(t2v); !e) return e;
        return validate_video(t2v);
    } catch (const std::exception& e) {
        return make_error(ErrorCode::Internal, e.what());
    }
}

}  // namespace engine
