// Reading and writing the user's media files: images in (any common format), PNG out with the
// generation parameters embedded, video out (MP4, WebM, GIF, PNG frames), and the image preparation
// that image-to-video needs.
//
//     auto img = engine::read_image("photo.jpg");             // RGB/RGBA 8-bit, EXIF orientation applied
//     if (!img) { show(img.error().message); return; }
//     auto cond = engine::prepare_conditioning_image(*img, 512, 320);  // alpha on white, cover + centre crop
//
//     engine::write_png("out.png", result.image, result.parameters);
//
//     engine::VideoExportOptions opts;
//     opts.format = engine::VideoFormat::Mp4;                 // H.264, yuv420p, CRF 18, +faststart
//     opts.parameters = result.parameters;                    // stored as container tags
//     if (auto w = engine::write_video("clip.mp4", result.video, opts); !w) show(w.error().message);
//
// Thread safety: free functions without shared state; call from any thread, also concurrently (each call
// works on its own files; the callbacks in VideoExportOptions run on the calling thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/events.h"
#include "engine/media.h"

namespace engine {

// ---------------------------------------------------------------------------------------------------
// Images in

/// read_image() refuses images with more pixels than this (width × height): 120 megapixels holds every
/// camera up to medium format; above it a wrong or hostile header would make us allocate gigabytes.
inline constexpr std::int64_t kMaxImagePixels = 120'000'000;

/// What a file's header says, without decoding its pixels.
struct ImageInfo {
    int width = 0;  // as displayed: after the EXIF orientation (90° turns swap width and height)
    int height = 0;
    int channels = 0;  // in the file (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA, more for EXR layers)
    bool has_alpha = false;
    int bits_per_channel = 0;  // 8, 16, 32 (float), ...
    int orientation = 1;       // EXIF orientation 1..8 (1 = upright)
    std::string format;        // OpenImageIO's format name: "png", "jpeg", "webp", "tiff", "openexr", ...
};

/// Reads an image's header (size, channels, orientation) cheaply, e.g. to check a minimum size before
/// decoding. Fails like read_image() for missing files and non-images.
Expected<ImageInfo> read_image_info(const std::string& path);

/// Reads an image file (PNG, JPEG, WebP, TIFF, EXR, BMP, ...) as 8-bit RGB, or RGBA when it has alpha.
/// - EXIF orientation (1..8) is applied, so the pixels are upright as viewers show them.
/// - Grey becomes RGB (R = G = B); 16-bit and float sources are rounded to 8 bits.
/// - Linear sources (EXR, HDR) are converted to sRGB (clipped to [0, 1], no tone mapping).
/// - Alpha is returned straight (not premultiplied), also for premultiplied sources (EXR, WebP,
///   associated-alpha TIFF); use flatten_alpha() to composite it for a model.
/// - No colour management: ICC profiles (Display P3, Adobe RGB) are ignored; values are taken as sRGB.
/// Fails with a clear message for missing files, folders, non-images, corrupt or truncated files
/// (including JPEGs that libjpeg would silently fill with grey) and images above kMaxImagePixels.
Expected<Image> read_image(const std::string& path);

/// True when this build can read and write images with OpenImageIO (else only PNG writing works).
bool has_image_io() noexcept;

// ---------------------------------------------------------------------------------------------------
// Image preparation (torch-free; what the image-to-video pipelines feed the model)

/// Composites an RGBA image on a flat background (`background` for R, G and B; 255 = white, as a
/// browser or image viewer shows a transparent picture on a white page) and returns RGB; straight alpha,
/// in sRGB values, like browsers. RGB is returned unchanged, grey is expanded to RGB.
Image flatten_alpha(const Image& image, std::uint8_t background = 255);

/// Scales an image to cover width × height while preserving its aspect ratio, then crops the centre
/// ("cover", as CSS object-fit). Filter: triangle (bilinear) with its support widened by the
/// downscale factor, i.e. antialiased like PIL's Image.resize(BILINEAR), which DynamiCrafter's
/// torchvision Resize + CenterCrop runs on its PIL input; same size rounding (int()) and crop offsets
/// (round-half-even). Alpha, if any, is resized like the colours. Fails on an empty image or size <= 0.
Expected<Image> resize_cover(const Image& image, int width, int height);

/// What an image-to-video pipeline conditions on: flatten_alpha() on white, then resize_cover() to the
/// model's width × height. RGB out.
Expected<Image> prepare_conditioning_image(const Image& image, int width, int height);

// ---------------------------------------------------------------------------------------------------
// Images out

/// Writes an 8-bit PNG (straight alpha). The parameters go in as an A1111-style "parameters" text chunk
/// (prompt, "Negative prompt: ...", "Steps: N, Sampler: ..., Seed: ...") and as a "kinora" JSON chunk.
/// Writes to a temporary file first and renames, so a failure (full disk) leaves no partial file.
Expected<void> write_png(const std::string& path, const Image& image, const ParameterList& parameters);

/// Reads the text chunks of a PNG (key → value), e.g. to restore parameters from a result.
Expected<ParameterList> read_png_text(const std::string& path);

/// A1111-style "parameters" text of a result ("<prompt>\nNegative prompt: ...\nSteps: 20, ...").
std::string format_a1111_parameters(const ParameterList& parameters);
/// The same parameters as one JSON object.
std::string format_parameters_json(const ParameterList& parameters);

// ---------------------------------------------------------------------------------------------------
// Video out

/// Video file formats. None is never valid.
enum class VideoFormat {
    None = 0,
    Mp4,          // H.264 (libx264, else another H.264 encoder), yuv420p, CRF; needs FFmpeg
    WebM,         // VP9 (libvpx-vp9), yuv420p, constant quality; needs FFmpeg
    Gif,          // 256-colour palette (median cut over all frames, Floyd-Steinberg dither), looping
    PngSequence,  // a folder of numbered 8-bit PNGs (frame_0001.png, ...), each with the parameters
};

/// Stable lower-case name: "mp4", "webm", "gif", "png_sequence" ("none" for None).
const char* to_string(VideoFormat format) noexcept;
/// Parses to_string()'s names (and "png" for PngSequence); None when unknown.
VideoFormat video_format_from_string(const std::string& name) noexcept;
/// The file extension with its dot (".mp4", ".webm", ".gif"; "" for PngSequence, which is a folder).
const char* video_format_extension(VideoFormat format) noexcept;
/// Picks the format from a path's extension (.mp4/.m4v, .webm, .gif; no extension: PngSequence);
/// None for anything else.
VideoFormat video_format_for_path(const std::string& path) noexcept;

/// How write_video() encodes.
struct VideoExportOptions {
    VideoFormat format = VideoFormat::Mp4;
    /// Constant quality: -1 = the format's default (MP4: CRF 18, visually lossless for x264; WebM: CRF 30).
    /// H.264 takes 0..51, VP9 0..63; lower is better and larger. H.264 CRF 0 is lossless (High 4:4:4
    /// Predictive profile, which browsers do not play). Ignored by GIF and PNG frames.
    int crf = -1;
    /// Stored with the video: MP4/WebM tags "comment" (A1111 text), "description" (the prompt) and
    /// "kinora" (JSON); GIF comment extensions; PNG text chunks in every frame.
    ParameterList parameters;
    /// GIF: Floyd-Steinberg error diffusion against the palette (smoother gradients, larger file).
    bool gif_dither = true;
    /// GIF: times to play; 0 = loop forever.
    int gif_loop_count = 0;
    /// Polled before every frame; returning true stops the export, removes the partial output and
    /// makes write_video() fail with an IoError whose message says it was cancelled.
    std::function<bool()> is_cancelled;
    /// Called after every encoded frame (frames_done = 1..num_frames).
    std::function<void(int frames_done, int num_frames)> on_progress;
};

/// Writes a clip. All frames must have the same size (1 grey, 3 RGB or 4 RGBA channels; alpha is
/// composited on white except in PNG frames, which keep it) and fps must be in (0, 1000].
/// - MP4 and WebM need even sizes for yuv420p: MP4 pads an odd width or height by one pixel, repeating
///   the last column/row (no resampling; the extra pixel is the edge colour); VP9 stores odd sizes as is.
/// - The output is written to a temporary file (or folder) beside `path` and renamed when complete, so
///   a failure or cancellation leaves nothing behind. A PNG sequence refuses a non-empty existing folder.
/// Errors: InvalidRequest (no frames, mixed sizes, bad fps/crf, unknown format), UnsupportedModel (this
/// build or this FFmpeg lacks the encoder; the message names it and what to use instead), IoError
/// (permissions, full disk, cancelled).
Expected<void> write_video(const std::string& path, const VideoFrames& video, const VideoExportOptions& options);

/// True when this build encodes video files with FFmpeg (MP4 or WebM available). GIF and PNG frames
/// need no FFmpeg and are always available.
bool has_video_export() noexcept;

/// The formats write_video() can produce in this build, in menu order (checked against FFmpeg's
/// encoders at run time).
std::vector<VideoFormat> available_video_formats();

}  // namespace engine
