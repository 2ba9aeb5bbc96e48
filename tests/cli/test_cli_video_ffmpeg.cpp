// `kinora-cli t2v` to MP4 and WebM, decoded again with FFmpeg's own demuxer and decoders: frame count, size, frame
// rate, the embedded parameters, and the pixels against the reference video within what H.264 4:2:0 keeps. And an
// FFmpeg without an H.264 encoder (KINORA_DISABLE_ENCODERS) makes MP4 fail before anything is generated.
#include <catch2/catch.hpp>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
}

#include <torch/torch.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "cli_runner.h"
#include "support/golden_case.h"

namespace fs = std::filesystem;
using test_support::GoldenCase;

namespace {

struct DecodedVideo {
    int width = 0, height = 0;
    AVRational avg_frame_rate{0, 1};
    std::string codec;
    std::map<std::string, std::string> tags;  // lower-case keys
    std::vector<at::Tensor> frames;           // [H, W, 3] float, 0..255
    std::string error;
};

// Demux + decode with FFmpeg, converting each frame to RGB24 with the stream's colour tags.
DecodedVideo decode_video_file(const std::string& path) {
    DecodedVideo d;
    AVFormatContext* fmt = nullptr;
    if (avformat_open_input(&fmt, path.c_str(), nullptr, nullptr) < 0) {
        d.error = "cannot open";
        return d;
    }
    avformat_find_stream_info(fmt, nullptr);
    const int index = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (index < 0) {
        d.error = "no video stream";
        avformat_close_input(&fmt);
        return d;
    }
    for (const AVDictionary* dict : {static_cast<const AVDictionary*>(fmt->metadata),
                                     static_cast<const AVDictionary*>(fmt->streams[index]->metadata)}) {
        const AVDictionaryEntry* e = nullptr;
        while ((e = av_dict_get(dict, "", e, AV_DICT_IGNORE_SUFFIX)) != nullptr) {
            std::string key = e->key;
            for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            d.tags[key] = e->value;
        }
    }
    AVStream* st = fmt->streams[index];
    d.avg_frame_rate = st->avg_frame_rate;
    const AVCodec* codec = avcodec_find_decoder(st->codecpar->codec_id);
    d.codec = codec ? codec->name : "?";
    AVCodecContext* ctx = avcodec_alloc_context3(codec);
    avcodec_parameters_to_context(ctx, st->codecpar);
    avcodec_open2(ctx, codec, nullptr);
    d.width = ctx->width;
    d.height = ctx->height;
    AVPacket* pkt = av_packet_alloc();
    AVFrame* frame = av_frame_alloc();
    auto drain = [&] {
        while (avcodec_receive_frame(ctx, frame) == 0) {
            at::Tensor rgb = at::empty({frame->height, frame->width, 3}, at::kByte);
            SwsContext* sws = sws_getContext(frame->width, frame->height, static_cast<AVPixelFormat>(frame->format),
                                             frame->width, frame->height, AV_PIX_FMT_RGB24,
                                             SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, nullptr, nullptr,
                                             nullptr);
            const int cs = frame->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT
                                                                       : static_cast<int>(frame->colorspace);
            sws_setColorspaceDetails(sws, sws_getCoefficients(cs), frame->color_range == AVCOL_RANGE_JPEG ? 1 : 0,
                                     sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
            uint8_t* dst[4] = {rgb.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
            int stride[4] = {frame->width * 3, 0, 0, 0};
            sws_scale(sws, frame->data, frame->linesize, 0, frame->height, dst, stride);
            sws_freeContext(sws);
            d.frames.push_back(rgb.to(at::kFloat));
        }
    };
    while (av_read_frame(fmt, pkt) >= 0) {
        if (pkt->stream_index == index) {
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

std::vector<std::string> t2v_args(const GoldenCase& gc, const std::string& out) {
    return {"t2v",
            "--model", gc.file("model.ckpt").string(),
            "--config", gc.file("config.json").string(),
            "--vocab", (test_support::golden_dir() / "clip_tokenizer").string(),
            "--prompt", gc.meta().at("prompt").get<std::string>(),
            "--steps", "6", "--guidance", "12", "--fps", "8", "--eta", "1", "--seed", "7",
            "--out", out};
}

}  // namespace

TEST_CASE("cli t2v: the MP4 decodes again to the golden video's frames, size, rate and parameters", "[cli]") {
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-t2v-mp4");
    for (const std::string ext : {"mp4", "webm"}) {
        CAPTURE(ext);
        const std::string out = dir + "/clip." + ext;
        auto run = test_cli::run_cli(t2v_args(gc, out));
        INFO(run.output);
        REQUIRE(run.exit_code == 0);
        const DecodedVideo v = decode_video_file(out);
        INFO(v.error);
        REQUIRE(v.error.empty());
        CHECK(v.codec == (ext == "mp4" ? "h264" : "vp9"));
        CHECK(v.width == 48);
        CHECK(v.height == 32);
        CHECK(v.avg_frame_rate.num == 8 * v.avg_frame_rate.den);
        REQUIRE(v.frames.size() == 4);
        CHECK_THAT(v.tags["kinora"], Catch::Contains("\"seed\": \"7\""));
        CHECK_THAT(v.tags["comment"], Catch::Contains("Steps: 6"));
        CHECK(v.tags["description"] == gc.meta().at("prompt").get<std::string>());
        // Pixels: 4:2:0 chroma and lossy coding on a 48x32 picture of a random-weight model's noise-like output.
        // Bounds from the codec's behaviour at its default quality, well below what a wrong frame order or
        // colour conversion would give (a swapped frame here differs by ~40 levels on average).
        const at::Tensor expected =
            ((gc.io("eta1.video")[0].clamp(-1, 1) + 1) / 2 * 255).round().permute({1, 2, 3, 0}).contiguous();
        for (size_t f = 0; f < v.frames.size(); ++f) {
            const double mean = (v.frames[f] - expected[static_cast<int64_t>(f)]).abs().mean().item<double>();
            const double other = (v.frames[f] - expected[static_cast<int64_t>((f + 1) % 4)]).abs().mean().item<double>();
            CAPTURE(f, mean, other);
            CHECK(mean < 8.0);
            CHECK(mean < other / 2);
        }
    }
    fs::remove_all(dir);
}

TEST_CASE("cli t2v: an FFmpeg without H.264 encoders fails for MP4 before generating, and WebM still works",
          "[cli]") {
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-no-x264");
    ::setenv("KINORA_DISABLE_ENCODERS", "libx264,h264_nvenc,h264_qsv,h264_amf,h264_mf,h264_videotoolbox,libopenh264",
             1);
    auto args = t2v_args(gc, dir + "/clip.mp4");
    args[2] = "/nonexistent/model.ckpt";  // the format is refused before the model is opened
    auto run = test_cli::run_cli(args);
    ::unsetenv("KINORA_DISABLE_ENCODERS");
    INFO(run.output);
    CHECK(run.exit_code != 0);
    CHECK_THAT(run.output, Catch::Contains("H.264"));
    CHECK_THAT(run.output, Catch::Contains("gif"));
    CHECK_FALSE(fs::exists(dir + "/clip.mp4"));
    fs::remove_all(dir);
}
