// Image files through OpenImageIO: any common format in, PNG (with text chunks) out.
#include <OpenImageIO/imagebuf.h>
#include <OpenImageIO/imagebufalgo.h>
#include <OpenImageIO/imageio.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "engine/media_io.h"
#include "media/file_util.h"

namespace engine {

bool has_image_io() noexcept { return true; }

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
        errno = 0;
        if (!out->open(tmp, spec)) {
            const int err = errno;
            if (err != 0) return Unexpected{media::io_error_for(path, err)};
            return make_error(ErrorCode::IoError, "Cannot write " + path + ": " + out->geterror());
        }
        const bool wrote = out->write_image(OIIO::TypeDesc::UINT8, image.pixels.data());
        const int err_write = errno;
        const bool closed = out->close();
        if (!wrote || !closed) {
            if (err_write != 0) return Unexpected{media::io_error_for(path, err_write)};
            return make_error(ErrorCode::IoError, "Cannot write " + path + ": " + out->geterror());
        }
        return {};
    });
}

Expected<ParameterList> read_png_text(const std::string& path) {
    auto in = OIIO::ImageInput::open(path);
    if (!in) {
        return make_error(ErrorCode::IoError, "Cannot read " + path + ": " + OIIO::geterror());
    }
    ParameterList out;
    for (const auto& p : in->spec().extra_attribs) {
        if (p.type() == OIIO::TypeDesc::STRING) {
            out.emplace_back(p.name().string(), p.get_string());
        }
    }
    in->close();
    return out;
}

Expected<Image> read_image(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        return make_error(ErrorCode::IoError, "Cannot open " + path + ": " + std::strerror(errno) + ".");
    }
    if (S_ISDIR(st.st_mode)) {
        return make_error(ErrorCode::InvalidRequest, path + " is a folder, not an image.");
    }
    auto in = OIIO::ImageInput::open(path);
    if (!in) {
        std::string why = OIIO::geterror();
        return make_error(ErrorCode::InvalidRequest,
                          path + " is not an image Kinora can read (" + (why.empty() ? "unknown format" : why) +
                              "). Use PNG, JPEG, WebP, TIFF or EXR.");
    }
    const OIIO::ImageSpec spec = in->spec();
    in->close();
    if (spec.width <= 0 || spec.height <= 0 || spec.nchannels <= 0) {
        return make_error(ErrorCode::InvalidRequest, path + " has no pixels.");
    }
    OIIO::ImageBuf buf(path);
    if (!buf.read(0, 0, true, OIIO::TypeDesc::FLOAT)) {
        return make_error(ErrorCode::InvalidRequest,
                          "Cannot decode " + path + " (corrupt or truncated?): " + buf.geterror());
    }
    if (buf.has_error()) {
        return make_error(ErrorCode::InvalidRequest, "Cannot decode " + path + ": " + buf.geterror());
    }
    // Apply EXIF orientation so the picture is upright as viewers show it.
    buf = OIIO::ImageBufAlgo::reorient(buf);
    // Linear HDR sources (EXR, HDR) to sRGB.
    const std::string colorspace = spec.get_string_attribute("oiio:ColorSpace");
    if (colorspace == "Linear" || colorspace == "linear" || colorspace == "scene_linear") {
        buf = OIIO::ImageBufAlgo::colorconvert(buf, "linear", "sRGB");
    }
    const int nch = buf.nchannels();
    const int alpha = buf.spec().alpha_channel;
    Image out;
    out.width = buf.spec().width;
    out.height = buf.spec().height;
    out.channels = (alpha >= 0 && nch >= 2) ? 4 : 3;
    std::vector<float> px(static_cast<size_t>(out.width) * static_cast<size_t>(out.height) * static_cast<size_t>(nch));
    if (!buf.get_pixels(OIIO::ROI::All(), OIIO::TypeDesc::FLOAT, px.data())) {
        return make_error(ErrorCode::InvalidRequest, "Cannot decode " + path + ": " + buf.geterror());
    }
    out.pixels.resize(static_cast<size_t>(out.width) * static_cast<size_t>(out.height) *
                      static_cast<size_t>(out.channels));
    auto to8 = [](float v) {
        v = v < 0.f ? 0.f : (v > 1.f ? 1.f : v);
        return static_cast<std::uint8_t>(v * 255.f + 0.5f);
    };
    const size_t n = static_cast<size_t>(out.width) * static_cast<size_t>(out.height);
    for (size_t i = 0; i < n; ++i) {
        const float* s = px.data() + i * static_cast<size_t>(nch);
        std::uint8_t* d = out.pixels.data() + i * static_cast<size_t>(out.channels);
        if (nch >= 3 && !(alpha >= 0 && alpha < 3)) {
            d[0] = to8(s[0]);
            d[1] = to8(s[1]);
            d[2] = to8(s[2]);
        } else {  // grey (+ alpha)
            d[0] = d[1] = d[2] = to8(s[0]);
        }
        if (out.channels == 4) {
            d[3] = to8(s[alpha]);
        }
    }
    return out;
}

}  // namespace engine
