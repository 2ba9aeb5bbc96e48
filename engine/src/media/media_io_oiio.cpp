// Image files through OpenImageIO: any common format in, PNG (with text chunks) out.
//
// Reading goes through ImageInput (not ImageBuf, whose shared ImageCache could serve a stale copy of a
// file rewritten under the same name) in strips of rows, converting each strip to 8 bits at once, so
// a large picture never exists as float in memory.
#include <OpenImageIO/imageio.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "core/log.h"
#include "engine/media_io.h"
#include "media/file_util.h"
#include "media/image_ops.h"

namespace engine {
namespace {

std::string lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
}

// Common failures before any decoding: missing file, folder.
Expected<void> check_readable_file(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        const int err = errno;
        std::string hint = err == ENOENT ? " Check the file name." : "";
        return make_error(ErrorCode::IoError, "Cannot open " + path + ": " + std::strerror(err) + "." + hint);
    }
    if (S_ISDIR(st.st_mode)) {
        return make_error(ErrorCode::InvalidRequest, path + " is a folder, not an image.");
    }
    return {};
}

std::unique_ptr<OIIO::ImageInput> open_image(const std::string& path, std::string& why) {
    // Keep unassociated (straight) alpha as stored; without this hint OIIO premultiplies PNG/TIFF alpha.
    OIIO::ImageSpec config;
    config.attribute("oiio:UnassociatedAlpha", 1);
    auto in = OIIO::ImageInput::open(path, &config);
    if (!in) {
        why = OIIO::geterror();
    }
    return in;
}

Unexpected not_an_image(const std::string& path, const std::string& why) {
    return make_error(ErrorCode::InvalidRequest, path + " is not an image Kinora can read (" +
                                                     (why.empty() ? "unknown format" : why) +
                                                     "). Use PNG, JPEG, WebP, TIFF or EXR.");
}

int orientation_of(const OIIO::ImageSpec& spec) {
    const int o = spec.get_int_attribute("Orientation", 1);
    return (o >= 1 && o <= 8) ? o : 1;
}

bool is_linear(const OIIO::ImageSpec& spec, const std::string& format) {
    const std::string cs = lower(spec.get_string_attribute("oiio:ColorSpace"));
    if (cs == "linear" || cs == "scene_linear" || cs == "lin_srgb" || cs == "lin_rec709" || cs == "acescg") {
        return true;
    }
    // EXR and Radiance HDR hold scene-linear values by convention even when untagged.
    return cs.empty() && (format == "openexr" || format == "hdr");
}

std::string size_text(std::int64_t w, std::int64_t h) {
    return std::to_string(w) + "x" + std::to_string(h);
}

}  // namespace

bool has_image_io() noexcept {
    return true;
}

Expected<void> write_png(const std::string& path, const Image& image, const ParameterList& parameters) {
    if (!image.is_consistent()) {
        return make_error(ErrorCode::Internal, "write_png: the image buffer does not match its size");
    }
    return media::produce_file_atomically(path, [&](const std::string& tmp) -> Expected<void> {
        auto out = OIIO::ImageOutput::create("png");
        if (!out) {
            return make_error(ErrorCode::Internal, "OpenImageIO has no PNG writer: " + OIIO::geterror());
        }
        OIIO::ImageSpec spec(image.width, image.height, image.channels, OIIO::TypeDesc::UINT8);
        spec.attribute("parameters", format_a1111_parameters(parameters));
        spec.attribute("kinora", format_parameters_json(parameters));
        spec.attribute("Software", "Kinora");
        if (image.channels == 4) {
            // Our pixels are straight alpha; without this OIIO treats them as premultiplied and divides.
            spec.attribute("oiio:UnassociatedAlpha", 1);
        }
        errno = 0;
        if (!out->open(tmp, spec)) {
            const int err = errno;
            if (err != 0) return Unexpected{media::io_error_for(path, err)};
            return make_error(ErrorCode::IoError, "Cannot write " + path + ": " + out->geterror());
        }
        // OIIO's PNG writer reports a failed fwrite() (full disk) only as an error message and still
        // returns true, so the messages count as failure too.
        const bool wrote = out->write_image(OIIO::TypeDesc::UINT8, image.pixels.data());
        const int err_write = errno;
        std::string message = out->geterror();
        const bool closed = out->close();
        const int err_close = errno;
        const std::string close_message = out->geterror();
        if (message.empty()) message = close_message;
        if (!wrote || !closed || !message.empty()) {
            if (err_write != 0) return Unexpected{media::io_error_for(path, err_write)};
            if (err_close != 0) return Unexpected{media::io_error_for(path, err_close)};
            return make_error(ErrorCode::IoError, "Cannot write " + path + ": " + message);
        }
        return media::sync_file(path, tmp);
    });
}

Expected<ParameterList> read_png_text(const std::string& path) {
    if (auto ok = check_readable_file(path); !ok) {
        return Unexpected{ok.error()};
    }
    auto in = OIIO::ImageInput::open(path);
    if (!in) {
        return not_an_image(path, OIIO::geterror());
    }
    ParameterList out;
    for (const auto& p : in->spec().extra_attribs) {
        const std::string name = p.name().string();
        if (p.type() == OIIO::TypeDesc::STRING && name.rfind("oiio:", 0) != 0) {
            out.emplace_back(name, p.get_string());
        }
    }
    in->close();
    return out;
}

Expected<ImageInfo> read_image_info(const std::string& path) {
    if (auto ok = check_readable_file(path); !ok) {
        return Unexpected{ok.error()};
    }
    std::string why;
    auto in = open_image(path, why);
    if (!in) {
        return not_an_image(path, why);
    }
    const OIIO::ImageSpec& spec = in->spec();
    ImageInfo info;
    info.orientation = orientation_of(spec);
    const bool swap = info.orientation >= 5;
    info.width = swap ? spec.height : spec.width;
    info.height = swap ? spec.width : spec.height;
    info.channels = spec.nchannels;
    info.has_alpha = spec.alpha_channel >= 0;
    info.bits_per_channel = static_cast<int>(spec.format.size() * 8);
    info.format = in->format_name();
    in->close();
    return info;
}

Expected<Image> read_image(const std::string& path) {
    if (auto ok = check_readable_file(path); !ok) {
        return Unexpected{ok.error()};
    }
    std::string why;
    auto in = open_image(path, why);
    if (!in) {
        return not_an_image(path, why);
    }
    const OIIO::ImageSpec spec = in->spec();
    const std::string format = in->format_name();
    if (spec.width <= 0 || spec.height <= 0 || spec.nchannels <= 0 || spec.depth > 1) {
        return make_error(ErrorCode::InvalidRequest, path + " has no 2-D pixels (" +
                                                         size_text(spec.width, spec.height) + ", " +
                                                         std::to_string(spec.nchannels) + " channels).");
    }
    const std::int64_t num_pixels = static_cast<std::int64_t>(spec.width) * static_cast<std::int64_t>(spec.height);
    if (num_pixels > kMaxImagePixels) {
        return make_error(ErrorCode::InvalidRequest,
                          path + " is " + size_text(spec.width, spec.height) + " (" +
                              std::to_string(num_pixels / 1000000) + " megapixels); Kinora reads images up to " +
                              std::to_string(kMaxImagePixels / 1000000) +
                              " megapixels. Scale it down first (the models use well under 1 megapixel).");
    }

    // Which file channels hold colour and alpha.
    const int alpha = (spec.alpha_channel >= 0 && spec.alpha_channel < spec.nchannels) ? spec.alpha_channel : -1;
    const bool rgb = spec.nchannels >= 3 && (alpha < 0 || alpha >= 3);
    const int num_read = std::max(rgb ? 3 : 1, alpha + 1);  // channels [0, num_read) are read
    const bool associated = alpha >= 0 && spec.get_int_attribute("oiio:UnassociatedAlpha", 0) == 0;
    const bool linear = is_linear(spec, format);

    Image stored;
    stored.width = spec.width;
    stored.height = spec.height;
    stored.channels = alpha >= 0 ? 4 : 3;
    stored.pixels.resize(static_cast<std::size_t>(num_pixels) * static_cast<std::size_t>(stored.channels));

    // Strips of rows as float: OIIO converts any bit depth (8/16/32-bit, half, float) to [0, 1].
    const int strip_rows =
        std::max(1, std::min(spec.height, static_cast<int>((4 << 20) / (std::max(1, spec.width) * num_read))));
    std::vector<float> strip(static_cast<std::size_t>(strip_rows) * static_cast<std::size_t>(spec.width) *
                             static_cast<std::size_t>(num_read));
    for (int y0 = 0; y0 < spec.height; y0 += strip_rows) {
        const int y1 = std::min(spec.height, y0 + strip_rows);
        if (!in->read_scanlines(0, 0, spec.y + y0, spec.y + y1, 0, 0, num_read, OIIO::TypeDesc::FLOAT, strip.data())) {
            std::string err = in->geterror();
            return make_error(ErrorCode::InvalidRequest, "Cannot decode " + path + " (corrupt or truncated file): " +
                                                             (err.empty() ? "read error" : err) +
                                                             ". Re-export or re-download the picture.");
        }
        const std::size_t n = static_cast<std::size_t>(y1 - y0) * static_cast<std::size_t>(spec.width);
        std::uint8_t* dst = stored.pixels.data() + static_cast<std::size_t>(y0) * static_cast<std::size_t>(spec.width) *
                                                       static_cast<std::size_t>(stored.channels);
        for (std::size_t i = 0; i < n; ++i) {
            const float* s = strip.data() + i * static_cast<std::size_t>(num_read);
            std::uint8_t* d = dst + i * static_cast<std::size_t>(stored.channels);
            float c[3] = {s[0], rgb ? s[1] : s[0], rgb ? s[2] : s[0]};
            const float a = alpha >= 0 ? s[alpha] : 1.f;
            if (associated) {  // premultiplied in the file (EXR, WebP, associated TIFF): make it straight
                for (float& v : c) v = a > 0.f ? v / a : 0.f;
            }
            for (int ch = 0; ch < 3; ++ch) {
                d[ch] = media::unit_to_u8(linear ? media::linear_to_srgb(c[ch]) : c[ch]);
            }
            if (alpha >= 0) {
                d[3] = media::unit_to_u8(a);
            }
        }
    }
    // A decoder may "succeed" on a damaged file and only leave a message: libjpeg fills the rest of a
    // truncated JPEG with grey and warns "Premature end of JPEG file".
    const std::string late = in->geterror();
    in->close();
    if (!late.empty()) {
        const std::string l = lower(late);
        if (l.find("premature end") != std::string::npos || l.find("truncat") != std::string::npos ||
            l.find("end of file") != std::string::npos) {
            return make_error(ErrorCode::InvalidRequest, "Cannot decode " + path + ": the file is truncated (" + late +
                                                             "). Re-export or re-download the picture.");
        }
        LOG_WARN("%s decoded with a warning: %s", path.c_str(), late.c_str());
    }
    return media::apply_exif_orientation(std::move(stored), orientation_of(spec));
}

}  // namespace engine
