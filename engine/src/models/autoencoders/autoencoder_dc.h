// Ref: huggingface/diffusers src/diffusers/models/autoencoders/autoencoder_dc.py AutoencoderDC
// Ref: huggingface/diffusers src/diffusers/models/attention_processor.py SanaMultiscaleLinearAttention,
//      SanaMultiscaleAttnProcessor2_0
//
// AutoencoderDC, the deep-compression autoencoder of Sana (DC-AE f32c32: a 1024x1024 image is a
// [32, 32, 32] latent). Encoder and decoder compute exactly what diffusers computes; the registration
// names are the diffusers checkpoint keys ("encoder.down_blocks.3.1.attn.to_q.weight", ...).
//
//     auto ae = engine::core::unwrap(engine::models::load_autoencoder_dc("<pipeline>/vae", at::kFloat, at::kCPU));
//     at::Tensor image = ae->decode(latents / ae->config.scaling_factor);       // [B, 3, 32h, 32w] in ~[-1, 1]
//     at::Tensor big = ae->decode_tiled(latents / ae->config.scaling_factor);  // same image, bounded memory
//     at::Tensor z = ae->encode(image) * ae->config.scaling_factor;              // what the pipelines feed Sana
//
// Precision: the module runs in the dtype of its weights (load_autoencoder_dc's `dtype`; float32 by
// default, bfloat16 on GPU later). Inside it, as in diffusers, RMSNorm statistics and the LiteMLA ReLU
// linear attention are computed in float32 whatever that dtype is. Inputs are converted to the module's
// dtype and device; outputs have that dtype.
//
// Errors: construction and loading return Expected (UnsupportedModel for configs Kinora cannot run,
// ModelLoadFailed for inconsistent configs or weights); encode/decode throw core::EngineError
// (InvalidRequest) for tensors of the wrong shape.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>
#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"

namespace engine::models {

enum class DCBlockType { ResBlock, EfficientViTBlock };
enum class DCNormType { RmsNorm, BatchNorm };
enum class DCActivation { Identity, SiLU, ReLU, GELU, Mish };
/// "pixel_shuffle": conv to 4x channels + pixel shuffle; "interpolate": nearest x2 + conv (Sana).
enum class DCUpsampleType { PixelShuffle, Interpolate };
/// "pixel_unshuffle": conv + pixel unshuffle; "conv" (anything else in diffusers): stride-2 conv (Sana).
enum class DCDownsampleType { PixelUnshuffle, Conv };

/// diffusers AutoencoderDC's config.json. Per-stage fields are expanded to one entry per stage (diffusers
/// accepts a single string for all stages). Defaults are diffusers' constructor defaults.
struct AutoencoderDCConfig {
    int64_t in_channels = 3;
    int64_t latent_channels = 32;
    int64_t attention_head_dim = 32;
    std::vector<DCBlockType> encoder_block_types = std::vector<DCBlockType>(6, DCBlockType::ResBlock);
    std::vector<DCBlockType> decoder_block_types = std::vector<DCBlockType>(6, DCBlockType::ResBlock);
    std::vector<int64_t> encoder_block_out_channels = {128, 256, 512, 512, 1024, 1024};
    std::vector<int64_t> decoder_block_out_channels = {128, 256, 512, 512, 1024, 1024};
    std::vector<int64_t> encoder_layers_per_block = {2, 2, 2, 3, 3, 3};
    std::vector<int64_t> decoder_layers_per_block = {3, 3, 3, 3, 3, 3};
    std::vector<std::vector<int64_t>> encoder_qkv_multiscales = {{}, {}, {}, {5}, {5}, {5}};
    std::vector<std::vector<int64_t>> decoder_qkv_multiscales = {{}, {}, {}, {5}, {5}, {5}};
    DCUpsampleType upsample_block_type = DCUpsampleType::PixelShuffle;
    DCDownsampleType downsample_block_type = DCDownsampleType::PixelUnshuffle;
    std::vector<DCNormType> decoder_norm_types = std::vector<DCNormType>(6, DCNormType::RmsNorm);
    std::vector<DCActivation> decoder_act_fns = std::vector<DCActivation>(6, DCActivation::SiLU);
    bool encoder_out_shortcut = true;
    bool decoder_in_shortcut = true;
    DCActivation decoder_conv_act_fn = DCActivation::ReLU;
    double scaling_factor = 1.0;

    /// Parses diffusers' vae/config.json. Keys starting with '_' are metadata; `_class_name`, when
    /// present, must be "AutoencoderDC". Any other key Kinora does not know is refused
    /// (UnsupportedModel): it could change the computation. Values are checked for consistency.
    static Expected<AutoencoderDCConfig> from_json(const nlohmann::json& j);
    /// Checks the invariants the modules rely on (list lengths, channel divisibility); from_json calls it.
    Expected<void> validate() const;

    /// diffusers' spatial_compression_ratio: 2^(len(encoder_block_out_channels) - 1).
    int64_t spatial_compression_ratio() const;
    /// How much the encoder shrinks H and W (2 per down block, 2 for a down-sampling conv_in).
    int64_t encoder_downsample_factor() const;
    /// How much the decoder enlarges H and W (2 per up block, 2 for an up-sampling conv_out).
    int64_t decoder_upsample_factor() const;
};

/// The LiteMLA ReLU linear attention of the DC-AE in its own channel-major layout:
///   q, k: [B, G, D, N], v: [B, G, Dv, N]  (G head groups, D head dim, N = H*W pixels), result [B, G, Dv, N]
///   out[:, n] = Σ_m v[:, m] (relu(k[:, m]) · relu(q[:, n])) / (Σ_m relu(k[:, m]) · relu(q[:, n]) + eps)
/// accumulated in float32 whatever the input dtype; the result has v's dtype. This is diffusers'
/// apply_linear_attention (the ones-row padding trick) reformulated; it runs on kernels::relu_linear_attention
/// (layout [B, H, N, D]) through transposed views, so a fused kernel replaces it there.
at::Tensor dc_relu_linear_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps);
/// The quadratic variant diffusers uses when H*W <= attention_head_dim (tiny feature maps): same layout,
/// ReLU applied here, scores normalized in float32, result in v's dtype.
at::Tensor dc_relu_quadratic_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps);

/// How AutoencoderDC::decode_tiled cuts the decoder (see there). "Base pixels" are pixels of the feature
/// map between the two parts: latent pixels × global_scale; output pixels are base pixels × local_scale.
struct DCTiledDecodePlan {
    int64_t split_stage = 0;   // decoder stages [split_stage, n) (and conv_in) run on the whole latent
    int64_t global_scale = 1;  // base pixels per latent pixel (2 per up block in the global part)
    int64_t local_scale = 1;   // output pixels per base pixel (2 per up block in the local part)
    int64_t halo = 0;          // base pixels of context a tile needs on each side: the local part's reach
};

/// Default tile edge of decode_tiled, in latent pixels (1024 output pixels for Sana's f32 DC-AE).
inline constexpr int64_t kDCDefaultDecodeTile = 32;

namespace detail {
class DCEncoderImpl;
class DCDecoderImpl;

/// Bounds of the fewest near-equal parts of at most max_part that cover [0, length): part i is
/// [b[i], b[i+1]).
std::vector<int64_t> split_evenly(int64_t length, int64_t max_part);
}  // namespace detail

class AutoencoderDCImpl : public torch::nn::Module {
public:
    /// Builds the modules (float32, CPU, random init). Throws core::EngineError for an invalid config
    /// (use load_autoencoder_dc for Expected-style errors).
    explicit AutoencoderDCImpl(const AutoencoderDCConfig& config);

    /// image [B, in_channels, H, W] in [-1, 1], H and W multiples of encoder_downsample_factor()
    /// → latent [B, latent_channels, H/f, W/f], not multiplied by scaling_factor (diffusers' encode).
    at::Tensor encode(const at::Tensor& image);
    /// latent [B, latent_channels, h, w] (already divided by scaling_factor, as the pipelines do)
    /// → image [B, in_channels, h*f, w*f], roughly in [-1, 1] (not clamped).
    at::Tensor decode(const at::Tensor& latent);
    /// decode() with bounded memory and the same result (up to float summation order). The decoder is
    /// cut in two (tiled_decode_plan()): the global part — conv_in and every stage from the deepest one
    /// down to the last that holds a LiteMLA attention, whose sums run over the whole map — runs once on
    /// the whole latent; the local part — the remaining stages of ResBlocks and up blocks, and the
    /// output norm/act/conv, all with a finite receptive field — runs tile by tile. Tiles are
    /// non-overlapping cores of at most tile_latent_size² latent pixels, each decoded from a window
    /// that adds the plan's halo of context on every side (clipped at the image border, where the
    /// untiled decode pads too); only the core of each window is kept, so there is no blending and no
    /// seam. Peak memory: max(the global part's peak, its output + the output image + one window's
    /// activations). A latent that fits in one tile is decoded exactly as decode() does.
    /// `on_tile(done, total)` runs after each tile (progress; it may throw to cancel).
    at::Tensor decode_tiled(const at::Tensor& latent, int64_t tile_latent_size = kDCDefaultDecodeTile,
                            const std::function<void(int64_t, int64_t)>& on_tile = {});
    /// decode_tiled with `halo` base pixels of context instead of the plan's. A smaller halo gives wrong
    /// pixels along the tile borders, a larger one only costs time: this is for tests that pin the plan's
    /// halo down as the smallest exact one.
    at::Tensor decode_tiled_with_halo(const at::Tensor& latent, int64_t tile_latent_size, int64_t halo,
                                      const std::function<void(int64_t, int64_t)>& on_tile = {});
    /// Where decode_tiled cuts this decoder and the halo it needs (from the kernel sizes and up blocks).
    DCTiledDecodePlan tiled_decode_plan() const;
    /// The two parts of decode() = decode_local(decode_global(latent)), as decode_tiled cuts it:
    /// latent [B, latent_channels, h, w] → base [B, C, h*g, w*g] (g = plan.global_scale), and
    /// base [B, C, H, W] → image [B, in_channels, H*s, W*s] (s = plan.local_scale).
    at::Tensor decode_global(const at::Tensor& latent);
    at::Tensor decode_local(const at::Tensor& base);

    /// The dtype of the weights (what encode/decode compute in).
    at::ScalarType dtype() const;
    c10::Device device() const;
    /// Converts floating parameters and buffers (BatchNorm's step counter stays int64).
    void to_dtype_device(at::ScalarType dtype, c10::Device device);
    /// Channels-last convolutions (models/common/memory_format.h): converts the conv kernels and, from then on, the
    /// input of every call; results stay NCHW-contiguous. Call after loading (and after to_dtype_device).
    void set_channels_last(bool on);
    bool channels_last() const { return channels_last_; }

    AutoencoderDCConfig config;

private:
    bool channels_last_ = false;
    std::shared_ptr<detail::DCEncoderImpl> encoder_;
    std::shared_ptr<detail::DCDecoderImpl> decoder_;
};
TORCH_MODULE(AutoencoderDC);

/// Builds the model from config and loads `weights` strictly (diffusers keys, no prefix), then moves
/// it to dtype/device. `what` names the source in errors.
Expected<AutoencoderDC> load_autoencoder_dc(const AutoencoderDCConfig& config, const io::TensorMap& weights,
                                            at::ScalarType dtype, c10::Device device,
                                            const std::string& what = "AutoencoderDC");
/// Loads a diffusers component folder: <dir>/config.json + diffusion_pytorch_model.safetensors (or sharded).
Expected<AutoencoderDC> load_autoencoder_dc(const std::string& dir, at::ScalarType dtype, c10::Device device);

}  // namespace engine::models
