// Built without FFmpeg (KINORA_WITH_FFMPEG=OFF, the GPU machines): MP4 and WebM fail with a clear
// message; GIF and PNG frames do not need FFmpeg.
#include "media/video_encoder.h"

namespace engine::media {

Expected<void> encode_video_ffmpeg(const std::string& /*tmp_path*/, const std::string& display_path,
                                   const std::vector<Image>& /*frames_rgb*/, double /*fps*/,
                                   const VideoExportOptions& options) {
    return make_error(ErrorCode::UnsupportedModel,
                      std::string("Cannot write ") + display_path + ": " + to_string(options.format) +
                          " export needs FFmpeg, and this build of Kinora was made without it "
                          "(KINORA_WITH_FFMPEG=OFF). Export as GIF or PNG frames instead, or use a build with FFmpeg.");
}

bool ffmpeg_can_encode(VideoFormat /*format*/) noexcept {
    return false;
}

std::string ffmpeg_encoder_for(VideoFormat /*format*/) {
    return {};
}

}  // namespace engine::media
