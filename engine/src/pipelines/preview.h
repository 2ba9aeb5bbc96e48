// Cheap live previews: a linear projection of latent channels to RGB (rgb = Wᵀ·z + b, then
// (rgb + 1) / 2), the formula ComfyUI, sd.cpp and InvokeAI use, upscaled to a viewable size.
// No VAE decode: a 1024² Sana image has a 32×32 latent. The pixels are made on the latents' device (a few small
// kernels on a GPU; the host's bilinear upscale to 512 px alone takes 16 ms on one core of the CI machine).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <vector>

#include "engine/media.h"
#include "schedulers/step_hooks.h"

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

inline constexpr int kImagePreviewSidePx = 512;
inline constexpr int kVideoPreviewSidePx = 384;

/// A preview's pixels, computed on the latent's own device (a GPU: queued, nothing waits): latents [C, H, W] or
/// [C, F, H, W] → [F, H, W, 3] uint8 (F = 1 for an image), projected, upscaled (bilinear) so that the longer side is
/// about max_side_px (never downscaled below the latent size), clamped to [0, 1], ×255 and rounded.
at::Tensor preview_pixels(const at::Tensor& latent, const LatentRgbProjection& projection, int max_side_px);

/// Projects one latent [C, H, W] to an 8-bit RGB image (preview_pixels, on the host).
Image latent_preview(const at::Tensor& latent, const LatentRgbProjection& projection,
                     int max_side_px = kImagePreviewSidePx);

/// Projects video latents [C, F, H, W]: one image per frame.
std::vector<Image> video_latent_preview(const at::Tensor& latent, const LatentRgbProjection& projection,
                                        int max_side_px = kVideoPreviewSidePx);

/// The step hooks' renderer of an image job: preview_pixels of the first sample's x0 estimate (the latents when the
/// sampler has none): what the image will be.
schedulers::PreviewRenderer image_preview_renderer(LatentRgbProjection projection);
/// The same for a video job's latents [B, C, F, H, W]: one image per frame.
schedulers::PreviewRenderer video_preview_renderer(LatentRgbProjection projection);

/// Converts an image tensor [3, H, W] in [0, 1] to an 8-bit RGB Image (rounding like diffusers'
/// postprocess: ×255 then round).
Image tensor_to_image(const at::Tensor& chw01);

}  // namespace engine::pipelines
