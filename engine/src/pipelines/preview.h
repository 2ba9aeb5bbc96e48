// Cheap live previews: a linear projection of latent channels to RGB (rgb = Wᵀ·z + b, then
// (rgb + 1) / 2), the formula ComfyUI, sd.cpp and InvokeAI use, upscaled to a viewable size.
// No VAE decode: a 1024² Sana image has a 32×32 latent, so this costs microseconds.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <vector>

#include "engine/media.h"

namespace engine::pipelines {

/// A latent → RGB projection: one row of 3 weights per latent channel, plus a bias.
struct LatentRgbProjection {
    std::vector<std::array<float, 3>> weights;  // [C][3]
    std::array<float, 3> bias{0.f, 0.f, 0.f};
};

/// Sana's DC-AE f32c32 latents (32 channels, scaled space; factors published with ComfyUI_ExtraModels'
/// SanaLatent). Sana-Sprint shares the autoencoder.
const LatentRgbProjection& sana_dcae_projection();
/// SD-style 4-channel KL latents (VideoCrafter/DynamiCrafter first stage, scaled space).
const LatentRgbProjection& sd_kl4_projection();

/// A neutral projection for latents without published factors (e.g. test-sized models): channel c feeds
/// colour c mod 3, averaged. Shows structure, not true colour.
LatentRgbProjection generic_projection(int64_t num_channels);
/// The published projection when `num_channels` matches it, else generic_projection().
LatentRgbProjection projection_for(const LatentRgbProjection& published, int64_t num_channels);

/// Projects one latent [C, H, W] to an 8-bit RGB image whose longer side is about max_side_px
/// (bilinear upscale, never downscale below the latent size).
Image latent_preview(const at::Tensor& latent, const LatentRgbProjection& projection, int max_side_px = 512);

/// Projects video latents [C, F, H, W] frame by frame.
std::vector<Image> video_latent_preview(const at::Tensor& latent, const LatentRgbProjection& projection,
                                        int max_side_px = 384);

/// Converts an image tensor [3, H, W] in [0, 1] to an 8-bit RGB Image (rounding like diffusers'
/// postprocess: ×255 then round).
Image tensor_to_image(const at::Tensor& chw01);

}  // namespace engine::pipelines
