#include "pipelines/model_cache.h"

#include <filesystem>

#include "core/engine_error.h"

namespace engine::pipelines {

ComputeSettings compute_settings_for(const EngineOptions& options) {
    ComputeSettings s;
    s.memory_mode = options.memory_mode;
    if (options.device == DeviceKind::Cuda) {
        s.device = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(options.device_index));
    }
    const bool cuda = s.device.is_cuda();
    switch (options.precision) {
        case Precision::Auto: s.dtype = cuda ? at::kBFloat16 : at::kFloat; break;
        case Precision::Float32: s.dtype = at::kFloat; break;
        case Precision::BFloat16: s.dtype = at::kBFloat16; break;
        case Precision::Float16: s.dtype = at::kHalf; break;
    }
    s.vae_dtype = s.dtype;
    s.quantization = options.quantization;
    return s;
}

std::shared_ptr<SanaPipeline> ModelCache::sana(const std::string& dir,
                                               const std::function<void(int, int)>& on_component) {
    std::error_code ec;
    const std::string key = std::filesystem::weakly_canonical(dir, ec).string();
    if (sana_ && sana_dir_ == key) {
        return sana_;
    }
    clear();
    SanaLoadOptions o;
    o.dtype = settings_.dtype;
    o.vae_dtype = settings_.vae_dtype;
    o.device = settings_.device;
    o.quantization = settings_.quantization;
    o.on_component = on_component;
    sana_ = core::unwrap(load_sana_pipeline(dir, o));
    sana_dir_ = key;
    return sana_;
}

std::shared_ptr<LVDMPipeline> ModelCache::lvdm(const std::string& checkpoint, const std::string& config_path,
                                               const std::string& tokenizer_path,
                                               const std::function<void(int, int)>& on_component) {
    std::error_code ec;
    auto canonical = [&ec](const std::string& p) {
        return p.empty() ? std::string() : std::filesystem::weakly_canonical(p, ec).string();
    };
    const std::string key = canonical(checkpoint) + '\n' + canonical(config_path) + '\n' + canonical(tokenizer_path);
    if (lvdm_ && lvdm_key_ == key) {
        return lvdm_;
    }
    clear();
    LVDMLoadOptions o;
    o.dtype = settings_.dtype;
    o.vae_dtype = settings_.vae_dtype;
    o.device = settings_.device;
    o.config_path = config_path;
    o.tokenizer_path = tokenizer_path;
    o.on_component = on_component;
    lvdm_ = core::unwrap(load_lvdm_pipeline(checkpoint, o));
    lvdm_key_ = key;
    return lvdm_;
}

void ModelCache::clear() {
    sana_.reset();
    sana_dir_.clear();
    lvdm_.reset();
    lvdm_key_.clear();
}

}  // namespace engine::pipelines
