// Built without FFmpeg (KINORA_WITH_FFMPEG=OFF, the GPU machines): MP4 and WebM fail with a clear
// message and leave nothing behind; GIF (our own encoder) and PNG frames still work.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "engine/media_io.h"

namespace {

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/kinora_noff_XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
    std::vector<std::string> entries(const std::string& sub = "") const {
        std::vector<std::string> out;
        if (DIR* d = ::opendir((path + sub).c_str())) {
            while (const dirent* e = ::readdir(d)) {
                const std::string n = e->d_name;
                if (n != "." && n != "..") out.push_back(n);
            }
            ::closedir(d);
        }
        std::sort(out.begin(), out.end());
        return out;
    }
};

engine::VideoFrames clip(int n) {
    engine::VideoFrames v;
    v.fps = 8;
    for (int i = 0; i < n; ++i) {
        engine::Image f{24, 16, 3, std::vector<std::uint8_t>(24 * 16 * 3)};
        for (std::size_t p = 0; p < f.pixels.size(); ++p)
            f.pixels[p] = static_cast<std::uint8_t>(p + static_cast<std::size_t>(i) * 40);
        v.frames.push_back(f);
    }
    return v;
}

std::string bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Format names (Catch cannot print the enum).
std::vector<std::string> names(const std::vector<engine::VideoFormat>& formats) {
    std::vector<std::string> out;
    for (engine::VideoFormat f : formats) out.emplace_back(engine::to_string(f));
    return out;
}

}  // namespace

TEST_CASE("video export without FFmpeg: only GIF and PNG frames are offered", "[media]") {
    CHECK_FALSE(engine::has_video_export());
    CHECK(names(engine::available_video_formats()) == std::vector<std::string>{"gif", "png_sequence"});
}

TEST_CASE("video export without FFmpeg: MP4 and WebM give a clear error", "[media]") {
    TempDir dir;
    for (engine::VideoFormat f : {engine::VideoFormat::Mp4, engine::VideoFormat::WebM}) {
        engine::VideoExportOptions o;
        o.format = f;
        auto w = engine::write_video(dir.path + "/x" + engine::video_format_extension(f), clip(3), o);
        REQUIRE_FALSE(w);
        CHECK(w.error().code == engine::ErrorCode::UnsupportedModel);
        CHECK(w.error().message.find("FFmpeg") != std::string::npos);
        CHECK(w.error().message.find("GIF or PNG frames") != std::string::npos);
    }
    CHECK(dir.entries().empty());
}

TEST_CASE("video export without FFmpeg: GIF and PNG frames are written", "[media]") {
    TempDir dir;
    engine::VideoExportOptions o;
    o.format = engine::VideoFormat::Gif;
    o.parameters = {{"prompt", "rain"}};
    REQUIRE(engine::write_video(dir.path + "/a.gif", clip(3), o));
    const std::string gif = bytes_of(dir.path + "/a.gif");
    REQUIRE(gif.size() > 800);
    CHECK(gif.compare(0, 6, "GIF89a") == 0);
    CHECK(static_cast<unsigned char>(gif[6]) == 24);  // width, little-endian
    CHECK(static_cast<unsigned char>(gif[8]) == 16);
    CHECK(gif.find("NETSCAPE2.0") != std::string::npos);
    CHECK(gif.find("rain") != std::string::npos);
    CHECK(gif.back() == 0x3B);

    o.format = engine::VideoFormat::PngSequence;
    REQUIRE(engine::write_video(dir.path + "/frames", clip(3), o));
    CHECK(dir.entries("/frames") == std::vector<std::string>{"frame_0001.png", "frame_0002.png", "frame_0003.png"});
    const std::string png = bytes_of(dir.path + "/frames/frame_0002.png");
    REQUIRE(png.size() > 24);
    CHECK(png.compare(1, 3, "PNG") == 0);
    CHECK(png.find("Frame: 2/3") != std::string::npos);
}
