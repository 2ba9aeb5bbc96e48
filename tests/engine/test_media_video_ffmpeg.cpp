// write_video() with FFmpeg: every file is decoded again with FFmpeg's own demuxers and decoders (the
// native h264/vp9/gif decoders, not the encoders' libraries) and converted to RGB with libswscale from
// the colour tags in the stream, then compared with the frames that went in.
#include <catch2/catch.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "engine/media_io.h"

namespace {

using engine::Image;
using engine::VideoExportOptions;
using engine::VideoFormat;
using engine::VideoFrames;

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/kinora_media_XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~TempDir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        if (DIR* d = ::opendir(path.c_str())) {
            while (const dirent* e = ::readdir(d)) {
                const std::string n = e->d_name;
                if (n != "." && n != "..") out.push_back(n);
            }
            ::closedir(d);
        }
        return out;
    }
};

// A smooth test clip: a diagonal gradient background, a soft disc moving 6 px per frame, and a bar whose
// brightness encodes the frame index, so neighbouring frames differ clearly.
VideoFrames make_clip(int w, int h, int n, double fps = 8.0) {
    VideoFrames v;
    v.fps = fps;
    for (int i = 0; i < n; ++i) {
        Image f{w, h, 3, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * 3))};
        const double cx = 10 + 6.0 * i, cy = h / 2.0, r = std::min(w, h) / 4.0;
        for (int y = 0; y < h; ++y) {
            for (int x = 0; x < w; ++x) {
                const double d = std::hypot(x - cx, y - cy);
                const double disc = std::clamp((r - d) / 3.0, 0.0, 1.0);  // soft edge
                double rr = 40 + 150.0 * x / w, gg = 60 + 120.0 * y / h, bb = 160 - 100.0 * x / w;
                rr = rr * (1 - disc) + 240 * disc;
                gg = gg * (1 - disc) + 200 * disc;
                bb = bb * (1 - disc) + 40 * disc;
                if (y < h / 8) rr = gg = bb = 20 + (200.0 * i) / std::max(1, n - 1);
                std::uint8_t* p = f.pixels.data() + (static_cast<std::size_t>(y) * w + x) * 3;
                p[0] = static_cast<std::uint8_t>(std::lround(rr));
                p[1] = static_cast<std::uint8_t>(std::lround(gg));
                p[2] = static_cast<std::uint8_t>(std::lround(bb));
            }
        }
        v.frames.push_back(std::move(f));
    }
    return v;
}

struct Decoded {
    int width = 0;
    int height = 0;
    AVRational avg_frame_rate{0, 1};
    AVRational r_frame_rate{0, 1};
    AVRational time_base{0, 1};
    std::vector<std::int64_t> durations;  // per packet, in time_base
    std::string codec;
    AVColorSpace colorspace = AVCOL_SPC_UNSPECIFIED;
    AVColorRange range = AVCOL_RANGE_UNSPECIFIED;
    std::map<std::string, std::string> tags;  // lower-case keys
    std::vector<Image> frames;
    std::string error;
};

Image to_rgb(const AVFrame* f) {
    Image out{f->width, f->height, 3, std::vector<std::uint8_t>(static_cast<std::size_t>(f->width * f->height * 3))};
    SwsContext* sws = sws_getContext(f->width, f->height, static_cast<AVPixelFormat>(f->format), f->width, f->height,
                                     AV_PIX_FMT_RGB24, SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr,
                                     nullptr, nullptr);
    REQUIRE(sws != nullptr);
    const int cs = f->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : static_cast<int>(f->colorspace);
    const int src_full = f->color_range == AVCOL_RANGE_JPEG ? 1 : 0;
    sws_setColorspaceDetails(sws, sws_getCoefficients(cs), src_full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16,
                             1 << 16);
    std::uint8_t* dst[4] = {out.pixels.data(), nullptr, nullptr, nullptr};
    int dst_stride[4] = {f->width * 3, 0, 0, 0};
    sws_scale(sws, f->data, f->linesize, 0, f->height, dst, dst_stride);
    sws_freeContext(sws);
    return out;
}

Decoded decode(const std::string& path) {
    Decoded d;
    AVFormatContext* fmt = nullptr;
    if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
        d.error = "open failed";
        return d;
    }
    avformat_find_stream_info(fmt, nullptr);
    const int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    REQUIRE(si >= 0);
    AVStream* st = fmt->streams[si];
    const AVDictionaryEntry* e = nullptr;
    while ((e = av_dict_get(fmt->metadata, "", e, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
        std::string k = e->key;
        for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        d.tags[k] = e->value;
    }
    d.avg_frame_rate = st->avg_frame_rate;
    d.r_frame_rate = st->r_frame_rate;
    d.time_base = st->time_base;
    const AVCodec* dec = avcodec_find_decoder(st->codecpar->codec_id);
    REQUIRE(dec != nullptr);
    d.codec = dec->name;
    AVCodecContext* ctx = avcodec_alloc_context3(dec);
    avcodec_parameters_to_context(ctx, st->codecpar);
    REQUIRE(avcodec_open2(ctx, dec, nullptr) >= 0);
    AVPacket* pkt = av_packet_alloc();
    AVFrame* frame = av_frame_alloc();
    auto drain = [&]() {
        while (avcodec_receive_frame(ctx, frame) == 0) {
            d.width = frame->width;
            d.height = frame->height;
            d.colorspace = frame->colorspace;
            d.range = frame->color_range;
            d.frames.push_back(to_rgb(frame));
            av_frame_unref(frame);
        }
    };
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == si) {
            d.durations.push_back(pkt->duration);
            avcodec_send_packet(ctx, pkt);
            drain();
        }
        av_packet_unref(pkt);
    }
    avcodec_send_packet(ctx, nullptr);
    drain();
    av_frame_free(&frame);
    av_packet_free(&pkt);
    avcodec_free_context(&ctx);
    avformat_close_input(&fmt);
    return d;
}

// PSNR over the common top-left region (the decoded frame may be padded by one pixel).
double psnr(const Image& a, const Image& b) {
    const int w = std::min(a.width, b.width), h = std::min(a.height, b.height);
    double se = 0;
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            for (int c = 0; c < 3; ++c) {
                const double dd = double(a.pixels[(static_cast<std::size_t>(y) * a.width + x) * 3 + c]) -
                                  double(b.pixels[(static_cast<std::size_t>(y) * b.width + x) * 3 + c]);
                se += dd * dd;
            }
        }
    }
    const double mse = se / (3.0 * w * h);
    return mse <= 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
}

int max_abs_diff(const Image& a, const Image& b) {
    int m = 0;
    for (int y = 0; y < std::min(a.height, b.height); ++y) {
        for (int x = 0; x < std::min(a.width, b.width); ++x) {
            for (int c = 0; c < 3; ++c) {
                m = std::max(m, std::abs(int(a.pixels[(static_cast<std::size_t>(y) * a.width + x) * 3 + c]) -
                                         int(b.pixels[(static_cast<std::size_t>(y) * b.width + x) * 3 + c])));
            }
        }
    }
    return m;
}

const engine::ParameterList kParams = {{"prompt", "a red fox, snow, \"cinematic\""},
                                       {"negative_prompt", "blurry"},
                                       {"steps", "25"},
                                       {"seed", "1234"},
                                       {"model", "dynamicrafter_512"}};

// Each decoded frame must match its own source frame far better than the neighbours (catches a dropped,
// duplicated or shifted frame) and reach min_psnr.
void check_frames(const Decoded& d, const VideoFrames& src, double min_psnr, const char* what) {
    REQUIRE(d.frames.size() == src.frames.size());
    double worst = 99, worst_neighbour_gap = 99;
    int worst_max = 0;
    for (std::size_t i = 0; i < src.frames.size(); ++i) {
        const double p = psnr(d.frames[i], src.frames[i]);
        worst = std::min(worst, p);
        worst_max = std::max(worst_max, max_abs_diff(d.frames[i], src.frames[i]));
        for (std::size_t j : {i - 1, i + 1}) {
            if (j < src.frames.size())
                worst_neighbour_gap = std::min(worst_neighbour_gap, p - psnr(d.frames[i], src.frames[j]));
        }
    }
    WARN(what << ": worst PSNR " << worst << " dB, worst max abs diff " << worst_max
              << ", smallest PSNR gap to a neighbouring frame " << worst_neighbour_gap << " dB");
    CHECK(worst >= min_psnr);
    if (src.frames.size() > 1) CHECK(worst_neighbour_gap >= 8.0);
}

// Flat saturated patches: mean decoded colour must be within 3 levels. A BT.601/BT.709 mix-up moves
// pure green by ~30 levels, a full/limited range mix-up moves black and white by ~16.
void check_colour_patches(VideoFormat format, const std::string& path) {
    const std::vector<std::array<int, 3>> colours = {{255, 0, 0},     {0, 255, 0},    {0, 0, 255},   {255, 255, 0},
                                                     {0, 255, 255},   {255, 0, 255},  {0, 0, 0},     {255, 255, 255},
                                                     {128, 128, 128}, {200, 120, 60}, {30, 60, 150}, {90, 200, 120}};
    const int tile = 32, cols = 4, rows = 3, w = tile * cols, h = tile * rows;
    VideoFrames v;
    v.fps = 8;
    Image f{w, h, 3, std::vector<std::uint8_t>(static_cast<std::size_t>(w * h * 3))};
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x) {
            const auto& c = colours[static_cast<std::size_t>((y / tile) * cols + x / tile)];
            for (int k = 0; k < 3; ++k)
                f.pixels[(static_cast<std::size_t>(y) * w + x) * 3 + k] = static_cast<std::uint8_t>(c[k]);
        }
    }
    v.frames = {f, f, f};
    VideoExportOptions o;
    o.format = format;
    REQUIRE(engine::write_video(path, v, o));
    const Decoded d = decode(path);
    REQUIRE(d.frames.size() == 3);
    double worst = 0;
    for (std::size_t t = 0; t < colours.size(); ++t) {
        const int x0 = static_cast<int>(t % cols) * tile, y0 = static_cast<int>(t / cols) * tile;
        for (int k = 0; k < 3; ++k) {
            double sum = 0;
            int n = 0;
            for (int y = y0 + 6; y < y0 + tile - 6; ++y) {
                for (int x = x0 + 6; x < x0 + tile - 6; ++x) {
                    sum += d.frames[1].pixels[(static_cast<std::size_t>(y) * d.width + x) * 3 + k];
                    ++n;
                }
            }
            const double err = std::fabs(sum / n - colours[t][static_cast<std::size_t>(k)]);
            worst = std::max(worst, err);
            INFO("patch " << t << " channel " << k << " mean " << sum / n);
            CHECK(err <= 3.0);
        }
    }
    WARN(engine::to_string(format) << " colour patches: worst mean error " << worst << " levels");
}

std::string file_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The GIF's comment extensions and per-frame delays, parsed straight from the bytes.
struct GifBlocks {
    std::vector<std::string> comments;
    std::vector<int> delays_cs;
    int loop = -1;  // NETSCAPE2.0 loop count, -1 when absent
};

GifBlocks parse_gif(const std::string& b) {
    GifBlocks g;
    REQUIRE(b.size() > 13);
    REQUIRE(b.compare(0, 6, "GIF89a") == 0);
    std::size_t p = 13;
    const auto u8 = [&](std::size_t i) { return static_cast<unsigned char>(b.at(i)); };
    if (u8(10) & 0x80) p += 3u * (1u << ((u8(10) & 7) + 1));
    auto sub_blocks = [&](std::size_t& q) {
        std::string data;
        while (u8(q) != 0) {
            const std::size_t n = u8(q);
            data += b.substr(q + 1, n);
            q += n + 1;
        }
        ++q;
        return data;
    };
    while (p < b.size()) {
        const unsigned char t = u8(p);
        if (t == 0x3B) break;
        if (t == 0x21) {
            const unsigned char label = u8(p + 1);
            p += 2;
            const std::string data = sub_blocks(p);
            if (label == 0xFE) g.comments.push_back(data);
            if (label == 0xF9)
                g.delays_cs.push_back(static_cast<unsigned char>(data[1]) | (static_cast<unsigned char>(data[2]) << 8));
            if (label == 0xFF && data.compare(0, 11, "NETSCAPE2.0") == 0) {
                g.loop = static_cast<unsigned char>(data[12]) | (static_cast<unsigned char>(data[13]) << 8);
            }
        } else if (t == 0x2C) {
            const unsigned char packed = u8(p + 9);
            p += 10;
            if (packed & 0x80) p += 3u * (1u << ((packed & 7) + 1));
            ++p;  // LZW minimum code size
            sub_blocks(p);
        } else {
            FAIL("unexpected GIF block " << int(t));
        }
    }
    return g;
}

// Format names (Catch cannot print the enum).
std::vector<std::string> names(const std::vector<engine::VideoFormat>& formats) {
    std::vector<std::string> out;
    for (engine::VideoFormat f : formats) out.emplace_back(engine::to_string(f));
    return out;
}

}  // namespace

TEST_CASE("video export: MP4 and WebM encoders are present in this FFmpeg", "[media]") {
    CHECK(engine::has_video_export());
    const auto formats = engine::available_video_formats();
    CHECK(names(formats) == std::vector<std::string>{"mp4", "webm", "gif", "png_sequence"});
    // Debian's libavcodec59 links libx264 and libvpx; the fallback list is only for other builds.
    CHECK(avcodec_find_encoder_by_name("libx264") != nullptr);
    CHECK(avcodec_find_encoder_by_name("libvpx-vp9") != nullptr);
}

TEST_CASE("video export: MP4 decodes to the same frames, size, rate and tags", "[media]") {
    TempDir dir;
    const std::string path = dir.path + "/clip.mp4";
    const VideoFrames src = make_clip(96, 64, 12);
    VideoExportOptions o;
    o.format = VideoFormat::Mp4;
    o.parameters = kParams;
    int progress_calls = 0;
    o.on_progress = [&](int done, int total) {
        ++progress_calls;
        CHECK(done == progress_calls);
        CHECK(total == 12);
    };
    auto w = engine::write_video(path, src, o);
    INFO((w ? std::string() : w.error().message));
    REQUIRE(w);
    CHECK(progress_calls == 12);
    CHECK(dir.entries() == std::vector<std::string>{"clip.mp4"});
    Decoded d = decode(path);
    CHECK(d.codec == "h264");
    CHECK(d.width == 96);
    CHECK(d.height == 64);
    CHECK(av_q2d(d.avg_frame_rate) == Approx(8.0));
    CHECK(av_q2d(d.r_frame_rate) == Approx(8.0));
    CHECK(d.colorspace == AVCOL_SPC_BT709);
    CHECK(d.range == AVCOL_RANGE_MPEG);
    CHECK(d.tags["comment"] == engine::format_a1111_parameters(kParams));
    CHECK(d.tags["description"] == "a red fox, snow, \"cinematic\"");
    CHECK(d.tags["kinora"] == engine::format_parameters_json(kParams));
    check_frames(d, src, 36.0, "mp4 crf 18");
    // +faststart: the index (moov) precedes the media data (mdat).
    const std::string bytes = file_text(path);
    CHECK(bytes.find("moov") < bytes.find("mdat"));
}

TEST_CASE("video export: MP4 at CRF 0 is limited only by 4:2:0 Y'CbCr", "[media]") {
    TempDir dir;
    const std::string path = dir.path + "/lossless.mp4";
    const VideoFrames src = make_clip(96, 64, 4);
    VideoExportOptions o;
    o.format = VideoFormat::Mp4;
    o.crf = 0;
    auto w = engine::write_video(path, src, o);
    INFO((w ? std::string() : w.error().message));
    REQUIRE(w);
    // Measured 41.3 dB (max abs diff 23 at the disc's colour edges): the floor set by 4:2:0 chroma.
    check_frames(decode(path), src, 39.0, "mp4 crf 0 (lossless H.264; the error is the colour conversion)");
}

TEST_CASE("video export: WebM (VP9) decodes to the same frames, size, rate and tags", "[media]") {
    TempDir dir;
    const std::string path = dir.path + "/clip.webm";
    const VideoFrames src = make_clip(96, 64, 12);
    VideoExportOptions o;
    o.format = VideoFormat::WebM;
    o.parameters = kParams;
    auto w = engine::write_video(path, src, o);
    INFO((w ? std::string() : w.error().message));
    REQUIRE(w);
    Decoded d = decode(path);
    CHECK(d.codec == "vp9");
    CHECK(d.width == 96);
    CHECK(d.height == 64);
    CHECK(av_q2d(d.avg_frame_rate) == Approx(8.0));
    CHECK(d.colorspace == AVCOL_SPC_BT709);
    CHECK(d.range == AVCOL_RANGE_MPEG);
    CHECK(d.tags["comment"] == engine::format_a1111_parameters(kParams));
    CHECK(d.tags["description"] == "a red fox, snow, \"cinematic\"");
    CHECK(d.tags["kinora"] == engine::format_parameters_json(kParams));
    check_frames(d, src, 32.0, "webm crf 30");
}

TEST_CASE("video export: MP4 and WebM keep saturated colours (BT.709, limited range)", "[media]") {
    TempDir dir;
    check_colour_patches(VideoFormat::Mp4, dir.path + "/c.mp4");
    check_colour_patches(VideoFormat::WebM, dir.path + "/c.webm");
}

TEST_CASE("video export: GIF decodes to the frames, loops, and carries the parameters", "[media]") {
    TempDir dir;
    const VideoFrames src = make_clip(96, 64, 10);
    SECTION("many colours: median-cut palette, dithered") {
        const std::string path = dir.path + "/clip.gif";
        VideoExportOptions o;
        o.format = VideoFormat::Gif;
        o.parameters = kParams;
        REQUIRE(engine::write_video(path, src, o));
        const Decoded d = decode(path);
        CHECK(d.codec == "gif");
        CHECK(d.width == 96);
        CHECK(d.height == 64);
        check_frames(d, src, 34.0, "gif dithered");
        const GifBlocks g = parse_gif(file_text(path));
        CHECK(g.loop == 0);
        REQUIRE(g.comments.size() == 2);
        CHECK(g.comments[0] == engine::format_a1111_parameters(kParams));
        CHECK(g.comments[1] == "kinora " + engine::format_parameters_json(kParams));
        // 8 fps = 12.5 cs a frame: whole hundredths that add up to the right total.
        REQUIRE(g.delays_cs.size() == 10);
        int total = 0;
        for (int dcs : g.delays_cs) {
            CHECK((dcs == 12 || dcs == 13));
            total += dcs;
        }
        CHECK(total == 125);
    }
    SECTION("many colours without dithering") {
        const std::string path = dir.path + "/plain.gif";
        VideoExportOptions o;
        o.format = VideoFormat::Gif;
        o.gif_dither = false;
        REQUIRE(engine::write_video(path, src, o));
        check_frames(decode(path), src, 36.0, "gif undithered");
        CHECK(parse_gif(file_text(path)).comments.empty());
    }
    SECTION("at most 256 colours: exact") {
        VideoFrames few;
        few.fps = 25;
        for (int i = 0; i < 4; ++i) {
            Image f{40, 30, 3, std::vector<std::uint8_t>(40 * 30 * 3)};
            for (std::size_t p = 0; p < f.pixels.size() / 3; ++p) {
                const int k = static_cast<int>((p + static_cast<std::size_t>(i) * 7) % 200);
                f.pixels[p * 3] = static_cast<std::uint8_t>(k);
                f.pixels[p * 3 + 1] = static_cast<std::uint8_t>(255 - k);
                f.pixels[p * 3 + 2] = static_cast<std::uint8_t>((k * 37) % 256);
            }
            few.frames.push_back(f);
        }
        const std::string path = dir.path + "/exact.gif";
        VideoExportOptions o;
        o.format = VideoFormat::Gif;
        o.gif_loop_count = 3;
        REQUIRE(engine::write_video(path, few, o));
        const Decoded d = decode(path);
        REQUIRE(d.frames.size() == 4);
        for (int i = 0; i < 4; ++i)
            CHECK(max_abs_diff(d.frames[static_cast<std::size_t>(i)], few.frames[static_cast<std::size_t>(i)]) == 0);
        const GifBlocks g = parse_gif(file_text(path));
        CHECK(g.loop == 2);  // played 3 times = 2 repetitions
        CHECK(g.delays_cs == std::vector<int>{4, 4, 4, 4});
    }
}

TEST_CASE("video export: LZW stays decodable past the 4096-code table limit", "[media]") {
    // Noise of 256 colours never repeats long strings, so the code table fills and is cleared many times.
    TempDir dir;
    VideoFrames v;
    v.fps = 10;
    Image f{300, 200, 3, std::vector<std::uint8_t>(300 * 200 * 3)};
    std::uint32_t s = 12345;
    for (std::size_t p = 0; p < 300 * 200; ++p) {
        s = s * 1664525u + 1013904223u;
        const auto k = static_cast<std::uint8_t>(s >> 24);
        f.pixels[p * 3] = k;
        f.pixels[p * 3 + 1] = static_cast<std::uint8_t>(k ^ 0x5A);
        f.pixels[p * 3 + 2] = static_cast<std::uint8_t>(255 - k);
    }
    v.frames = {f};
    VideoExportOptions o;
    o.format = VideoFormat::Gif;
    const std::string path = dir.path + "/noise.gif";
    REQUIRE(engine::write_video(path, v, o));
    const Decoded d = decode(path);
    REQUIRE(d.frames.size() == 1);
    CHECK(max_abs_diff(d.frames[0], f) == 0);
}

TEST_CASE("video export: one-frame videos in every format", "[media]") {
    TempDir dir;
    const VideoFrames src = make_clip(64, 48, 1);
    for (VideoFormat fmt : {VideoFormat::Mp4, VideoFormat::WebM, VideoFormat::Gif}) {
        const std::string path = dir.path + "/one" + engine::video_format_extension(fmt);
        VideoExportOptions o;
        o.format = fmt;
        auto w = engine::write_video(path, src, o);
        INFO(engine::to_string(fmt) << ": " << (w ? std::string() : w.error().message));
        REQUIRE(w);
        const Decoded d = decode(path);
        REQUIRE(d.frames.size() == 1);
        CHECK(psnr(d.frames[0], src.frames[0]) >= 30.0);
    }
}

TEST_CASE("video export: odd sizes (MP4 pads with the edge, VP9 and GIF keep them)", "[media]") {
    TempDir dir;
    const VideoFrames src = make_clip(65, 37, 5);
    {
        const std::string path = dir.path + "/odd.mp4";
        VideoExportOptions o;
        o.format = VideoFormat::Mp4;
        REQUIRE(engine::write_video(path, src, o));
        const Decoded d = decode(path);
        CHECK(d.width == 66);
        CHECK(d.height == 38);
        check_frames(d, src, 34.0, "mp4 odd size");
        // The padding column and row repeat the edge: compare them with the decoded last column/row.
        const Image& f = d.frames[2];
        double col_diff = 0, row_diff = 0;
        for (int y = 0; y < 37; ++y) {
            for (int c = 0; c < 3; ++c) {
                col_diff = std::max(
                    col_diff, std::fabs(double(f.pixels[(static_cast<std::size_t>(y) * 66 + 65) * 3 + c]) -
                                        double(src.frames[2].pixels[(static_cast<std::size_t>(y) * 65 + 64) * 3 + c])));
            }
        }
        for (int x = 0; x < 65; ++x) {
            for (int c = 0; c < 3; ++c) {
                row_diff = std::max(
                    row_diff, std::fabs(double(f.pixels[(static_cast<std::size_t>(37) * 66 + x) * 3 + c]) -
                                        double(src.frames[2].pixels[(static_cast<std::size_t>(36) * 65 + x) * 3 + c])));
            }
        }
        WARN("mp4 padding: max diff of the padded column " << col_diff << ", row " << row_diff);
        CHECK(col_diff <= 24);
        CHECK(row_diff <= 24);
    }
    {
        const std::string path = dir.path + "/odd.webm";
        VideoExportOptions o;
        o.format = VideoFormat::WebM;
        REQUIRE(engine::write_video(path, src, o));
        const Decoded d = decode(path);
        CHECK(d.width == 65);
        CHECK(d.height == 37);
        check_frames(d, src, 30.0, "webm odd size");
    }
    {
        const std::string path = dir.path + "/odd.gif";
        VideoExportOptions o;
        o.format = VideoFormat::Gif;
        REQUIRE(engine::write_video(path, src, o));
        const Decoded d = decode(path);
        CHECK(d.width == 65);
        CHECK(d.height == 37);
        check_frames(d, src, 34.0, "gif odd size");
    }
}

TEST_CASE("video export: cancelling leaves no file and no temporary file", "[media]") {
    TempDir dir;
    const VideoFrames src = make_clip(64, 48, 8);
    for (VideoFormat fmt : {VideoFormat::Mp4, VideoFormat::WebM, VideoFormat::Gif, VideoFormat::PngSequence}) {
        const std::string path = dir.path + "/c" + engine::video_format_extension(fmt);
        VideoExportOptions o;
        o.format = fmt;
        int polls = 0;
        o.is_cancelled = [&] { return ++polls > 3; };
        auto w = engine::write_video(path, src, o);
        INFO(engine::to_string(fmt));
        REQUIRE_FALSE(w);
        CHECK(w.error().code == engine::ErrorCode::IoError);
        CHECK(w.error().message.find("cancelled") != std::string::npos);
        CHECK(polls == 4);
        CHECK(dir.entries().empty());
    }
}

TEST_CASE("video export: unwritable places and a full disk fail cleanly", "[media]") {
    TempDir dir;
    const VideoFrames src = make_clip(64, 48, 6);
    SECTION("missing folder") {
        for (VideoFormat fmt : {VideoFormat::Mp4, VideoFormat::WebM, VideoFormat::Gif, VideoFormat::PngSequence}) {
            VideoExportOptions o;
            o.format = fmt;
            const std::string path = dir.path + "/no/such/folder/x" + engine::video_format_extension(fmt);
            auto w = engine::write_video(path, src, o);
            INFO(engine::to_string(fmt));
            REQUIRE_FALSE(w);
            CHECK(w.error().code == engine::ErrorCode::IoError);
            CHECK(w.error().message.find(path) != std::string::npos);
            CHECK(w.error().message.find("Check that the folder exists") != std::string::npos);
        }
    }
    SECTION("file size limit (stands in for a full disk: the write fails half-way)") {
        // RLIMIT_FSIZE makes write() fail with EFBIG once the file reaches 2 KiB, the same path a full disk
        // (ENOSPC) takes through FFmpeg's avio and our own writer.
        VideoFrames big = make_clip(160, 120, 12);
        std::uint32_t seed = 7;
        for (Image& f : big.frames) {  // noise: no format compresses it below the limit
            for (auto& b : f.pixels) {
                seed = seed * 1664525u + 1013904223u;
                b = static_cast<std::uint8_t>(seed >> 24);
            }
        }
        struct rlimit old {};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
        auto previous = std::signal(SIGXFSZ, SIG_IGN);
        struct rlimit lim = old;
        lim.rlim_cur = 2048;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
        std::vector<engine::Expected<void>> results;
        for (VideoFormat fmt : {VideoFormat::Mp4, VideoFormat::WebM, VideoFormat::Gif, VideoFormat::PngSequence}) {
            VideoExportOptions o;
            o.format = fmt;
            results.push_back(engine::write_video(dir.path + "/full" + engine::video_format_extension(fmt), big, o));
        }
        ::setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, previous);
        for (std::size_t i = 0; i < results.size(); ++i) {
            const auto& r = results[i];
            INFO("format #" << i);
            REQUIRE_FALSE(r);
            INFO(r.error().message);
            CHECK(r.error().code == engine::ErrorCode::IoError);
            CHECK(r.error().message.find(dir.path) != std::string::npos);
        }
        CHECK(dir.entries().empty());
    }
    SECTION("PNG frames refuse a non-empty folder") {
        const std::string folder = dir.path + "/frames";
        REQUIRE(::mkdir(folder.c_str(), 0755) == 0);
        std::ofstream(folder + "/keep.txt") << "mine";
        VideoExportOptions o;
        o.format = VideoFormat::PngSequence;
        auto w = engine::write_video(folder, src, o);
        REQUIRE_FALSE(w);
        CHECK(w.error().message.find("not empty") != std::string::npos);
        CHECK(file_text(folder + "/keep.txt") == "mine");
    }
}

TEST_CASE("video export: bad requests are refused before anything is written", "[media]") {
    TempDir dir;
    VideoExportOptions o;
    o.format = VideoFormat::Mp4;
    const std::string path = dir.path + "/x.mp4";
    VideoFrames empty;
    CHECK(engine::write_video(path, empty, o).error().code == engine::ErrorCode::InvalidRequest);
    VideoFrames mixed = make_clip(64, 48, 2);
    mixed.frames.push_back(make_clip(32, 32, 1).frames[0]);
    auto m = engine::write_video(path, mixed, o);
    REQUIRE_FALSE(m);
    CHECK(m.error().code == engine::ErrorCode::InvalidRequest);
    CHECK(m.error().message.find("same size") != std::string::npos);
    VideoFrames bad_fps = make_clip(64, 48, 2);
    bad_fps.fps = 0;
    CHECK(engine::write_video(path, bad_fps, o).error().code == engine::ErrorCode::InvalidRequest);
    bad_fps.fps = std::nan("");
    CHECK(engine::write_video(path, bad_fps, o).error().code == engine::ErrorCode::InvalidRequest);
    o.crf = 52;
    CHECK(engine::write_video(path, make_clip(64, 48, 2), o).error().code == engine::ErrorCode::InvalidRequest);
    o.crf = -1;
    o.format = VideoFormat::None;
    CHECK(engine::write_video(path, make_clip(64, 48, 2), o).error().code == engine::ErrorCode::InvalidRequest);
    VideoFrames broken = make_clip(64, 48, 2);
    broken.frames[1].pixels.resize(10);
    o.format = VideoFormat::Gif;
    CHECK(engine::write_video(path, broken, o).error().code == engine::ErrorCode::InvalidRequest);
    CHECK(dir.entries().empty());
}

TEST_CASE("video export: a missing encoder is a clear UnsupportedModel error", "[media]") {
    // KINORA_DISABLE_ENCODERS hides FFmpeg encoders by name, as if this FFmpeg were built without them.
    TempDir dir;
    const VideoFrames src = make_clip(64, 48, 3);
    ::setenv("KINORA_DISABLE_ENCODERS", "libvpx-vp9", 1);
    VideoExportOptions o;
    o.format = VideoFormat::WebM;
    auto w = engine::write_video(dir.path + "/x.webm", src, o);
    const auto formats = engine::available_video_formats();
    ::setenv("KINORA_DISABLE_ENCODERS", "libx264,h264_nvenc,h264_qsv,h264_amf,h264_mf,h264_videotoolbox,libopenh264",
             1);
    o.format = VideoFormat::Mp4;
    auto w2 = engine::write_video(dir.path + "/x.mp4", src, o);
    const bool any = engine::has_video_export();
    ::unsetenv("KINORA_DISABLE_ENCODERS");
    REQUIRE_FALSE(w);
    CHECK(w.error().code == engine::ErrorCode::UnsupportedModel);
    CHECK(w.error().message.find("libvpx-vp9") != std::string::npos);
    CHECK(w.error().message.find("GIF") != std::string::npos);
    CHECK(std::find(formats.begin(), formats.end(), VideoFormat::WebM) == formats.end());
    CHECK(std::find(formats.begin(), formats.end(), VideoFormat::Mp4) != formats.end());
    REQUIRE_FALSE(w2);
    CHECK(w2.error().code == engine::ErrorCode::UnsupportedModel);
    CHECK(w2.error().message.find("H.264") != std::string::npos);
    CHECK(any);  // WebM is still there
    CHECK(dir.entries().empty());
}

TEST_CASE("video export: format names and extensions", "[media]") {
    for (VideoFormat f : {VideoFormat::Mp4, VideoFormat::WebM, VideoFormat::Gif, VideoFormat::PngSequence}) {
        CHECK(engine::video_format_from_string(engine::to_string(f)) == f);
    }
    CHECK(engine::video_format_from_string("MP4") == VideoFormat::Mp4);
    CHECK(engine::video_format_from_string("avi") == VideoFormat::None);
    CHECK(engine::video_format_for_path("/a/b/clip.MP4") == VideoFormat::Mp4);
    CHECK(engine::video_format_for_path("clip.webm") == VideoFormat::WebM);
    CHECK(engine::video_format_for_path("x.gif") == VideoFormat::Gif);
    CHECK(engine::video_format_for_path("/out/frames/") == VideoFormat::PngSequence);
    CHECK(engine::video_format_for_path("frames") == VideoFormat::PngSequence);
    CHECK(engine::video_format_for_path("clip.avi") == VideoFormat::None);
    CHECK(std::string(engine::video_format_extension(VideoFormat::WebM)) == ".webm");
}
