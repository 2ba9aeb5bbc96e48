#include "pipelines/preview.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <utility>

namespace engine::pipelines {

const LatentRgbProjection& sana_dcae_projection() {
    static const LatentRgbProjection p{
        {{{-2.0022e-03f, -6.0736e-03f, -1.7096e-03f}}, {{1.4221e-03f, 3.6703e-03f, 4.1083e-03f}},
         {{1.0081e-02f, 2.6456e-04f, -1.4333e-02f}},   {{-2.4253e-03f, 3.0967e-03f, -1.0301e-03f}},
         {{2.2158e-03f, 7.7274e-03f, -1.3151e-02f}},   {{1.1235e-02f, 5.7630e-03f, 3.6146e-03f}},
         {{-7.2899e-02f, 1.1062e-02f, 3.6103e-02f}},   {{3.2346e-02f, 2.8678e-02f, 2.5014e-02f}},
         {{1.6469e-03f, -1.1364e-03f, 2.8366e-03f}},   {{-3.5597e-02f, -2.3447e-02f, -3.1172e-03f}},
         {{-1.9985e-04f, -2.0647e-03f, -1.2702e-02f}}, {{2.1318e-04f, 1.2196e-03f, -8.3461e-04f}},
         {{1.3766e-02f, 2.7559e-03f, 7.3567e-03f}},    {{1.3027e-02f, 2.6365e-03f, 3.0405e-03f}},
         {{1.5335e-02f, 9.4682e-03f, 6.7312e-03f}},    {{5.1827e-03f, -9.4865e-03f, 8.5080e-03f}},
         {{1.4365e-02f, -3.2867e-03f, 9.5108e-03f}},   {{-4.1216e-03f, -1.9177e-03f, -3.3726e-03f}},
         {{-2.4757e-03f, 5.1739e-04f, 2.0280e-03f}},   {{-3.5950e-03f, 1.0720e-03f, 5.3043e-03f}},
         {{-5.1758e-03f, 8.1040e-03f, -3.7564e-02f}},  {{-3.8555e-03f, -1.5529e-03f, -3.5799e-03f}},
         {{-6.6175e-03f, -6.8484e-03f, -9.9609e-03f}}, {{-2.1656e-03f, 5.5770e-05f, 1.4936e-03f}},
         {{-9.2857e-02f, -1.1379e-01f, -1.0919e-01f}}, {{7.7044e-04f, 5.5594e-03f, 3.4755e-02f}},
         {{1.2714e-02f, 2.9729e-02f, 3.1989e-03f}},    {{-1.1805e-03f, 9.0548e-03f, -4.1063e-04f}},
         {{8.3309e-04f, 4.9694e-03f, 2.3087e-03f}},    {{7.8456e-03f, 3.9750e-03f, 3.5655e-03f}},
         {{-1.7552e-03f, 4.9306e-03f, 1.4210e-02f}},   {{-1.4790e-03f, 2.8837e-03f, -4.5687e-03f}}},
        {{0.4358f, 0.3814f, 0.3388f}}};
    return p;
}

const LatentRgbProjection& sd_kl4_projection() {
    static const LatentRgbProjection p{{{{0.3512f, 0.2297f, 0.3227f}},
                                        {{0.3250f, 0.4974f, 0.2350f}},
                                        {{-0.2829f, 0.1762f, 0.2721f}},
                                        {{-0.2120f, -0.2616f, -0.7177f}}},
                                       {{0.f, 0.f, 0.f}}};
    return p;
}

LatentRgbProjection generic_projection(int64_t num_channels) {
    LatentRgbProjection p;
    p.weights.resize(static_cast<size_t>(std::max<int64_t>(num_channels, 0)));
    std::array<int, 3> per_colour{0, 0, 0};
    for (int64_t c = 0; c < num_channels; ++c) ++per_colour[static_cast<size_t>(c % 3)];
    for (int64_t c = 0; c < num_channels; ++c) {
        const auto k = static_cast<size_t>(c % 3);
        p.weights[static_cast<size_t>(c)] = {0.f, 0.f, 0.f};
        p.weights[static_cast<size_t>(c)][k] = 0.5f / static_cast<float>(per_colour[k]);
    }
    return p;
}

LatentRgbProjection projection_for(const LatentRgbProjection& published, int64_t num_channels) {
    if (static_cast<int64_t>(published.weights.size()) == num_channels) return published;
    return generic_projection(num_channels);
}

namespace {

// A small host tensor on `device`: on a GPU through pinned memory and a non-blocking copy, so that making a preview
// never waits for the stream.
at::Tensor on_device(const at::Tensor& host, c10::Device device) {
    if (device.is_cpu()) return host;
    return host.pin_memory().to(device, /*non_blocking=*/true);
}

// (Wᵀz + b + 1) / 2 of latents [C, F, H, W]: [F, 3, H, W] float32 on the latents' device.
at::Tensor project(const at::Tensor& latent_cfhw, const LatentRgbProjection& projection) {
    const int64_t c = latent_cfhw.size(0);
    TORCH_CHECK(c == static_cast<int64_t>(projection.weights.size()), "latent preview: the latent has ", c,
                " channels but the projection has ", projection.weights.size());
    at::Tensor w = at::empty({c, 3}, at::kFloat);
    auto wa = w.accessor<float, 2>();
    for (int64_t i = 0; i < c; ++i) {
        for (int64_t j = 0; j < 3; ++j) wa[i][j] = projection.weights[static_cast<size_t>(i)][static_cast<size_t>(j)];
    }
    at::Tensor b = at::empty({3}, at::kFloat);
    for (int64_t j = 0; j < 3; ++j) b.accessor<float, 1>()[j] = projection.bias[static_cast<size_t>(j)];
    const c10::Device device = latent_cfhw.device();
    at::Tensor z = latent_cfhw.detach().to(at::kFloat);                                        // [C, F, H, W]
    at::Tensor rgb = at::einsum("cfhw,cd->fdhw", {z, on_device(w, device)}) + on_device(b, device).view({1, 3, 1, 1});
    return (rgb + 1.0) / 2.0;
}

// Frames [F, 3, H, W] upscaled (bilinear) so that the longer side is about max_side_px; never downscaled.
at::Tensor upscale(const at::Tensor& rgb, int max_side_px) {
    const int64_t h = rgb.size(2), w = rgb.size(3);
    const int64_t longer = std::max(h, w);
    if (longer >= max_side_px || longer == 0) return rgb;
    const double s = static_cast<double>(max_side_px) / static_cast<double>(longer);
    const int64_t nh = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(h) * s));
    const int64_t nw = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(w) * s));
    return at::upsample_bilinear2d(rgb, {nh, nw}, /*align_corners=*/false);
}

// Frames [F, C, H, W] in [0, 1] → [F, H, W, C] uint8 on their device, as diffusers' postprocess rounds: clamp, ×255,
// round.
at::Tensor unit_frames_to_pixels(const at::Tensor& frames) {
    return (frames.clamp(0.0, 1.0) * 255.0).round().to(at::kByte).permute({0, 2, 3, 1}).contiguous();
}

}  // namespace

Image tensor_to_image(const at::Tensor& chw01) {
    return schedulers::images_from_pixels(unit_frames_to_pixels(chw01.detach().to(at::kCPU, at::kFloat).unsqueeze(0)))
        .front();
}

at::Tensor preview_pixels(const at::Tensor& latent, const LatentRgbProjection& projection, int max_side_px) {
    TORCH_CHECK(latent.dim() == 3 || latent.dim() == 4, "latent preview expects [C, H, W] or [C, F, H, W], got ",
                latent.sizes());
    const at::Tensor cfhw = latent.dim() == 3 ? latent.unsqueeze(1) : latent;
    return unit_frames_to_pixels(upscale(project(cfhw, projection), max_side_px));
}

Image latent_preview(const at::Tensor& latent, const LatentRgbProjection& projection, int max_side_px) {
    TORCH_CHECK(latent.dim() == 3, "latent preview expects [C, H, W], got ", latent.sizes());
    return schedulers::images_from_pixels(preview_pixels(latent, projection, max_side_px).cpu()).front();
}

std::vector<Image> video_latent_preview(const at::Tensor& latent, const LatentRgbProjection& projection,
                                        int max_side_px) {
    TORCH_CHECK(latent.dim() == 4, "video latent preview expects [C, F, H, W], got ", latent.sizes());
    return schedulers::images_from_pixels(preview_pixels(latent, projection, max_side_px).cpu());
}

schedulers::PreviewRenderer image_preview_renderer(LatentRgbProjection projection) {
    return [projection = std::move(projection)](const at::Tensor& latents, const at::Tensor& denoised) {
        const at::Tensor& z = denoised.defined() ? denoised : latents;
        return preview_pixels(z[0], projection, kImagePreviewSidePx);
    };
}

schedulers::PreviewRenderer video_preview_renderer(LatentRgbProjection projection) {
    return [projection = std::move(projection)](const at::Tensor& latents, const at::Tensor& denoised) {
        const at::Tensor& z = denoised.defined() ? denoised : latents;
        return preview_pixels(z[0], projection, kVideoPreviewSidePx);
    };
}

}  // namespace engine::pipelines
