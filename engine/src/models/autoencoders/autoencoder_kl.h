// Ref: AILab-CVC/VideoCrafter@11bcd76 lvdm/models/autoencoder.py AutoencoderKL
// Ref: AILab-CVC/VideoCrafter@11bcd76 lvdm/modules/networks/ae_modules.py Encoder, Decoder, ResnetBlock, AttnBlock,
//      Downsample, Upsample
// Ref: AILab-CVC/VideoCrafter@11bcd76 lvdm/distributions.py DiagonalGaussianDistribution
// Ref: Doubiiu/DynamiCrafter@c453369 lvdm/models/ddpm3d.py LatentDiffusion.encode_first_stage / decode_core
//      (perframe_ae); the DynamiCrafter copies of the three files above are identical to VideoCrafter's.
//
// The first stage of VideoCrafter 1/2 and DynamiCrafter: the LDM KL autoencoder (the SD-2.x VAE, f8, 4
// latent channels). Registration names are the checkpoint keys after "first_stage_model." (encoder.down.0.
// block.1.norm1.weight, decoder.up.3.upsample.conv.weight, quant_conv.weight, ...), so a real LVDM
// checkpoint loads 1:1.
//
//     auto cfg = core::unwrap(AutoencoderKLConfig::from_json(model_config.first_stage_config_params));
//     auto ae = core::unwrap(load_autoencoder_kl(cfg, checkpoint, at::kFloat, at::kCPU));
//     at::Tensor z = ae->encode(image).mean * scale_factor;                     // [B, 4, H/8, W/8]
//     at::Tensor video = decode_video(*ae, latents / scale_factor, {1, on_frame});  // [B, 3, F, H, W]
//
// scale_factor (0.18215 in every LVDM config) is the caller's business, as in LVDM's first-stage model:
// encode/decode here are AutoencoderKL.encode/decode, not LatentDiffusion.encode_first_stage.
//
// Precision: the module computes in the dtype of its weights (float32 by default). Inputs are converted
// to the module's dtype and device; outputs have that dtype.
//
// Errors: config parsing and loading return Expected (UnsupportedModel for variants Kinora does not run,
// ModelLoadFailed for inconsistent configs or weights); encode/decode throw core::EngineError
// (InvalidRequest) for tensors of the wrong shape. Not thread-safe: one caller per module at a time.
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"
#include "models/common/plain_layers.h"

namespace engine::models {

/// `first_stage_config.params` of an LVDM YAML config: `embed_dim` plus the `ddconfig` that the
/// Encoder and Decoder are built from. Defaults are ae_modules.py's constructor defaults; the keys without
/// a default there (ch, out_ch, num_res_blocks, attn_resolutions, in_channels, resolution, z_channels)
/// are required.
struct AutoencoderKLConfig {
    int64_t embed_dim = 4;
    bool double_z = true;  // AutoencoderKL asserts it
    int64_t z_channels = 4;
    int64_t resolution = 256;  // only decides where attn_resolutions put attention blocks
    int64_t in_channels = 3;
    int64_t out_ch = 3;
    int64_t ch = 128;
    std::vector<int64_t> ch_mult = {1, 2, 4, 8};
    int64_t num_res_blocks = 2;
    std::vector<int64_t> attn_resolutions;  // feature-map sizes (of `resolution`) with AttnBlocks after each ResBlock
    bool resamp_with_conv = true;
    bool give_pre_end = false;  // Decoder returns the features before norm_out/conv_out
    bool tanh_out = false;

    /// Parses `first_stage_config.params` ({embed_dim, ddconfig, lossconfig, monitor, ...}) or the
    /// whole `first_stage_config` ({target, params}; target must be lvdm.models.autoencoder.AutoencoderKL).
    /// Training-only keys (lossconfig, monitor, ckpt_path, ...) are ignored; keys that would change the
    /// network and any unknown key are UnsupportedModel, wrong types ModelLoadFailed.
    static Expected<AutoencoderKLConfig> from_json(const nlohmann::json& j);
    /// Parses a bare `ddconfig` object (the golden's ddconfig.json) with the given embed_dim.
    static Expected<AutoencoderKLConfig> from_ddconfig(const nlohmann::json& ddconfig, int64_t embed_dim);
    /// Checks the invariants the modules rely on; the parsers call it.
    Expected<void> validate() const;

    /// 2^(len(ch_mult) - 1): how much the encoder shrinks H and W (8 for the real models).
    int64_t downsample_factor() const;
};

/// LVDM's DiagonalGaussianDistribution over the latent: moments [B, 2·embed_dim, h, w] split into mean and
/// logvar (clamped to [-30, 20]).
struct DiagonalGaussian {
    at::Tensor mean;    // [B, embed_dim, h, w]
    at::Tensor logvar;  // [B, embed_dim, h, w], clamped
    at::Tensor std;     // exp(0.5 · logvar)

    /// mean + std · noise; noise has mean's shape (any dtype/device; converted).
    at::Tensor sample(const at::Tensor& noise) const;
    /// LVDM's sample(): noise = randn(mean.shape) from `generator` (a CPU generator; the global default
    /// CPU generator when none is given, which is what the reference uses), float32 on the CPU, then moved
    /// to mean's device, so a seed reproduces PyTorch's draw whatever the device.
    at::Tensor sample(std::optional<at::Generator> generator = std::nullopt) const;
    /// The mode (= mean).
    const at::Tensor& mode() const { return mean; }
};

namespace detail {
class AEEncoderImpl;
class AEDecoderImpl;
}  // namespace detail

class AutoencoderKLImpl : public torch::nn::Module {
public:
    /// Builds the modules with parameters allocated uninitialised with `options` (dtype, device; float32 CPU by
    /// default): load weights into them (load_autoencoder_kl does). Throws core::EngineError for an invalid config
    /// (use load_autoencoder_kl for Expected-style errors).
    explicit AutoencoderKLImpl(const AutoencoderKLConfig& config, const at::TensorOptions& options = {});

    /// image [B, in_channels, H, W] in [-1, 1], H and W multiples of downsample_factor()
    /// → the posterior over the latent [B, embed_dim, H/f, W/f] (not multiplied by scale_factor).
    DiagonalGaussian encode(const at::Tensor& image);
    /// latent [B, embed_dim, h, w] (already divided by scale_factor) → image [B, out_ch, h·f, w·f],
    /// roughly in [-1, 1] (not clamped).
    at::Tensor decode(const at::Tensor& latent);

    /// The dtype of the weights (what encode/decode compute in).
    at::ScalarType dtype() const;
    c10::Device device() const;
    /// Converts the floating parameters and buffers.
    void to_dtype_device(at::ScalarType dtype, c10::Device device);
    /// Channels-last convolutions (models/common/memory_format.h): converts the conv kernels and, from then on, the
    /// input of every call; results stay NCHW-contiguous. Call after loading (and after to_dtype_device).
    void set_channels_last(bool on);
    bool channels_last() const { return channels_last_; }

    AutoencoderKLConfig config;

private:
    bool channels_last_ = false;
    std::shared_ptr<detail::AEEncoderImpl> encoder_;
    std::shared_ptr<detail::AEDecoderImpl> decoder_;
    PlainConv quant_conv_{nullptr};       // [2·embed_dim, 2·z_channels, 1, 1]
    PlainConv post_quant_conv_{nullptr};  // [z_channels, embed_dim, 1, 1]
};
TORCH_MODULE(AutoencoderKL);

/// Runs after each chunk of frames with (frames done, frames total); it may throw (e.g. the job's
/// cancellation) to stop between chunks.
using FrameProgressFn = std::function<void(int64_t, int64_t)>;

/// How a video goes through the 2-D autoencoder. LVDM folds [B, C, F, H, W] to [(B·F), C, H, W] (frame
/// index b·F + f) and runs either all of them in one call (VideoCrafter; DynamiCrafter without
/// perframe_ae) or one frame per call (DynamiCrafter's perframe_ae, the 512/1024 default).
struct VideoCodingOptions {
    /// Frames per encoder/decoder call: 1 = LVDM's perframe_ae; 0 = all frames at once. Peak memory
    /// grows with it; the results agree to float rounding (each frame is computed independently).
    int64_t frames_per_call = 1;
    /// Called after each call (see FrameProgressFn).
    FrameProgressFn on_frames;
};

/// decode() over a video latent [B, embed_dim, F, h, w] (already divided by scale_factor)
/// → [B, out_ch, F, h·f, w·f], `frames_per_call` frames at a time.
at::Tensor decode_video(AutoencoderKLImpl& ae, const at::Tensor& latent, const VideoCodingOptions& options = {});

/// What encode_video returns per frame.
enum class LatentChoice {
    Mean,    // the posterior mean (the mode)
    Sample,  // a draw from the posterior, as LVDM's get_first_stage_encoding does
};

/// encode() over a video [B, in_channels, F, H, W] → latent [B, embed_dim, F, H/f, W/f] (not multiplied by
/// scale_factor). With LatentChoice::Sample every call draws randn of its own [frames_in_call, embed_dim,
/// h, w] shape from `generator` (CPU; the global one when empty), as LVDM's encode_first_stage does: with
/// frames_per_call = 1 that is DynamiCrafter's perframe_ae draw order, with 0 its batched one.
at::Tensor encode_video(AutoencoderKLImpl& ae, const at::Tensor& video, LatentChoice choice,
                        const VideoCodingOptions& options = {}, std::optional<at::Generator> generator = std::nullopt);

/// Builds the model from config and loads it strictly from `weights`: the keys under `prefix` (LVDM
/// checkpoints: "first_stage_model."; "" for a bare VAE state dict), then converts to dtype/device.
/// Other keys of the checkpoint (the UNet, text encoder, schedule buffers) are left alone. `what`
/// names the source in errors.
Expected<AutoencoderKL> load_autoencoder_kl(const AutoencoderKLConfig& config, const io::TensorMap& weights,
                                            at::ScalarType dtype, c10::Device device,
                                            const std::string& prefix = "first_stage_model.",
                                            const std::string& what = "AutoencoderKL");

}  // namespace engine::models
