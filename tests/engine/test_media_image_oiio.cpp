// Image input and PNG output with OpenImageIO. Every test image is made here with OIIO's writers (then
// read back through engine::read_image), and pixels are checked against values computed in the test.
#include <catch2/catch.hpp>

#include <OpenImageIO/imageio.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/media_io.h"
#include "media/png_encoder.h"

namespace {

using engine::Image;

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/kinora_image_XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::size_t pixel_at(int x, int y, int w, int c) {
    return (static_cast<std::size_t>(y) * w + x) * c;
}

// Writes pixels with OIIO as a file of the given type; extra attributes as (name, value) pairs.
template <typename T>
void write_with_oiio(const std::string& path, int w, int h, int nch, OIIO::TypeDesc type, const std::vector<T>& px,
                     std::vector<std::pair<std::string, int>> int_attrs = {},
                     std::vector<std::pair<std::string, std::string>> str_attrs = {}) {
    auto out = OIIO::ImageOutput::create(path);
    REQUIRE(out);
    OIIO::ImageSpec spec(w, h, nch, type);
    for (const auto& [k, v] : int_attrs) spec.attribute(k, v);
    for (const auto& [k, v] : str_attrs) spec.attribute(k, v);
    REQUIRE(out->open(path, spec));
    const OIIO::TypeDesc data_type = std::is_same_v<T, float>           ? OIIO::TypeDesc::FLOAT
                                     : std::is_same_v<T, std::uint16_t> ? OIIO::TypeDesc::UINT16
                                                                        : OIIO::TypeDesc::UINT8;
    REQUIRE(out->write_image(data_type, px.data()));
    REQUIRE(out->close());
}

// A picture with structure in both directions (every pixel different).
std::vector<std::uint8_t> pattern_rgb(int w, int h) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * 3));
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            px[pixel_at(x, y, w, 3)] = static_cast<std::uint8_t>((x * 255) / std::max(1, w - 1));
            px[pixel_at(x, y, w, 3) + 1] = static_cast<std::uint8_t>((y * 255) / std::max(1, h - 1));
            px[pixel_at(x, y, w, 3) + 2] = static_cast<std::uint8_t>((x * 7 + y * 13) % 256);
        }
    }
    return px;
}

// Smooth gradients only: what lossy codecs (JPEG, lossy WebP) handle well.
std::vector<std::uint8_t> smooth_rgb(int w, int h) {
    std::vector<std::uint8_t> px(static_cast<std::size_t>(w * h * 3));
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            px[pixel_at(x, y, w, 3)] = static_cast<std::uint8_t>(40 + (x * 170) / (w - 1));
            px[pixel_at(x, y, w, 3) + 1] = static_cast<std::uint8_t>(30 + (y * 190) / (h - 1));
            px[pixel_at(x, y, w, 3) + 2] = static_cast<std::uint8_t>(200 - ((x + y) * 150) / (w + h - 2));
        }
    }
    return px;
}

std::string fixture(const std::string& name) {
    if (const char* src = std::getenv("KINORA_SOURCE_DIR"); src != nullptr && *src != '\0') {
        return std::string(src) + "/tests/fixtures/media/" + name;
    }
    const std::string here = __FILE__;
    return here.substr(0, here.rfind("/engine/")) + "/fixtures/media/" + name;
}

int max_diff(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    REQUIRE(a.size() == b.size());
    int m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
    return m;
}

std::string file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// CRC-32 (PNG chunks), computed bit by bit.
std::uint32_t crc32_png(const std::string& bytes) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : bytes) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

// The tEXt chunks of a PNG, parsed from its bytes.
std::vector<std::pair<std::string, std::string>> png_text_chunks(const std::string& b) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t p = 8;
    while (p + 12 <= b.size()) {
        const std::uint32_t n = (std::uint32_t(static_cast<unsigned char>(b[p])) << 24) |
                                (std::uint32_t(static_cast<unsigned char>(b[p + 1])) << 16) |
                                (std::uint32_t(static_cast<unsigned char>(b[p + 2])) << 8) |
                                std::uint32_t(static_cast<unsigned char>(b[p + 3]));
        const std::string type = b.substr(p + 4, 4);
        if (type == "tEXt") {
            const std::string data = b.substr(p + 8, n);
            const auto z = data.find('\0');
            out.emplace_back(data.substr(0, z), data.substr(z + 1));
        }
        p += 12 + n;
    }
    return out;
}

// The stored image that displays as `upright` under an EXIF orientation, from the TIFF/EXIF definition
// of the tag: "the 0th row represents the visual <side>, the 0th column the visual <side>". Forward
// mapping (stored → displayed position), unlike the reader's displayed → stored lookup. (OIIO 2.4's
// ImageBufAlgo::reorient has 5 and 7 swapped, OpenImageIO issue #4661, so it cannot be the reference.)
std::vector<std::uint8_t> stored_for(const std::vector<std::uint8_t>& upright, int w, int h, int orientation, int& sw,
                                     int& sh) {
    const bool swap = orientation >= 5;
    sw = swap ? h : w;
    sh = swap ? w : h;
    std::vector<std::uint8_t> out(static_cast<std::size_t>(w * h * 3));
    for (int sy = 0; sy < sh; ++sy) {
        for (int sx = 0; sx < sw; ++sx) {
            int dx = sx, dy = sy;
            switch (orientation) {
                case 2:  // row 0 top, column 0 right
                    dx = w - 1 - sx;
                    break;
                case 3:  // row 0 bottom, column 0 right
                    dx = w - 1 - sx;
                    dy = h - 1 - sy;
                    break;
                case 4:  // row 0 bottom, column 0 left
                    dy = h - 1 - sy;
                    break;
                case 5:  // row 0 left, column 0 top
                    dx = sy;
                    dy = sx;
                    break;
                case 6:  // row 0 right, column 0 top
                    dx = w - 1 - sy;
                    dy = sx;
                    break;
                case 7:  // row 0 right, column 0 bottom
                    dx = w - 1 - sy;
                    dy = h - 1 - sx;
                    break;
                case 8:  // row 0 left, column 0 bottom
                    dx = sy;
                    dy = h - 1 - sx;
                    break;
                default:
                    break;
            }
            for (int k = 0; k < 3; ++k) out[pixel_at(sx, sy, sw, 3) + k] = upright[pixel_at(dx, dy, w, 3) + k];
        }
    }
    return out;
}

}  // namespace

TEST_CASE("read_image: PNG 8-bit RGB and grey come back exactly", "[media]") {
    TempDir dir;
    const auto rgb = pattern_rgb(37, 23);
    write_with_oiio(dir / "rgb.png", 37, 23, 3, OIIO::TypeDesc::UINT8, rgb);
    auto img = engine::read_image(dir / "rgb.png");
    REQUIRE(img);
    CHECK(img->width == 37);
    CHECK(img->height == 23);
    CHECK(img->channels == 3);
    CHECK(img->pixels == rgb);

    std::vector<std::uint8_t> grey(37 * 23);
    for (std::size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<std::uint8_t>(i * 11);
    write_with_oiio(dir / "grey.png", 37, 23, 1, OIIO::TypeDesc::UINT8, grey);
    auto g = engine::read_image(dir / "grey.png");
    REQUIRE(g);
    REQUIRE(g->channels == 3);
    for (std::size_t i = 0; i < grey.size(); ++i) {
        REQUIRE(g->pixels[i * 3] == grey[i]);
        REQUIRE(g->pixels[i * 3 + 1] == grey[i]);
        REQUIRE(g->pixels[i * 3 + 2] == grey[i]);
    }
}

TEST_CASE("read_image: straight alpha is kept exactly (PNG RGBA, grey+alpha, TIFF)", "[media]") {
    TempDir dir;
    const int w = 16, h = 16;
    std::vector<std::uint8_t> rgba(w * h * 4);
    for (int i = 0; i < w * h; ++i) {
        rgba[static_cast<std::size_t>(i) * 4] = static_cast<std::uint8_t>(200 - i % 50);
        rgba[static_cast<std::size_t>(i) * 4 + 1] = static_cast<std::uint8_t>(i % 256);
        rgba[static_cast<std::size_t>(i) * 4 + 2] = 50;
        rgba[static_cast<std::size_t>(i) * 4 + 3] = static_cast<std::uint8_t>((i * 37) % 256);  // includes 0
    }
    for (const char* name : {"a.png", "a.tif"}) {
        write_with_oiio(dir / name, w, h, 4, OIIO::TypeDesc::UINT8, rgba, {{"oiio:UnassociatedAlpha", 1}});
        auto img = engine::read_image(dir / name);
        REQUIRE(img);
        CHECK(img->channels == 4);
        INFO(name);
        CHECK(img->pixels == rgba);
    }
    std::vector<std::uint8_t> ga(w * h * 2);
    for (int i = 0; i < w * h; ++i) {
        ga[static_cast<std::size_t>(i) * 2] = static_cast<std::uint8_t>(i);
        ga[static_cast<std::size_t>(i) * 2 + 1] = static_cast<std::uint8_t>(255 - i);
    }
    write_with_oiio(dir / "ga.png", w, h, 2, OIIO::TypeDesc::UINT8, ga, {{"oiio:UnassociatedAlpha", 1}});
    auto img = engine::read_image(dir / "ga.png");
    REQUIRE(img);
    REQUIRE(img->channels == 4);
    for (int i = 0; i < w * h; ++i) {
        const auto u = static_cast<std::size_t>(i);
        REQUIRE(img->pixels[u * 4] == ga[u * 2]);
        REQUIRE(img->pixels[u * 4 + 2] == ga[u * 2]);
        REQUIRE(img->pixels[u * 4 + 3] == ga[u * 2 + 1]);
    }
}

TEST_CASE("read_image: premultiplied sources (associated-alpha TIFF, EXR) come back straight", "[media]") {
    TempDir dir;
    // TIFF written without the unassociated hint: OIIO stores it as associated (premultiplied) alpha.
    const int w = 8, h = 8;
    std::vector<std::uint8_t> premult(w * h * 4);
    std::vector<std::array<int, 4>> straight;
    for (int i = 0; i < w * h; ++i) {
        const int a = 40 + i * 3;
        const int c[3] = {250, 128, 10};
        for (int k = 0; k < 3; ++k)
            premult[static_cast<std::size_t>(i) * 4 + k] = static_cast<std::uint8_t>(std::lround(c[k] * a / 255.0));
        premult[static_cast<std::size_t>(i) * 4 + 3] = static_cast<std::uint8_t>(a);
        straight.push_back({c[0], c[1], c[2], a});
    }
    write_with_oiio(dir / "assoc.tif", w, h, 4, OIIO::TypeDesc::UINT8, premult);
    auto img = engine::read_image(dir / "assoc.tif");
    REQUIRE(img);
    REQUIRE(img->channels == 4);
    int worst = 0;
    for (int i = 0; i < w * h; ++i) {
        const auto u = static_cast<std::size_t>(i);
        // Premultiplying rounded each colour to 1/a of a level: unpremultiplying can be that far off.
        const double tol = 0.5 * 255.0 / straight[u][3] + 0.5;
        for (int k = 0; k < 3; ++k) {
            const int d = std::abs(int(img->pixels[u * 4 + k]) - straight[u][static_cast<std::size_t>(k)]);
            worst = std::max(worst, d);
            REQUIRE(d <= tol);
        }
        REQUIRE(int(img->pixels[u * 4 + 3]) == straight[u][3]);
    }
    WARN("associated TIFF: max colour error after unpremultiplying " << worst);

    // EXR: linear, premultiplied by convention; values above 1 are clipped.
    std::vector<float> exr;
    std::vector<std::array<int, 4>> expected;
    const float lin[] = {0.0f, 0.001f, 0.0031308f, 0.01f, 0.18f, 0.5f, 1.0f, 4.0f};
    for (int i = 0; i < 8; ++i) {
        const float a = i == 7 ? 1.f : 0.25f + 0.1f * i;
        const float c[3] = {lin[i], lin[7 - i], 0.18f};
        for (float v : c) exr.push_back(v * a);
        exr.push_back(a);
        std::array<int, 4> e{};
        for (int k = 0; k < 3; ++k) {
            // IEC 61966-2-1 sRGB encoding, clipped.
            const double l = std::clamp(double(c[k]), 0.0, 1.0);
            const double s = l <= 0.0031308 ? 12.92 * l : 1.055 * std::pow(l, 1 / 2.4) - 0.055;
            e[static_cast<std::size_t>(k)] = static_cast<int>(std::lround(s * 255));
        }
        e[3] = static_cast<int>(std::lround(a * 255));
        expected.push_back(e);
    }
    for (OIIO::TypeDesc type : {OIIO::TypeDesc(OIIO::TypeDesc::FLOAT), OIIO::TypeDesc(OIIO::TypeDesc::HALF)}) {
        write_with_oiio(dir / "lin.exr", 8, 1, 4, type, exr);  // converted from our float buffer by OIIO
        auto e = engine::read_image(dir / "lin.exr");
        REQUIRE(e);
        REQUIRE(e->channels == 4);
        for (int i = 0; i < 8; ++i) {
            for (int k = 0; k < 4; ++k) {
                INFO("pixel " << i << " channel " << k << " type " << type.c_str());
                // half floats carry 11 significant bits: one 8-bit level of slack.
                CHECK(std::abs(int(e->pixels[static_cast<std::size_t>(i) * 4 + k]) -
                               expected[static_cast<std::size_t>(i)][static_cast<std::size_t>(k)]) <= 1);
            }
        }
    }
}

TEST_CASE("read_image: 16-bit and float sources are rounded to 8 bits", "[media]") {
    TempDir dir;
    const int w = 64, h = 4;
    std::vector<std::uint16_t> px16(w * h * 3);
    for (std::size_t i = 0; i < px16.size(); ++i) px16[i] = static_cast<std::uint16_t>((i * 997) % 65536);
    for (const char* name : {"a16.png", "a16.tif"}) {
        write_with_oiio(dir / name, w, h, 3, OIIO::TypeDesc::UINT16, px16);
        auto img = engine::read_image(dir / name);
        REQUIRE(img);
        for (std::size_t i = 0; i < px16.size(); ++i) {
            INFO(name << " sample " << i << " = " << px16[i]);
            REQUIRE(int(img->pixels[i]) == static_cast<int>(std::lround(px16[i] * 255.0 / 65535.0)));
        }
    }
    // A float TIFF is display-referred unless tagged linear: clipped and rounded, no transfer.
    std::vector<float> pxf = {-0.5f, 0.0f, 0.2f, 0.5f, 0.999f, 1.5f};
    write_with_oiio(dir / "f.tif", 2, 1, 3, OIIO::TypeDesc::FLOAT, pxf);
    auto f = engine::read_image(dir / "f.tif");
    REQUIRE(f);
    const std::vector<std::uint8_t> expect = {0, 0, 51, 128, 255, 255};
    CHECK(f->pixels == expect);
}

TEST_CASE("read_image: JPEG and WebP within their compression error", "[media]") {
    TempDir dir;
    const int w = 64, h = 48;
    const auto rgb = smooth_rgb(w, h);
    write_with_oiio(dir / "a.jpg", w, h, 3, OIIO::TypeDesc::UINT8, rgb, {{"CompressionQuality", 100}});
    auto j = engine::read_image(dir / "a.jpg");
    REQUIRE(j);
    CHECK(j->width == w);
    CHECK(j->channels == 3);
    const int dj = max_diff(j->pixels, rgb);
    WARN("JPEG quality 100, smooth gradients: max abs diff " << dj);
    CHECK(dj <= 6);

    write_with_oiio(dir / "a.webp", w, h, 3, OIIO::TypeDesc::UINT8, rgb);
    auto wp = engine::read_image(dir / "a.webp");
    REQUIRE(wp);
    CHECK(wp->channels == 3);
    const int dw = max_diff(wp->pixels, rgb);
    WARN("WebP (OIIO writes lossy, quality 100), smooth gradients: max abs diff " << dw);
    CHECK(dw <= 8);
}

TEST_CASE("read_image: WebP alpha comes back straight (OIIO premultiplies it on reading)", "[media]") {
    const std::string path = fixture("alpha_lossless.webp");
    INFO(path);
    auto img = engine::read_image(path);
    REQUIRE(img);
    REQUIRE(img->width == 64);
    REQUIRE(img->height == 32);
    REQUIRE(img->channels == 4);
    const int colours[4][4] = {{200, 100, 50, 255}, {30, 180, 220, 192}, {250, 250, 20, 128}, {90, 40, 160, 32}};
    int worst = 0;
    for (int y = 0; y < 32; ++y) {
        for (int x = 0; x < 64; ++x) {
            const int* c = colours[x / 16];
            const std::size_t p = pixel_at(x, y, 64, 4);
            REQUIRE(int(img->pixels[p + 3]) == c[3]);
            // OIIO premultiplies in 8 bits: undoing it is exact to half a level times 255/alpha.
            const double tol = 0.5 * 255.0 / c[3] + 0.5;
            for (int k = 0; k < 3; ++k) {
                const int d = std::abs(int(img->pixels[p + k]) - c[k]);
                worst = std::max(worst, d);
                REQUIRE(d <= tol);
            }
        }
    }
    WARN("lossless WebP with alpha 255/192/128/32: max colour error " << worst);
}

TEST_CASE("read_image: all eight EXIF orientations are turned upright", "[media]") {
    TempDir dir;
    const int w = 24, h = 16;
    // Lossless (TIFF): exact. Four 12x8 quadrants of flat colour plus a gradient, so any mistake shows.
    std::vector<std::uint8_t> upright(w * h * 3);
    const std::array<std::array<int, 3>, 4> quad = {{{220, 30, 30}, {30, 200, 40}, {40, 50, 210}, {230, 220, 40}}};
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            const auto& c = quad[static_cast<std::size_t>((y >= h / 2) * 2 + (x >= w / 2))];
            for (int k = 0; k < 3; ++k)
                upright[pixel_at(x, y, w, 3) + k] =
                    static_cast<std::uint8_t>(c[static_cast<std::size_t>(k)] - (x + y) % 7);
        }
    }
    for (int o = 1; o <= 8; ++o) {
        int sw = 0, sh = 0;
        const auto stored = stored_for(upright, w, h, o, sw, sh);
        CHECK(sw == (o >= 5 ? h : w));
        for (const char* ext : {".tif", ".jpg"}) {
            const std::string path = dir / ("o" + std::to_string(o) + ext);
            write_with_oiio(path, sw, sh, 3, OIIO::TypeDesc::UINT8, stored,
                            {{"Orientation", o}, {"CompressionQuality", 100}});
            auto info = engine::read_image_info(path);
            REQUIRE(info);
            CHECK(info->orientation == o);
            CHECK(info->width == w);
            CHECK(info->height == h);
            auto img = engine::read_image(path);
            REQUIRE(img);
            INFO("orientation " << o << ext);
            REQUIRE(img->width == w);
            REQUIRE(img->height == h);
            if (std::string(ext) == ".tif") {
                CHECK(img->pixels == upright);
            } else {
                // JPEG: compare the centres of the quadrants (away from the colour edges).
                for (int q = 0; q < 4; ++q) {
                    const int cx = (q % 2) * 12 + 6, cy = (q / 2) * 8 + 4;
                    for (int k = 0; k < 3; ++k) {
                        CHECK(std::abs(int(img->pixels[pixel_at(cx, cy, w, 3) + k]) -
                                       int(upright[pixel_at(cx, cy, w, 3) + k])) <= 12);
                    }
                }
            }
        }
    }
    // By hand, orientation 6 (camera turned clockwise): the displayed top-left pixel is the stored bottom-left.
    std::vector<std::uint8_t> s(3 * 2 * 3, 0);
    s[pixel_at(0, 1, 3, 3)] = 255;  // stored bottom-left is red
    write_with_oiio(dir / "six.tif", 3, 2, 3, OIIO::TypeDesc::UINT8, s, {{"Orientation", 6}});
    auto six = engine::read_image(dir / "six.tif");
    REQUIRE(six);
    CHECK(six->width == 2);
    CHECK(six->height == 3);
    CHECK(int(six->pixels[0]) == 255);
}

TEST_CASE("read_image: clear errors for missing files, folders, non-images, damaged and huge files", "[media]") {
    TempDir dir;
    auto missing = engine::read_image(dir / "nope.png");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == engine::ErrorCode::IoError);
    CHECK(missing.error().message.find("nope.png") != std::string::npos);

    auto folder = engine::read_image(dir.path);
    REQUIRE_FALSE(folder);
    CHECK(folder.error().code == engine::ErrorCode::InvalidRequest);
    CHECK(folder.error().message.find("folder") != std::string::npos);

    std::ofstream(dir / "text.png") << "this is not a picture\n";
    auto text = engine::read_image(dir / "text.png");
    REQUIRE_FALSE(text);
    CHECK(text.error().code == engine::ErrorCode::InvalidRequest);
    CHECK(text.error().message.find("not an image") != std::string::npos);
    CHECK_FALSE(engine::read_image_info(dir / "text.png"));

    // Truncated JPEG: libjpeg would fill the missing half with grey and only warn.
    const int w = 256, h = 256;
    std::vector<std::uint8_t> noise(w * h * 3);
    std::uint32_t s = 1;
    for (auto& b : noise) {
        s = s * 1664525u + 1013904223u;
        b = static_cast<std::uint8_t>(s >> 24);
    }
    for (const char* name : {"full.jpg", "full.png"}) {
        write_with_oiio(dir / name, w, h, 3, OIIO::TypeDesc::UINT8, noise);
        REQUIRE(engine::read_image(dir / name));
        const std::string bytes = file_bytes(dir / name);
        const std::string cut = std::string("cut_") + name;
        std::ofstream(dir / cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
        auto r = engine::read_image(dir / cut);
        INFO(name);
        REQUIRE_FALSE(r);
        CHECK(r.error().code == engine::ErrorCode::InvalidRequest);
        CHECK(r.error().message.find(cut) != std::string::npos);
        CHECK((r.error().message.find("truncated") != std::string::npos ||
               r.error().message.find("corrupt") != std::string::npos));
    }

    // A PNG whose header claims 30000x30000 (900 megapixels): refused from the header, nothing allocated.
    std::vector<std::uint8_t> tiny(3, 128);
    write_with_oiio(dir / "tiny.png", 1, 1, 3, OIIO::TypeDesc::UINT8, tiny);
    std::string png = file_bytes(dir / "tiny.png");
    REQUIRE(png.substr(12, 4) == "IHDR");
    for (int k = 0; k < 2; ++k) {  // width, height = 30000 (big-endian)
        png[static_cast<std::size_t>(16 + 4 * k)] = 0;
        png[static_cast<std::size_t>(17 + 4 * k)] = 0;
        png[static_cast<std::size_t>(18 + 4 * k)] = static_cast<char>(30000 >> 8);
        png[static_cast<std::size_t>(19 + 4 * k)] = static_cast<char>(30000 & 0xFF);
    }
    const std::uint32_t crc = crc32_png(png.substr(12, 17));
    for (int k = 0; k < 4; ++k) png[static_cast<std::size_t>(29 + k)] = static_cast<char>((crc >> (24 - 8 * k)) & 0xFF);
    std::ofstream(dir / "huge.png", std::ios::binary) << png;
    auto info = engine::read_image_info(dir / "huge.png");
    REQUIRE(info);
    CHECK(info->width == 30000);
    const auto t0 = std::chrono::steady_clock::now();
    auto huge = engine::read_image(dir / "huge.png");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE_FALSE(huge);
    CHECK(huge.error().code == engine::ErrorCode::InvalidRequest);
    CHECK(huge.error().message.find("megapixels") != std::string::npos);
    CHECK(seconds < 1.0);
}

TEST_CASE("read_image: tiny pictures are read; the size is there for the pipeline's minimum check", "[media]") {
    TempDir dir;
    const auto rgb = pattern_rgb(5, 3);
    write_with_oiio(dir / "small.png", 5, 3, 3, OIIO::TypeDesc::UINT8, rgb);
    auto info = engine::read_image_info(dir / "small.png");
    REQUIRE(info);
    CHECK(info->width == 5);
    CHECK(info->height == 3);
    CHECK(info->channels == 3);
    CHECK(info->bits_per_channel == 8);
    CHECK(info->format == "png");
    CHECK_FALSE(info->has_alpha);
    auto img = engine::read_image(dir / "small.png");
    REQUIRE(img);
    CHECK(img->pixels == rgb);
}

TEST_CASE("write_png: straight alpha, text chunks in A1111 and JSON form, read_png_text round trip", "[media]") {
    TempDir dir;
    const engine::ParameterList params = {{"prompt", "a lighthouse, dusk, 35mm"},
                                          {"negative_prompt", "blurry, text"},
                                          {"steps", "20"},
                                          {"sampler", "dpmpp_2m"},
                                          {"guidance_scale", "4.5"},
                                          {"seed", "42"},
                                          {"size", "1024x1024"},
                                          {"model", "Sana_1600M_1024px"},
                                          {"flow_shift", "3"}};
    Image img{9, 7, 4, std::vector<std::uint8_t>(9 * 7 * 4)};
    for (std::size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<std::uint8_t>((i * 29) % 256);
    const std::string path = dir / "out.png";
    REQUIRE(engine::write_png(path, img, params));
    // Pixels: straight alpha survives exactly (OIIO would otherwise divide by alpha on write).
    auto back = engine::read_image(path);
    REQUIRE(back);
    CHECK(back->pixels == img.pixels);
    // The A1111 "parameters" chunk, as A1111 writes it: prompt, negative prompt line, "Key: value" list.
    const std::string a1111 =
        "a lighthouse, dusk, 35mm\nNegative prompt: blurry, text\nSteps: 20, Sampler: dpmpp_2m, CFG scale: 4.5, "
        "Seed: 42, Size: 1024x1024, Model: Sana_1600M_1024px, Flow Shift: 3";
    CHECK(engine::format_a1111_parameters(params) == a1111);
    const auto chunks = png_text_chunks(file_bytes(path));
    auto find = [&](const std::string& k) {
        for (const auto& [key, value] : chunks) {
            if (key == k) return value;
        }
        return std::string("<missing>");
    };
    CHECK(find("parameters") == a1111);
    CHECK(find("kinora") ==
          "{\"prompt\": \"a lighthouse, dusk, 35mm\", \"negative_prompt\": \"blurry, text\", \"steps\": \"20\", "
          "\"sampler\": \"dpmpp_2m\", \"guidance_scale\": \"4.5\", \"seed\": \"42\", \"size\": \"1024x1024\", "
          "\"model\": \"Sana_1600M_1024px\", \"flow_shift\": \"3\"}");
    CHECK(find("Software") == "Kinora");
    // read_png_text gives the same chunks back.
    auto text = engine::read_png_text(path);
    REQUIRE(text);
    std::map<std::string, std::string> m(text->begin(), text->end());
    CHECK(m["parameters"] == a1111);
    CHECK(m["kinora"] == find("kinora"));
    CHECK(m["Software"] == "Kinora");
    CHECK(m.count("oiio:ColorSpace") == 0);
    // No temporary file left beside it.
    int files = 0;
    if (DIR* d = ::opendir(dir.path.c_str())) {
        while (const dirent* e = ::readdir(d)) files += e->d_name[0] != '.';
        ::closedir(d);
    }
    CHECK(files == 1);
}

TEST_CASE("png_encoder (the fallback without OIIO) decodes with OpenImageIO", "[media]") {
    TempDir dir;
    for (int channels : {1, 3, 4}) {
        // 200x150x4 = 120000 raw bytes: more than one 65535-byte stored block.
        for (auto [w, h] : {std::pair<int, int>{1, 1}, {13, 7}, {200, 150}}) {
            Image img{w, h, channels, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * channels))};
            for (std::size_t i = 0; i < img.pixels.size(); ++i)
                img.pixels[i] = static_cast<std::uint8_t>((i * 131 + i / 7) % 256);
            const auto bytes =
                engine::media::encode_png_stored(img, {{"parameters", "cat\nSteps: 4"}, {"kinora", "{}"}});
            const std::string path = dir / ("fb" + std::to_string(channels) + "_" + std::to_string(w) + ".png");
            std::ofstream(path, std::ios::binary)
                .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
            INFO(channels << " channels, " << w << "x" << h);
            auto in = OIIO::ImageInput::open(path);
            REQUIRE(in);
            CHECK(in->spec().width == w);
            CHECK(in->spec().nchannels == channels);
            std::vector<std::uint8_t> px(img.pixels.size());
            OIIO::ImageSpec cfg;
            in.reset();
            cfg.attribute("oiio:UnassociatedAlpha", 1);
            in = OIIO::ImageInput::open(path, &cfg);
            REQUIRE(in->read_image(0, 0, 0, channels, OIIO::TypeDesc::UINT8, px.data()));
            CHECK(in->geterror().empty());
            CHECK(px == img.pixels);
            auto text = engine::read_png_text(path);
            REQUIRE(text);
            std::map<std::string, std::string> m(text->begin(), text->end());
            CHECK(m["parameters"] == "cat\nSteps: 4");
            CHECK(m["kinora"] == "{}");
        }
    }
}

TEST_CASE("video export: PNG frames read back with OpenImageIO, alpha and parameters kept", "[media]") {
    TempDir dir;
    engine::VideoFrames v;
    v.fps = 12.5;
    for (int i = 0; i < 3; ++i) {
        Image f{10, 6, 4, std::vector<std::uint8_t>(10 * 6 * 4)};
        for (std::size_t p = 0; p < f.pixels.size(); ++p)
            f.pixels[p] = static_cast<std::uint8_t>(p * 3 + static_cast<std::size_t>(i) * 50);
        v.frames.push_back(f);
    }
    engine::VideoExportOptions o;
    o.format = engine::VideoFormat::PngSequence;
    o.parameters = {{"prompt", "waves"}, {"seed", "7"}};
    const std::string folder = dir / "frames";
    REQUIRE(engine::write_video(folder, v, o));
    for (int i = 0; i < 3; ++i) {
        const std::string name = folder + "/frame_000" + std::to_string(i + 1) + ".png";
        auto img = engine::read_image(name);
        REQUIRE(img);
        CHECK(img->pixels == v.frames[static_cast<std::size_t>(i)].pixels);
        auto text = engine::read_png_text(name);
        REQUIRE(text);
        std::map<std::string, std::string> m(text->begin(), text->end());
        CHECK(m["parameters"] == "waves\nSeed: 7, Frame: " + std::to_string(i + 1) + "/3, Fps: 12.5");
    }
    // An existing empty folder is fine.
    const std::string empty = dir / "empty";
    REQUIRE(::mkdir(empty.c_str(), 0755) == 0);
    REQUIRE(engine::write_video(empty, v, o));
}

TEST_CASE("video export: GIF frames decode with giflib (OpenImageIO's GIF reader) too", "[media]") {
    TempDir dir;
    engine::VideoFrames v;
    v.fps = 10;
    std::uint32_t s = 99;
    for (int i = 0; i < 3; ++i) {
        Image f{120, 90, 3, std::vector<std::uint8_t>(120 * 90 * 3)};
        for (std::size_t p = 0; p < f.pixels.size() / 3; ++p) {
            s = s * 1664525u + 1013904223u;
            const auto k = static_cast<std::uint8_t>(s >> 24);  // 256 colours: exact palette, table resets
            f.pixels[p * 3] = k;
            f.pixels[p * 3 + 1] = static_cast<std::uint8_t>(255 - k);
            f.pixels[p * 3 + 2] = static_cast<std::uint8_t>(k / 2);
        }
        v.frames.push_back(f);
    }
    engine::VideoExportOptions o;
    o.format = engine::VideoFormat::Gif;
    const std::string path = dir / "a.gif";
    REQUIRE(engine::write_video(path, v, o));
    auto in = OIIO::ImageInput::open(path);
    REQUIRE(in);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(in->seek_subimage(i, 0));
        const int nch = in->spec().nchannels;
        std::vector<std::uint8_t> px(static_cast<std::size_t>(120 * 90 * nch));
        REQUIRE(in->read_image(i, 0, 0, nch, OIIO::TypeDesc::UINT8, px.data()));
        int worst = 0;
        for (std::size_t p = 0; p < 120 * 90; ++p) {
            for (int k = 0; k < 3; ++k)
                worst = std::max(worst, std::abs(int(px[p * static_cast<std::size_t>(nch) + k]) -
                                                 int(v.frames[static_cast<std::size_t>(i)].pixels[p * 3 + k])));
        }
        INFO("frame " << i);
        CHECK(worst == 0);
    }
    CHECK_FALSE(in->seek_subimage(3, 0));
}
