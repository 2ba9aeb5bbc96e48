// Resolution binning of diffusers' Sana pipelines: the requested size is snapped to the nearest
// aspect-ratio bin of the model's native resolution, generated there, then resized and center-cropped
// back (resize_and_crop_tensor), so every aspect ratio gets a size the model was trained on.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace engine::pipelines {

struct AspectRatioBin {
    const char* key;   // the ratio as diffusers writes it, e.g. "0.57"
    double ratio;      // height / width
    int height_px;
    int width_px;
};

const std::vector<AspectRatioBin>& aspect_ratio_bins_16();   // 512 px models (sample_size 16)
const std::vector<AspectRatioBin>& aspect_ratio_bins_32();   // 1024 px (sample_size 32)
const std::vector<AspectRatioBin>& aspect_ratio_bins_64();   // 2K (sample_size 64)
const std::vector<AspectRatioBin>& aspect_ratio_bins_128();  // 4K (sample_size 128)

/// The bin table for a transformer sample_size, or nullptr when diffusers has none (binning unavailable).
const std::vector<AspectRatioBin>* aspect_ratio_bins_for_sample_size(int64_t sample_size);

struct BinnedSize {
    int height_px = 0;
    int width_px = 0;
};

/// diffusers classify_height_width_bin: the bin whose ratio is closest to height/width (first wins on ties).
BinnedSize classify_height_width_bin(int height_px, int width_px, const std::vector<AspectRatioBin>& bins);

}  // namespace engine::pipelines
