// write_video(): checks, the formats that need no FFmpeg (GIF, PNG frames), and the dispatch to the
// FFmpeg encoders (video_encoder_ffmpeg.cpp) for MP4 and WebM.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/media_io.h"
#include "media/file_util.h"
#include "media/gif_encoder.h"
#include "media/video_encoder.h"

namespace engine {
namespace {

std::string lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

Expected<void> check_video(const std::string& path, const VideoFrames& video, const VideoExportOptions& options) {
    if (path.empty()) {
        return make_error(ErrorCode::InvalidRequest, "No file name given for the video.");
    }
    if (options.format == VideoFormat::None) {
        return make_error(ErrorCode::InvalidRequest, "No video format chosen; pick MP4, WebM, GIF or PNG frames.");
    }
    if (video.frames.empty()) {
        return make_error(ErrorCode::InvalidRequest, "The clip has no frames to write to " + path + ".");
    }
    if (!std::isfinite(video.fps) || video.fps <= 0.0 || video.fps > 1000.0) {
        return make_error(ErrorCode::InvalidRequest,
                          "The clip's frame rate " + std::to_string(video.fps) + " is not in (0, 1000] fps.");
    }
    const Image& first = video.frames.front();
    for (std::size_t i = 0; i < video.frames.size(); ++i) {
        const Image& f = video.frames[i];
        if (!f.is_consistent()) {
            return make_error(
                ErrorCode::InvalidRequest,
                "Frame " + std::to_string(i + 1) + " of the clip is empty or its buffer does not match its size.");
        }
        if (f.width != first.width || f.height != first.height) {
            return make_error(ErrorCode::InvalidRequest,
                              "Frame " + std::to_string(i + 1) + " is " + std::to_string(f.width) + "x" +
                                  std::to_string(f.height) + " but the first is " + std::to_string(first.width) + "x" +
                                  std::to_string(first.height) + "; all frames of a video must have the same size.");
        }
    }
    const int max_crf = options.format == VideoFormat::Mp4 ? 51 : 63;
    if ((options.format == VideoFormat::Mp4 || options.format == VideoFormat::WebM) &&
        (options.crf < -1 || options.crf > max_crf)) {
        return make_error(ErrorCode::InvalidRequest, "CRF " + std::to_string(options.crf) + " is out of range for " +
                                                         to_string(options.format) + " (0.." + std::to_string(max_crf) +
                                                         ", or -1 for the default).");
    }
    return {};
}

std::vector<Image> to_rgb(const VideoFrames& video) {
    std::vector<Image> out;
    out.reserve(video.frames.size());
    for (const Image& f : video.frames) out.push_back(flatten_alpha(f, 255));
    return out;
}

std::string frame_name(std::size_t index, std::size_t count) {
    std::size_t digits = 4;
    for (std::size_t n = count; n >= 10000; n /= 10) ++digits;
    std::string number = std::to_string(index + 1);
    if (number.size() < digits) number.insert(0, digits - number.size(), '0');
    return "frame_" + number + ".png";
}

Expected<void> write_png_sequence(const std::string& path, const VideoFrames& video,
                                  const VideoExportOptions& options) {
    return media::produce_folder_atomically(path, [&](const std::string& tmp_dir) -> Expected<void> {
        const std::size_t n = video.frames.size();
        char fps_text[32];
        std::snprintf(fps_text, sizeof fps_text, "%g", video.fps);
        for (std::size_t i = 0; i < n; ++i) {
            if (options.is_cancelled && options.is_cancelled()) {
                return make_error(ErrorCode::IoError, "Export of " + path + " cancelled; no folder was written.");
            }
            ParameterList params = options.parameters;
            params.emplace_back("frame", std::to_string(i + 1) + "/" + std::to_string(n));
            params.emplace_back("fps", fps_text);
            const std::string name = frame_name(i, n);
            if (auto w = write_png(tmp_dir + "/" + name, video.frames[i], params); !w) {
                // Name the user's folder, not our temporary one.
                Error e = w.error();
                const std::string::size_type at = e.message.find(tmp_dir);
                if (at != std::string::npos) e.message.replace(at, tmp_dir.size(), path);
                return Unexpected{e};
            }
            if (options.on_progress) options.on_progress(static_cast<int>(i + 1), static_cast<int>(n));
        }
        return {};
    });
}

}  // namespace

const char* to_string(VideoFormat format) noexcept {
    switch (format) {
        case VideoFormat::None:
            return "none";
        case VideoFormat::Mp4:
            return "mp4";
        case VideoFormat::WebM:
            return "webm";
        case VideoFormat::Gif:
            return "gif";
        case VideoFormat::PngSequence:
            return "png_sequence";
    }
    return "unknown";
}

VideoFormat video_format_from_string(const std::string& name) noexcept {
    const std::string n = lower(name);
    if (n == "mp4") return VideoFormat::Mp4;
    if (n == "webm") return VideoFormat::WebM;
    if (n == "gif") return VideoFormat::Gif;
    if (n == "png_sequence" || n == "png") return VideoFormat::PngSequence;
    return VideoFormat::None;
}

const char* video_format_extension(VideoFormat format) noexcept {
    switch (format) {
        case VideoFormat::Mp4:
            return ".mp4";
        case VideoFormat::WebM:
            return ".webm";
        case VideoFormat::Gif:
            return ".gif";
        case VideoFormat::PngSequence:
        case VideoFormat::None:
            return "";
    }
    return "";
}

VideoFormat video_format_for_path(const std::string& path) noexcept {
    std::string p = path;
    while (!p.empty() && p.back() == '/') p.pop_back();
    const std::string::size_type slash = p.find_last_of('/');
    const std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
    if (name.empty()) return VideoFormat::None;
    const std::string::size_type dot = name.find_last_of('.');
    if (dot == std::string::npos || dot == 0) return VideoFormat::PngSequence;
    const std::string ext = lower(name.substr(dot));
    if (ext == ".mp4" || ext == ".m4v") return VideoFormat::Mp4;
    if (ext == ".webm") return VideoFormat::WebM;
    if (ext == ".gif") return VideoFormat::Gif;
    return VideoFormat::None;
}

bool has_video_export() noexcept {
    return media::ffmpeg_can_encode(VideoFormat::Mp4) || media::ffmpeg_can_encode(VideoFormat::WebM);
}

std::vector<VideoFormat> available_video_formats() {
    std::vector<VideoFormat> out;
    if (media::ffmpeg_can_encode(VideoFormat::Mp4)) out.push_back(VideoFormat::Mp4);
    if (media::ffmpeg_can_encode(VideoFormat::WebM)) out.push_back(VideoFormat::WebM);
    out.push_back(VideoFormat::Gif);
    out.push_back(VideoFormat::PngSequence);
    return out;
}

Expected<void> write_video(const std::string& path, const VideoFrames& video, const VideoExportOptions& options) {
    if (auto ok = check_video(path, video, options); !ok) {
        return ok;
    }
    switch (options.format) {
        case VideoFormat::PngSequence:
            return write_png_sequence(path, video, options);
        case VideoFormat::Gif: {
            media::GifEncodeOptions gif;
            gif.fps = video.fps;
            gif.dither = options.gif_dither;
            gif.loop_count = options.gif_loop_count;
            if (!options.parameters.empty()) {
                gif.comments = {format_a1111_parameters(options.parameters),
                                "kinora " + format_parameters_json(options.parameters)};
            }
            gif.is_cancelled = options.is_cancelled;
            gif.on_progress = options.on_progress;
            auto bytes = media::encode_gif(to_rgb(video), gif);
            if (!bytes) {
                Error e = bytes.error();
                if (e.code == ErrorCode::IoError) e.message = "Export of " + path + " cancelled; no file was written.";
                return Unexpected{e};
            }
            return media::write_file_atomically(path, bytes.value());
        }
        case VideoFormat::Mp4:
        case VideoFormat::WebM: {
            const std::vector<Image> rgb = to_rgb(video);
            return media::produce_file_atomically(path, [&](const std::string& tmp) {
                return media::encode_video_ffmpeg(tmp, path, rgb, video.fps, options);
            });
        }
        case VideoFormat::None:
            break;
    }
    return make_error(ErrorCode::InvalidRequest, "Unknown video format.");
}

}  // namespace engine
