// Image preparation for image-to-video: alpha flattening and the "cover" resize + centre crop.
//
// The reference below re-implements what DynamiCrafter's preprocessing does on a PIL image
// (torchvision Resize(min(H, W)) → PIL resize BILINEAR, then CenterCrop((H, W))) straight from the
// definitions: the whole picture is resized with the short side rule, then cropped. The code under test
// resamples only the window it keeps and picks the binding edge itself, so the two only agree when
// both the sizes and the filter are right.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/media_io.h"

namespace {

using engine::Image;

// Output value of a 1-D PIL BILINEAR resize at position i: triangle weights over the input samples,
// support widened by the downscale factor, normalised.
std::vector<double> bilinear_row(const std::vector<double>& in, int out_size) {
    const int n = static_cast<int>(in.size());
    const double scale = static_cast<double>(n) / out_size;
    const double fs = std::max(1.0, scale);
    std::vector<double> out(static_cast<std::size_t>(out_size));
    for (int i = 0; i < out_size; ++i) {
        const double centre = (i + 0.5) * scale;
        double acc = 0, norm = 0;
        // Every sample the triangle can reach (one extra on each side, which gets weight 0).
        const int j0 = std::max(0, static_cast<int>(std::floor(centre - fs)) - 1);
        const int j1 = std::min(n, static_cast<int>(std::ceil(centre + fs)) + 1);
        for (int j = j0; j < j1; ++j) {
            const double wgt = std::max(0.0, 1.0 - std::fabs(j + 0.5 - centre) / fs);
            acc += wgt * in[static_cast<std::size_t>(j)];
            norm += wgt;
        }
        out[static_cast<std::size_t>(i)] = acc / norm;
    }
    return out;
}

double round8(double v) {
    return std::clamp(std::floor(v + 0.5), 0.0, 255.0);
}

// PIL: horizontal pass into an 8-bit image, then the vertical pass.
Image pil_resize(const Image& src, int w, int h) {
    const int c = src.channels;
    std::vector<double> mid(static_cast<std::size_t>(w * src.height * c));
    for (int y = 0; y < src.height; ++y) {
        for (int k = 0; k < c; ++k) {
            std::vector<double> row(static_cast<std::size_t>(src.width));
            for (int x = 0; x < src.width; ++x)
                row[static_cast<std::size_t>(x)] = src.pixels[(static_cast<std::size_t>(y) * src.width + x) * c + k];
            const auto r = bilinear_row(row, w);
            for (int x = 0; x < w; ++x)
                mid[(static_cast<std::size_t>(y) * w + x) * c + k] = round8(r[static_cast<std::size_t>(x)]);
        }
    }
    Image out{w, h, c, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * c))};
    for (int x = 0; x < w; ++x) {
        for (int k = 0; k < c; ++k) {
            std::vector<double> col(static_cast<std::size_t>(src.height));
            for (int y = 0; y < src.height; ++y)
                col[static_cast<std::size_t>(y)] = mid[(static_cast<std::size_t>(y) * w + x) * c + k];
            const auto r = bilinear_row(col, h);
            for (int y = 0; y < h; ++y)
                out.pixels[(static_cast<std::size_t>(y) * w + x) * c + k] =
                    static_cast<std::uint8_t>(round8(r[static_cast<std::size_t>(y)]));
        }
    }
    return out;
}

// Python's round() on x.5 goes to the even neighbour.
int py_round(double v) {
    const double f = std::floor(v);
    const double d = v - f;
    if (d > 0.5) return static_cast<int>(f) + 1;
    if (d < 0.5) return static_cast<int>(f);
    return (static_cast<long long>(f) % 2 == 0) ? static_cast<int>(f) : static_cast<int>(f) + 1;
}

Image crop(const Image& src, int left, int top, int w, int h) {
    Image out{w, h, src.channels, {}};
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            for (int k = 0; k < src.channels; ++k) {
                out.pixels.push_back(
                    src.pixels[(static_cast<std::size_t>(y + top) * src.width + (x + left)) * src.channels + k]);
            }
        }
    }
    return out;
}

// torchvision: Resize(min(H, W)) then CenterCrop((H, W)); only valid where no padding is needed.
Image torchvision_reference(const Image& src, int W, int H) {
    const int size = std::min(W, H);
    const int short_side = std::min(src.width, src.height), long_side = std::max(src.width, src.height);
    const int new_long = static_cast<int>(static_cast<double>(size) * long_side / short_side);
    const int rw = src.width <= src.height ? size : new_long;
    const int rh = src.width <= src.height ? new_long : size;
    REQUIRE(rw >= W);
    REQUIRE(rh >= H);
    const Image resized = pil_resize(src, rw, rh);
    return crop(resized, py_round((rw - W) / 2.0), py_round((rh - H) / 2.0), W, H);
}

Image photo_like(int w, int h, int channels) {
    Image img{w, h, channels, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * channels))};
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            for (int k = 0; k < channels; ++k) {
                const double v =
                    128 + 60 * std::sin(x * 0.07 + k) * std::cos(y * 0.05) + 50 * std::sin((x + 2 * y) * 0.31 + k);
                img.pixels[(static_cast<std::size_t>(y) * w + x) * channels + k] =
                    static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
            }
        }
    }
    return img;
}

int max_diff(const Image& a, const Image& b) {
    REQUIRE(a.pixels.size() == b.pixels.size());
    int m = 0;
    for (std::size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
    return m;
}

}  // namespace

TEST_CASE("flatten_alpha: straight alpha over white (or another grey), rounded", "[media]") {
    Image rgba{256, 1, 4, {}};
    for (int a = 0; a < 256; ++a) {
        rgba.pixels.insert(rgba.pixels.end(), {200, 17, 90, static_cast<std::uint8_t>(a)});
    }
    for (int bg : {255, 0, 128}) {
        const Image out = engine::flatten_alpha(rgba, static_cast<std::uint8_t>(bg));
        REQUIRE(out.channels == 3);
        REQUIRE(out.is_consistent());
        for (int a = 0; a < 256; ++a) {
            const int src[3] = {200, 17, 90};
            for (int k = 0; k < 3; ++k) {
                const double expected = std::floor(src[k] * a / 255.0 + bg * (255 - a) / 255.0 + 0.5);
                INFO("alpha " << a << " background " << bg);
                REQUIRE(int(out.pixels[static_cast<std::size_t>(a) * 3 + k]) == int(expected));
            }
        }
    }
    const Image grey{2, 1, 1, {7, 250}};
    CHECK(engine::flatten_alpha(grey).pixels == std::vector<std::uint8_t>{7, 7, 7, 250, 250, 250});
    const Image rgb{1, 1, 3, {1, 2, 3}};
    CHECK(engine::flatten_alpha(rgb).pixels == rgb.pixels);
}

TEST_CASE("resize_cover: matches torchvision Resize + CenterCrop on PIL where that needs no padding", "[media]") {
    struct Case {
        int src_w, src_h, w, h;
    };
    for (const Case c : {Case{1000, 400, 512, 320}, Case{300, 600, 320, 512}, Case{777, 777, 512, 512},
                         Case{100, 50, 512, 320}, Case{1023, 511, 256, 256}, Case{643, 401, 512, 320}}) {
        INFO(c.src_w << "x" << c.src_h << " -> " << c.w << "x" << c.h);
        const Image src = photo_like(c.src_w, c.src_h, 3);
        auto out = engine::resize_cover(src, c.w, c.h);
        REQUIRE(out);
        REQUIRE(out->width == c.w);
        REQUIRE(out->height == c.h);
        REQUIRE(out->channels == 3);
        const int d = max_diff(*out, torchvision_reference(src, c.w, c.h));
        WARN(c.src_w << "x" << c.src_h << " -> " << c.w << "x" << c.h << ": max abs diff to the reference " << d);
        CHECK(d <= 1);  // the reference sums in a different order: a rounding tie may land one level apart
    }
}

TEST_CASE("resize_cover: a 2x downscale is PIL's [1 3 3 1]/8 bilinear kernel", "[media]") {
    // Varies along x only, so the vertical pass (also 2x) leaves each column's value unchanged.
    Image src{64, 8, 1, std::vector<std::uint8_t>(64 * 8)};
    for (int y = 0; y < 8; ++y) {
        for (int x = 0; x < 64; ++x)
            src.pixels[static_cast<std::size_t>(y) * 64 + x] = static_cast<std::uint8_t>((x * 97) % 256);
    }
    auto out = engine::resize_cover(src, 32, 4);
    REQUIRE(out);
    REQUIRE(out->channels == 1);
    for (int i = 1; i < 31; ++i) {
        const auto p = [&](int x) { return double(src.pixels[static_cast<std::size_t>(x)]); };
        const double expected = std::floor((p(2 * i - 1) + 3 * p(2 * i) + 3 * p(2 * i + 1) + p(2 * i + 2)) / 8.0 + 0.5);
        for (int y = 0; y < 4; ++y) {
            INFO("x " << i << " y " << y);
            CHECK(int(out->pixels[static_cast<std::size_t>(y) * 32 + i]) == int(expected));
        }
    }
}

TEST_CASE("resize_cover: covers where the reference would pad with black", "[media]") {
    // 4:3 into 16:10: torchvision's Resize(320) gives 426x320 and CenterCrop(320x512) pads 43 columns of
    // zeros on each side. Cover scales to 512x384 instead and crops 32 rows at the top and bottom.
    const Image src = photo_like(640, 480, 3);
    auto out = engine::resize_cover(src, 512, 320);
    REQUIRE(out);
    const Image expected = crop(pil_resize(src, 512, 384), 0, 32, 512, 320);
    CHECK(max_diff(*out, expected) <= 1);
    // A white picture stays white everywhere: no bars.
    Image white{300, 300, 3, std::vector<std::uint8_t>(300 * 300 * 3, 255)};
    auto w = engine::resize_cover(white, 512, 320);
    REQUIRE(w);
    CHECK(*std::min_element(w->pixels.begin(), w->pixels.end()) == 255);
}

TEST_CASE("resize_cover and prepare_conditioning_image: channels, alpha, errors", "[media]") {
    const Image rgba = photo_like(90, 60, 4);
    auto r = engine::resize_cover(rgba, 30, 30);
    REQUIRE(r);
    CHECK(r->channels == 4);
    Image clear{40, 20, 4, std::vector<std::uint8_t>(40 * 20 * 4, 0)};  // fully transparent black
    auto cond = engine::prepare_conditioning_image(clear, 16, 16);
    REQUIRE(cond);
    CHECK(cond->channels == 3);
    CHECK(cond->width == 16);
    CHECK(*std::min_element(cond->pixels.begin(), cond->pixels.end()) == 255);  // on white
    CHECK_FALSE(engine::resize_cover(Image{}, 16, 16));
    CHECK(engine::resize_cover(rgba, 0, 16).error().code == engine::ErrorCode::InvalidRequest);
    CHECK_FALSE(engine::prepare_conditioning_image(Image{3, 3, 3, {1, 2}}, 16, 16));
}
