// What the engine reports about a job while and after it runs. All events are value types
// delivered through engine::Callbacks on the engine's worker thread.
//
// Thread safety: plain value types.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/media.h"
#include "engine/requests.h"

namespace engine {

/// Identifies a submitted job; 0 is never a valid id.
using JobId = std::uint64_t;

enum class JobStatus { None = 0, Queued, Running, Finished, Failed, Cancelled };

/// The stage of a running job, for progress text.
enum class JobStage { None = 0, LoadingModel, EncodingPrompt, Denoising, Decoding, Finishing };

const char* to_string(JobStatus status) noexcept;
const char* to_string(JobStage stage) noexcept;

/// Progress of one job: step counts within the current stage.
struct ProgressEvent {
    JobId job = 0;
    JobStage stage = JobStage::None;
    int step = 0;        // steps done in this stage
    int num_steps = 0;   // steps in this stage (0 when unknown)
    double elapsed_s = 0.0;  // since the job started running
};

/// A cheap look at the current latents: one image for text-to-image, one per frame for video.
struct PreviewEvent {
    JobId job = 0;
    int step = 0;
    int num_steps = 0;
    std::vector<Image> frames;
};

/// Ordered key/value pairs describing how a result was made (prompt, seed, steps, ...).
using ParameterList = std::vector<std::pair<std::string, std::string>>;

/// The outcome of a finished job.
struct JobResult {
    JobId job = 0;
    TaskKind task = TaskKind::None;
    Image image;          // text-to-image
    VideoFrames video;    // text-to-video / image-to-video
    ParameterList parameters;
    std::uint64_t seed = 0;
    double duration_s = 0.0;
};

}  // namespace engine
