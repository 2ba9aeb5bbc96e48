// Torch-free image operations: EXIF orientation, alpha flattening, "cover" resize + centre crop.
//
// resize_cover() reproduces what DynamiCrafter does to its input picture
// (Ref: Doubiiu/DynamiCrafter scripts/evaluation/inference.py load_data_prompts):
//     transforms.Resize(min(video_size))      # on a PIL image: PIL Image.resize(BILINEAR)
//     transforms.CenterCrop(video_size)
// Resize(int) scales the shorter edge to min(H, W) (long edge: int(size * long / short)), and CenterCrop
// offsets are int(round((in - out) / 2)) with Python's round-half-even. Where the reference would have
// to pad (an image narrower than the target's aspect, e.g. a square picture for a 512x320 model, which
// it fills with black), we scale further so the picture always covers the frame: same result whenever
// the reference needs no padding, and no black bars where it would.
#include "media/image_ops.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/media_io.h"

namespace engine {
namespace media {
namespace {

std::size_t idx(int x, int y, int width, int channels) {
    return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)) *
           static_cast<std::size_t>(channels);
}

// Taps of PIL's BILINEAR (triangle) filter along one axis for output positions [first, first + count)
// of an in_size → out_size resize. Downscaling widens the support by the scale factor (antialiasing).
struct AxisTaps {
    std::vector<int> start;              // first input index per output position
    std::vector<std::vector<double>> w;  // normalised weights from `start`
};

AxisTaps bilinear_taps(int in_size, int out_size, int first, int count) {
    const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
    const double filter_scale = std::max(scale, 1.0);
    const double support = 1.0 * filter_scale;  // the triangle's support is 1
    AxisTaps taps;
    taps.start.resize(static_cast<std::size_t>(count));
    taps.w.resize(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
        const double center = (first + i + 0.5) * scale;
        int lo = static_cast<int>(center - support + 0.5);
        lo = std::max(lo, 0);
        int hi = static_cast<int>(center + support + 0.5);
        hi = std::min(hi, in_size);
        std::vector<double> w;
        double sum = 0.0;
        for (int x = lo; x < hi; ++x) {
            const double t = std::fabs((x - center + 0.5) / filter_scale);
            const double k = t < 1.0 ? 1.0 - t : 0.0;
            w.push_back(k);
            sum += k;
        }
        if (sum > 0.0) {
            for (double& k : w) k /= sum;
        }
        taps.start[static_cast<std::size_t>(i)] = lo;
        taps.w[static_cast<std::size_t>(i)] = std::move(w);
    }
    return taps;
}

std::uint8_t round_clip8(double v) {
    v = std::floor(v + 0.5);
    return static_cast<std::uint8_t>(v < 0.0 ? 0.0 : (v > 255.0 ? 255.0 : v));
}

}  // namespace

Image apply_exif_orientation(Image stored, int orientation) {
    if (orientation < 2 || orientation > 8) {
        return stored;
    }
    const int w = stored.width;
    const int h = stored.height;
    const int c = stored.channels;
    const bool swap = orientation >= 5;
    Image out;
    out.width = swap ? h : w;
    out.height = swap ? w : h;
    out.channels = c;
    out.pixels.resize(stored.pixels.size());
    // For every displayed pixel (x, y), the stored pixel it shows.
    for (int y = 0; y < out.height; ++y) {
        for (int x = 0; x < out.width; ++x) {
            int sx = x;
            int sy = y;
            switch (orientation) {
                case 2:  // mirrored left-right
                    sx = w - 1 - x;
                    break;
                case 3:  // rotated 180°
                    sx = w - 1 - x;
                    sy = h - 1 - y;
                    break;
                case 4:  // mirrored top-bottom
                    sy = h - 1 - y;
                    break;
                case 5:  // transposed: stored row 0 is the left column, stored column 0 the top row
                    sx = y;
                    sy = x;
                    break;
                case 6:  // turned: needs 90° clockwise
                    sx = y;
                    sy = h - 1 - x;
                    break;
                case 7:  // transversed: stored row 0 is the right column, stored column 0 the bottom row
                    sx = w - 1 - y;
                    sy = h - 1 - x;
                    break;
                case 8:  // turned: needs 90° counter-clockwise
                    sx = w - 1 - y;
                    sy = x;
                    break;
                default:
                    break;
            }
            const std::uint8_t* s = stored.pixels.data() + idx(sx, sy, w, c);
            std::copy(s, s + c, out.pixels.data() + idx(x, y, out.width, c));
        }
    }
    return out;
}

float linear_to_srgb(float linear) noexcept {
    if (!(linear > 0.f)) return 0.f;  // also NaN
    if (linear >= 1.f) return 1.f;
    if (linear <= 0.0031308f) return 12.92f * linear;
    return 1.055f * std::pow(linear, 1.f / 2.4f) - 0.055f;
}

Image resample_bilinear_window(const Image& image, int resized_width, int resized_height, int left, int top, int width,
                               int height) {
    const int c = image.channels;
    const AxisTaps tx = bilinear_taps(image.width, resized_width, left, width);
    const AxisTaps ty = bilinear_taps(image.height, resized_height, top, height);
    // Input rows the vertical pass needs.
    int row_lo = image.height;
    int row_hi = 0;
    for (int j = 0; j < height; ++j) {
        const auto ju = static_cast<std::size_t>(j);
        row_lo = std::min(row_lo, ty.start[ju]);
        row_hi = std::max(row_hi, ty.start[ju] + static_cast<int>(ty.w[ju].size()));
    }
    row_hi = std::max(row_hi, row_lo);
    // Horizontal pass into an 8-bit intermediate (as PIL does for 8-bit images).
    const int rows = row_hi - row_lo;
    std::vector<std::uint8_t> mid(static_cast<std::size_t>(rows) * static_cast<std::size_t>(width) *
                                  static_cast<std::size_t>(c));
    std::vector<double> acc(static_cast<std::size_t>(c));
    for (int y = 0; y < rows; ++y) {
        for (int i = 0; i < width; ++i) {
            const auto iu = static_cast<std::size_t>(i);
            std::fill(acc.begin(), acc.end(), 0.0);
            const auto& w = tx.w[iu];
            for (std::size_t k = 0; k < w.size(); ++k) {
                const std::uint8_t* s =
                    image.pixels.data() + idx(tx.start[iu] + static_cast<int>(k), row_lo + y, image.width, c);
                for (int ch = 0; ch < c; ++ch) acc[static_cast<std::size_t>(ch)] += w[k] * s[ch];
            }
            std::uint8_t* d = mid.data() + idx(i, y, width, c);
            for (int ch = 0; ch < c; ++ch) d[ch] = round_clip8(acc[static_cast<std::size_t>(ch)]);
        }
    }
    // Vertical pass.
    Image out;
    out.width = width;
    out.height = height;
    out.channels = c;
    out.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * static_cast<std::size_t>(c));
    for (int j = 0; j < height; ++j) {
        const auto ju = static_cast<std::size_t>(j);
        const auto& w = ty.w[ju];
        for (int i = 0; i < width; ++i) {
            std::fill(acc.begin(), acc.end(), 0.0);
            for (std::size_t k = 0; k < w.size(); ++k) {
                const std::uint8_t* s = mid.data() + idx(i, ty.start[ju] + static_cast<int>(k) - row_lo, width, c);
                for (int ch = 0; ch < c; ++ch) acc[static_cast<std::size_t>(ch)] += w[k] * s[ch];
            }
            std::uint8_t* d = out.pixels.data() + idx(i, j, width, c);
            for (int ch = 0; ch < c; ++ch) d[ch] = round_clip8(acc[static_cast<std::size_t>(ch)]);
        }
    }
    return out;
}

}  // namespace media

Image flatten_alpha(const Image& image, std::uint8_t background) {
    if (!image.is_consistent() || image.channels == 3) {
        return image;
    }
    Image out;
    out.width = image.width;
    out.height = image.height;
    out.channels = 3;
    const std::size_t n = static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height);
    out.pixels.resize(n * 3);
    const unsigned bg = background;
    for (std::size_t i = 0; i < n; ++i) {
        std::uint8_t* d = out.pixels.data() + i * 3;
        if (image.channels == 1) {
            d[0] = d[1] = d[2] = image.pixels[i];
            continue;
        }
        const std::uint8_t* s = image.pixels.data() + i * 4;
        const unsigned a = s[3];
        for (int ch = 0; ch < 3; ++ch) {
            // Straight alpha over an opaque background, rounded: (c·a + bg·(255 − a)) / 255.
            d[ch] = static_cast<std::uint8_t>((s[ch] * a + bg * (255u - a) + 127u) / 255u);
        }
    }
    return out;
}

Expected<Image> resize_cover(const Image& image, int width, int height) {
    if (!image.is_consistent()) {
        return make_error(ErrorCode::InvalidRequest,
                          "resize_cover: the image is empty or its buffer does not match its size.");
    }
    if (width <= 0 || height <= 0) {
        return make_error(ErrorCode::InvalidRequest, "resize_cover: the target size " + std::to_string(width) + "x" +
                                                         std::to_string(height) + " is not positive.");
    }
    const auto w = static_cast<std::int64_t>(image.width);
    const auto h = static_cast<std::int64_t>(image.height);
    // The edge that binds is the one whose scale factor is larger; the other edge is int(target * other / this),
    // the rounding torchvision's Resize uses.
    int resized_w = width;
    int resized_h = height;
    if (w * height >= static_cast<std::int64_t>(width) * h) {  // relatively wider: the height binds
        resized_h = height;
        resized_w =
            static_cast<int>(static_cast<double>(static_cast<std::int64_t>(height) * w) / static_cast<double>(h));
        resized_w = std::max(resized_w, width);
    } else {
        resized_w = width;
        resized_h =
            static_cast<int>(static_cast<double>(static_cast<std::int64_t>(width) * h) / static_cast<double>(w));
        resized_h = std::max(resized_h, height);
    }
    // CenterCrop: int(round((in - out) / 2.0)) with round-half-even (std::nearbyint in the default mode).
    const int left = static_cast<int>(std::nearbyint((resized_w - width) / 2.0));
    const int top = static_cast<int>(std::nearbyint((resized_h - height) / 2.0));
    return media::resample_bilinear_window(image, resized_w, resized_h, left, top, width, height);
}

Expected<Image> prepare_conditioning_image(const Image& image, int width, int height) {
    if (!image.is_consistent()) {
        return make_error(ErrorCode::InvalidRequest,
                          "The conditioning image is empty or damaged; load a picture first.");
    }
    return resize_cover(flatten_alpha(image, 255), width, height);
}

}  // namespace engine
