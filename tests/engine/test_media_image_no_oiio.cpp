// Built without OpenImageIO (the GPU machines): no image reading, and write_png falls back to the
// dependency-free encoder (zlib "stored" blocks), checked here by decoding its bytes by hand.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "engine/media_io.h"

namespace {

std::uint32_t be32(const std::string& b, std::size_t p) {
    return (std::uint32_t(static_cast<unsigned char>(b[p])) << 24) |
           (std::uint32_t(static_cast<unsigned char>(b[p + 1])) << 16) |
           (std::uint32_t(static_cast<unsigned char>(b[p + 2])) << 8) |
           std::uint32_t(static_cast<unsigned char>(b[p + 3]));
}

}  // namespace

TEST_CASE("image io without OIIO: reading fails clearly, PNG writing uses the fallback encoder", "[media]") {
    char tmpl[] = "/tmp/kinora_nooiio_XXXXXX";
    const std::string dir = ::mkdtemp(tmpl);
    CHECK_FALSE(engine::has_image_io());
    auto r = engine::read_image(dir + "/x.png");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == engine::ErrorCode::UnsupportedModel);
    CHECK(r.error().message.find("OpenImageIO") != std::string::npos);
    CHECK_FALSE(engine::read_image_info(dir + "/x.png"));

    engine::Image img{5, 3, 4, {}};
    for (int i = 0; i < 5 * 3 * 4; ++i) img.pixels.push_back(static_cast<std::uint8_t>(i * 17));
    const engine::ParameterList params = {{"prompt", "a cat"}, {"seed", "3"}};
    REQUIRE(engine::write_png(dir + "/a.png", img, params));
    std::ifstream in(dir + "/a.png", std::ios::binary);
    const std::string b((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(b.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) == 0);
    std::string idat, parameters;
    for (std::size_t p = 8; p + 12 <= b.size();) {
        const std::uint32_t n = be32(b, p);
        const std::string type = b.substr(p + 4, 4);
        if (type == "IHDR") {
            CHECK(be32(b, p + 8) == 5);
            CHECK(be32(b, p + 12) == 3);
            CHECK(b[p + 17] == 6);  // RGBA
        } else if (type == "IDAT") {
            idat += b.substr(p + 8, n);
        } else if (type == "tEXt" && b.compare(p + 8, 11, std::string("parameters\0", 11)) == 0) {
            parameters = b.substr(p + 19, n - 11);
        }
        p += 12 + n;
    }
    CHECK(parameters == engine::format_a1111_parameters(params));
    // zlib header, one stored block: [final=1][LEN][NLEN] then the filtered rows (filter byte 0 each).
    REQUIRE(idat.size() > 7);
    std::string raw = idat.substr(7, idat.size() - 11);
    REQUIRE(raw.size() == 3 * (1 + 5 * 4));
    for (int y = 0; y < 3; ++y) {
        CHECK(raw[static_cast<std::size_t>(y) * 21] == 0);
        for (int i = 0; i < 20; ++i) {
            CHECK(static_cast<unsigned char>(raw[static_cast<std::size_t>(y) * 21 + 1 + i]) ==
                  img.pixels[static_cast<std::size_t>(y) * 20 + i]);
        }
    }
    (void)std::system(("rm -rf '" + dir + "'").c_str());
}
