// The FFmpeg side of write_video(): MP4 (H.264) and WebM (VP9). Implemented in video_encoder_ffmpeg.cpp,
// or in video_encoder_no_ffmpeg.cpp (clear errors) when the build has no FFmpeg.
#pragma once

#include <string>
#include <vector>

#include "engine/media_io.h"

namespace engine::media {

/// Encodes RGB frames (3 channels, equal sizes, already validated) as MP4 or WebM into tmp_path; errors
/// name display_path. The caller renames tmp_path on success and removes it on failure.
Expected<void> encode_video_ffmpeg(const std::string& tmp_path, const std::string& display_path,
                                   const std::vector<Image>& frames_rgb, double fps, const VideoExportOptions& options);

/// True when this build and the FFmpeg it runs with can encode the format (MP4/WebM).
bool ffmpeg_can_encode(VideoFormat format) noexcept;

/// The encoder write_video() would use for MP4/WebM ("libx264", "libvpx-vp9", ...), or "" when none.
std::string ffmpeg_encoder_for(VideoFormat format);

}  // namespace engine::media
