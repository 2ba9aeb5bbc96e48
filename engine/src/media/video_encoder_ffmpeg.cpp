// MP4 (H.264) and WebM (VP9) through FFmpeg's libraries (Debian 12: FFmpeg 5.1, libavcodec 59):
// avcodec_send_frame / avcodec_receive_packet, codec parameters copied to the stream, no deprecated calls.
//
// Colour: our own RGB → Y'CbCr 4:2:0 conversion with the BT.709 matrix in limited ("TV") range, and the
// streams are tagged accordingly (primaries, transfer, matrix BT.709; range MPEG), which is what browsers
// assume for untagged HD video too. Chroma is the mean of each 2×2 block (centre sited, tagged so).
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
}

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "core/log.h"
#include "media/file_util.h"
#include "media/video_encoder.h"

namespace engine::media {
namespace {

// H.264 encoders in order of preference: x264 first (best quality per bit, CRF), then hardware and
// other software encoders that take system-memory yuv420p or nv12 frames.
constexpr const char* kH264Encoders[] = {"libx264", "h264_nvenc",        "h264_qsv",   "h264_amf",
                                         "h264_mf", "h264_videotoolbox", "libopenh264"};
constexpr const char* kVP9Encoders[] = {"libvpx-vp9"};

constexpr int kDefaultCrfH264 = 18;
constexpr int kDefaultCrfVP9 = 30;

// KINORA_DISABLE_ENCODERS=name,name hides FFmpeg encoders, as if this FFmpeg lacked them: to skip a
// broken hardware encoder, or to test the fallbacks and the "missing encoder" errors.
bool disabled_by_env(const char* name) {
    const char* env = std::getenv("KINORA_DISABLE_ENCODERS");
    if (env == nullptr) return false;
    const std::string list = std::string(",") + env + ",";
    return list.find(std::string(",") + name + ",") != std::string::npos;
}

const AVCodec* find_encoder(const char* name) {
    return disabled_by_env(name) ? nullptr : avcodec_find_encoder_by_name(name);
}

// libx264 and libvpx print statistics at FFmpeg's default log level (info) to stderr; an app that has
// not chosen a level gets errors only. Our own failures are reported through Expected.
void quiet_ffmpeg_log() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (av_log_get_level() == AV_LOG_INFO) av_log_set_level(AV_LOG_ERROR);
    });
}

std::string av_error_text(int err) {
    char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(err, buf, sizeof buf);
    return buf;
}

// An FFmpeg error as ours: POSIX errors (permissions, full disk) through io_error_for's hints.
Unexpected ffmpeg_error(const std::string& display_path, const std::string& what, int err) {
    const int posix = -err;
    if (posix > 0 && posix < 4096) {
        Error e = io_error_for(display_path, posix);
        return Unexpected{e};
    }
    return make_error(ErrorCode::IoError,
                      "Cannot write " + display_path + ": " + what + " failed (" + av_error_text(err) + ").");
}

struct OutputDeleter {
    void operator()(AVFormatContext* oc) const {
        if (oc == nullptr) return;
        if (oc->pb != nullptr && !(oc->oformat->flags & AVFMT_NOFILE)) avio_closep(&oc->pb);
        avformat_free_context(oc);
    }
};
struct CodecDeleter {
    void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct FrameDeleter {
    void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct PacketDeleter {
    void operator()(AVPacket* p) const { av_packet_free(&p); }
};
using OutputPtr = std::unique_ptr<AVFormatContext, OutputDeleter>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecDeleter>;
using FramePtr = std::unique_ptr<AVFrame, FrameDeleter>;
using PacketPtr = std::unique_ptr<AVPacket, PacketDeleter>;

bool supports_pix_fmt(const AVCodec* codec, AVPixelFormat fmt) {
    if (codec->pix_fmts == nullptr) return true;  // unknown: let avcodec_open2 decide
    for (const AVPixelFormat* p = codec->pix_fmts; *p != AV_PIX_FMT_NONE; ++p) {
        if (*p == fmt) return true;
    }
    return false;
}

AVPixelFormat pick_pix_fmt(const AVCodec* codec) {
    if (supports_pix_fmt(codec, AV_PIX_FMT_YUV420P)) return AV_PIX_FMT_YUV420P;
    if (supports_pix_fmt(codec, AV_PIX_FMT_NV12)) return AV_PIX_FMT_NV12;
    return AV_PIX_FMT_NONE;
}

// RGB (8-bit, interleaved) → Y'CbCr 4:2:0, BT.709, limited range, into a frame that may be one pixel
// larger than the image on either axis (the extra column/row repeats the edge).
void rgb_to_yuv420(const Image& rgb, AVFrame* f) {
    constexpr float kr = 0.2126f, kb = 0.0722f, kg = 1.f - kr - kb;
    const int W = f->width, H = f->height;
    auto px = [&](int x, int y) {
        x = std::min(x, rgb.width - 1);
        y = std::min(y, rgb.height - 1);
        return rgb.pixels.data() +
               (static_cast<std::size_t>(y) * static_cast<std::size_t>(rgb.width) + static_cast<std::size_t>(x)) * 3;
    };
    auto clamp8 = [](float v) { return static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L)); };
    for (int y = 0; y < H; ++y) {
        std::uint8_t* row = f->data[0] + static_cast<std::ptrdiff_t>(y) * f->linesize[0];
        for (int x = 0; x < W; ++x) {
            const std::uint8_t* p = px(x, y);
            row[x] = clamp8(16.f + (219.f / 255.f) * (kr * p[0] + kg * p[1] + kb * p[2]));
        }
    }
    const int cw = (W + 1) / 2, ch = (H + 1) / 2;
    const bool nv12 = f->format == AV_PIX_FMT_NV12;
    for (int cy = 0; cy < ch; ++cy) {
        for (int cx = 0; cx < cw; ++cx) {
            float cb = 0.f, cr = 0.f;
            int n = 0;
            for (int dy = 0; dy < 2; ++dy) {
                for (int dx = 0; dx < 2; ++dx) {
                    const int x = 2 * cx + dx, y = 2 * cy + dy;
                    if (x >= W || y >= H) continue;
                    const std::uint8_t* p = px(x, y);
                    const float luma = kr * p[0] + kg * p[1] + kb * p[2];
                    cb += (p[2] - luma) / (2.f * (1.f - kb));
                    cr += (p[0] - luma) / (2.f * (1.f - kr));
                    ++n;
                }
            }
            const std::uint8_t u = clamp8(128.f + (224.f / 255.f) * cb / static_cast<float>(n));
            const std::uint8_t v = clamp8(128.f + (224.f / 255.f) * cr / static_cast<float>(n));
            if (nv12) {
                std::uint8_t* row = f->data[1] + static_cast<std::ptrdiff_t>(cy) * f->linesize[1];
                row[2 * cx] = u;
                row[2 * cx + 1] = v;
            } else {
                f->data[1][static_cast<std::ptrdiff_t>(cy) * f->linesize[1] + cx] = u;
                f->data[2][static_cast<std::ptrdiff_t>(cy) * f->linesize[2] + cx] = v;
            }
        }
    }
}

std::string prompt_of(const ParameterList& parameters) {
    for (const auto& [key, value] : parameters) {
        if (key == "prompt") return value;
    }
    return {};
}

}  // namespace

std::string ffmpeg_encoder_for(VideoFormat format) {
    if (format == VideoFormat::Mp4) {
        for (const char* name : kH264Encoders) {
            if (const AVCodec* c = find_encoder(name); c && pick_pix_fmt(c) != AV_PIX_FMT_NONE) return name;
        }
    } else if (format == VideoFormat::WebM) {
        for (const char* name : kVP9Encoders) {
            if (find_encoder(name) != nullptr) return name;
        }
    }
    return {};
}

bool ffmpeg_can_encode(VideoFormat format) noexcept {
    try {
        const char* muxer = format == VideoFormat::Mp4 ? "mp4" : format == VideoFormat::WebM ? "webm" : nullptr;
        return muxer != nullptr && av_guess_format(muxer, nullptr, nullptr) != nullptr &&
               !ffmpeg_encoder_for(format).empty();
    } catch (...) {
        return false;
    }
}

Expected<void> encode_video_ffmpeg(const std::string& tmp_path, const std::string& display_path,
                                   const std::vector<Image>& frames_rgb, double fps,
                                   const VideoExportOptions& options) {
    quiet_ffmpeg_log();
    const bool mp4 = options.format == VideoFormat::Mp4;
    const char* muxer = mp4 ? "mp4" : "webm";
    const int width = frames_rgb[0].width;
    const int height = frames_rgb[0].height;
    // yuv420p H.264 needs even sizes: pad by one repeated column/row. VP9 codes odd sizes itself.
    const int enc_width = mp4 ? (width + 1) / 2 * 2 : width;
    const int enc_height = mp4 ? (height + 1) / 2 * 2 : height;
    const AVRational frame_rate = av_d2q(fps, 1001000);  // 8 → 8/1, 23.976 → 24000/1001
    const AVRational time_base = av_inv_q(frame_rate);

    AVFormatContext* raw_oc = nullptr;
    int err = avformat_alloc_output_context2(&raw_oc, nullptr, muxer, tmp_path.c_str());
    OutputPtr oc(raw_oc);
    if (err < 0 || !oc) {
        return make_error(ErrorCode::UnsupportedModel, std::string("This FFmpeg has no ") + muxer + " muxer (" +
                                                           av_error_text(err) + "); export as GIF or PNG frames.");
    }

    // Open the first encoder that accepts our settings.
    const int crf = options.crf >= 0 ? options.crf : (mp4 ? kDefaultCrfH264 : kDefaultCrfVP9);
    CodecPtr ctx;
    std::string tried;
    std::string encoder_name;
    const auto* names = mp4 ? std::begin(kH264Encoders) : std::begin(kVP9Encoders);
    const auto* names_end = mp4 ? std::end(kH264Encoders) : std::end(kVP9Encoders);
    for (const auto* it = names; it != names_end; ++it) {
        const AVCodec* codec = find_encoder(*it);
        if (codec == nullptr) continue;
        const AVPixelFormat pix_fmt = pick_pix_fmt(codec);
        if (pix_fmt == AV_PIX_FMT_NONE) continue;
        CodecPtr c(avcodec_alloc_context3(codec));
        if (!c) return make_error(ErrorCode::OutOfMemory, "Out of memory while setting up the video encoder.");
        c->width = enc_width;
        c->height = enc_height;
        c->pix_fmt = pix_fmt;
        c->time_base = time_base;
        c->framerate = frame_rate;
        c->sample_aspect_ratio = AVRational{1, 1};
        c->color_range = AVCOL_RANGE_MPEG;
        c->colorspace = AVCOL_SPC_BT709;
        c->color_primaries = AVCOL_PRI_BT709;
        c->color_trc = AVCOL_TRC_BT709;
        c->chroma_sample_location = AVCHROMA_LOC_CENTER;
        c->thread_count = 0;  // automatic
        if (oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
        AVDictionary* raw_opts = nullptr;
        const std::string crf_text = std::to_string(crf);
        if (std::strcmp(*it, "libx264") == 0) {
            av_dict_set(&raw_opts, "crf", crf_text.c_str(), 0);
            av_dict_set(&raw_opts, "preset", "medium", 0);  // x264 picks High profile (High 4:4:4 for CRF 0)
        } else if (std::strcmp(*it, "libvpx-vp9") == 0) {
            c->bit_rate = 0;  // with crf: constant quality
            av_dict_set(&raw_opts, "crf", crf_text.c_str(), 0);
            av_dict_set(&raw_opts, "deadline", "good", 0);
            av_dict_set(&raw_opts, "cpu-used", "2", 0);
            av_dict_set(&raw_opts, "row-mt", "1", 0);
        } else {
            // Other H.264 encoders have no common CRF: aim at ~0.2 bits per pixel (about x264 CRF 18-20).
            c->bit_rate = static_cast<std::int64_t>(0.2 * enc_width * enc_height * fps);
        }
        err = avcodec_open2(c.get(), codec, &raw_opts);
        av_dict_free(&raw_opts);
        if (err >= 0) {
            ctx = std::move(c);
            encoder_name = *it;
            break;
        }
        tried += std::string(tried.empty() ? "" : ", ") + *it + ": " + av_error_text(err);
        LOG_WARN("video encoder %s did not open: %s", *it, av_error_text(err).c_str());
    }
    if (!ctx) {
        const std::string what = mp4 ? "an H.264 encoder (libx264)" : "the VP9 encoder libvpx-vp9";
        return make_error(ErrorCode::UnsupportedModel,
                          "Cannot write " + display_path + ": this FFmpeg has no usable " + what +
                              (tried.empty() ? std::string() : " (tried " + tried + ")") +
                              ". Install FFmpeg's libavcodec with it (Debian's libavcodec59 has libx264 and libvpx), "
                              "or export as " +
                              (mp4 ? "WebM, " : "MP4, ") + "GIF or PNG frames.");
    }
    LOG_DEBUG("encoding %s with %s, %dx%d, %d/%d fps, crf %d", display_path.c_str(), encoder_name.c_str(), enc_width,
              enc_height, frame_rate.num, frame_rate.den, crf);

    AVStream* stream = avformat_new_stream(oc.get(), nullptr);
    if (stream == nullptr) return make_error(ErrorCode::OutOfMemory, "Out of memory while setting up the video file.");
    err = avcodec_parameters_from_context(stream->codecpar, ctx.get());
    if (err < 0) return ffmpeg_error(display_path, "copying the codec parameters", err);
    stream->time_base = ctx->time_base;
    stream->avg_frame_rate = frame_rate;

    // Metadata. MP4: QuickTime "mdta" keys (movflags use_metadata_tags; the iTunes-style list cannot hold
    // our own "kinora" key). WebM: Matroska tags (upper-cased by the muxer).
    if (!options.parameters.empty()) {
        av_dict_set(&oc->metadata, "comment", format_a1111_parameters(options.parameters).c_str(), 0);
        const std::string prompt = prompt_of(options.parameters);
        if (!prompt.empty()) av_dict_set(&oc->metadata, "description", prompt.c_str(), 0);
        av_dict_set(&oc->metadata, "kinora", format_parameters_json(options.parameters).c_str(), 0);
    }

    err = avio_open(&oc->pb, tmp_path.c_str(), AVIO_FLAG_WRITE);
    if (err < 0) return ffmpeg_error(display_path, "opening the file", err);
    AVDictionary* mux_opts = nullptr;
    if (mp4) av_dict_set(&mux_opts, "movflags", "+faststart+use_metadata_tags", 0);
    err = avformat_write_header(oc.get(), &mux_opts);
    av_dict_free(&mux_opts);
    if (err < 0) return ffmpeg_error(display_path, "writing the header", err);

    FramePtr frame(av_frame_alloc());
    PacketPtr packet(av_packet_alloc());
    if (!frame || !packet) return make_error(ErrorCode::OutOfMemory, "Out of memory while encoding the video.");
    frame->format = ctx->pix_fmt;
    frame->width = enc_width;
    frame->height = enc_height;
    frame->color_range = ctx->color_range;
    frame->colorspace = ctx->colorspace;
    frame->color_primaries = ctx->color_primaries;
    frame->color_trc = ctx->color_trc;
    frame->chroma_location = ctx->chroma_sample_location;
    frame->sample_aspect_ratio = ctx->sample_aspect_ratio;
    err = av_frame_get_buffer(frame.get(), 0);
    if (err < 0) return make_error(ErrorCode::OutOfMemory, "Out of memory for a video frame.");

    // Sends one frame (nullptr: flush) and writes every packet the encoder has ready.
    auto encode = [&](AVFrame* f) -> Expected<void> {
        int e = avcodec_send_frame(ctx.get(), f);
        if (e < 0) return ffmpeg_error(display_path, "encoding a frame", e);
        while (true) {
            e = avcodec_receive_packet(ctx.get(), packet.get());
            if (e == AVERROR(EAGAIN) || e == AVERROR_EOF) return {};
            if (e < 0) return ffmpeg_error(display_path, "encoding a frame", e);
            if (packet->duration == 0) packet->duration = 1;  // one frame in the codec time base
            av_packet_rescale_ts(packet.get(), ctx->time_base, stream->time_base);
            packet->stream_index = stream->index;
            e = av_interleaved_write_frame(oc.get(), packet.get());  // takes the packet's reference
            if (e < 0) return ffmpeg_error(display_path, "writing a frame", e);
            if (oc->pb->error < 0) return ffmpeg_error(display_path, "writing a frame", oc->pb->error);
        }
    };

    const int num_frames = static_cast<int>(frames_rgb.size());
    for (int i = 0; i < num_frames; ++i) {
        if (options.is_cancelled && options.is_cancelled()) {
            return make_error(ErrorCode::IoError, "Export of " + display_path + " cancelled; no file was written.");
        }
        err = av_frame_make_writable(frame.get());
        if (err < 0) return make_error(ErrorCode::OutOfMemory, "Out of memory for a video frame.");
        rgb_to_yuv420(frames_rgb[static_cast<std::size_t>(i)], frame.get());
        frame->pts = i;
        if (auto r = encode(frame.get()); !r) return r;
        if (options.on_progress) options.on_progress(i + 1, num_frames);
    }
    if (auto r = encode(nullptr); !r) return r;
    err = av_write_trailer(oc.get());  // for MP4 also the faststart pass (moov moved to the front)
    if (err < 0) return ffmpeg_error(display_path, "finishing the file", err);
    avio_flush(oc->pb);
    if (oc->pb->error < 0) return ffmpeg_error(display_path, "writing the file", oc->pb->error);
    err = avio_closep(&oc->pb);
    if (err < 0) return ffmpeg_error(display_path, "closing the file", err);
    return sync_file(display_path, tmp_path);
}

}  // namespace engine::media
