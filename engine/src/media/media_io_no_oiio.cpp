// Built without OpenImageIO (GPU machines): PNG writing with our own encoder; no image reading.
#include <string>

#include "engine/media_io.h"
#include "media/file_util.h"
#include "media/png_encoder.h"

namespace engine {

bool has_image_io() noexcept {
    return false;
}

Expected<void> write_png(const std::string& path, const Image& image, const ParameterList& parameters) {
    if (!image.is_consistent()) {
        return make_error(ErrorCode::Internal, "write_png: the image buffer does not match its size");
    }
    ParameterList chunks = {{"parameters", format_a1111_parameters(parameters)},
                            {"kinora", format_parameters_json(parameters)},
                            {"Software", "Kinora"}};
    return media::write_file_atomically(path, media::encode_png_stored(image, chunks));
}

Expected<ParameterList> read_png_text(const std::string& path) {
    return make_error(ErrorCode::UnsupportedModel,
                      "Cannot read " + path + ": this build has no image reader (built without OpenImageIO).");
}

Expected<ImageInfo> read_image_info(const std::string& path) {
    return make_error(ErrorCode::UnsupportedModel,
                      "Cannot read " + path + ": this build has no image reader (built without OpenImageIO).");
}

Expected<Image> read_image(const std::string& path) {
    return make_error(ErrorCode::UnsupportedModel,
                      "Cannot read " + path + ": this build has no image reader (built without OpenImageIO).");
}

}  // namespace engine
