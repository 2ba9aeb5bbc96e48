#include "pipelines/text_to_video.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>

#include "core/engine_error.h"
#include "pipelines/job_parameters.h"
#include "pipelines/lvdm_pipeline.h"
#include "pipelines/preview.h"
#include "schedulers/step_hooks.h"

namespace engine::pipelines {
namespace {

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

// The model's name for the gallery: the Hugging Face repo folder (models--Org--Name/snapshots/<commit>/model.ckpt
// → Org/Name), else the file's folder and name.
std::string model_name(const std::string& checkpoint) {
    const std::string marker = "models--";
    const auto at = checkpoint.find(marker);
    if (at != std::string::npos) {
        std::string repo = checkpoint.substr(at + marker.size());
        repo = repo.substr(0, repo.find('/'));
        const auto sep = repo.find("--");
        if (sep != std::string::npos) repo.replace(sep, 2, "/");
        return repo;
    }
    const std::filesystem::path p(checkpoint);
    const std::string parent = p.parent_path().filename().string();
    return parent.empty() ? p.filename().string() : parent + "/" + p.filename().string();
}

JobResult run_video(const TextToVideoRequest& request, const ImageToVideoRequest* i2v, runtime::JobContext& ctx,
                    ModelCache& cache) {
    ctx.report_progress(JobStage::LoadingModel, 0, 0);
    auto pipe = cache.lvdm(request.model_path, request.config_path, request.tokenizer_path,
                           [&ctx](int done, int total) { ctx.report_progress(JobStage::LoadingModel, done, total); });
    const LVDMGenerateOptions options =
        core::unwrap(i2v ? resolve_lvdm_options(*pipe, *i2v) : resolve_lvdm_options(*pipe, request));

    c10::InferenceMode inference_guard;
    schedulers::StepHooks hooks = schedulers::make_step_hooks(
        ctx, video_preview_renderer(projection_for(sd_kl4_projection(), pipe->config.channels)), JobStage::Denoising);
    // report_progress is a check point: cancelling stops between decoded frames.
    models::FrameProgressFn on_frames = [&ctx](int64_t done, int64_t total) {
        ctx.report_progress(JobStage::Decoding, static_cast<int>(done), static_cast<int>(total));
    };
    at::Tensor video = generate_lvdm(*pipe, options, hooks, nullptr,
                                     [&ctx](JobStage stage) { ctx.report_progress(stage, 0, 0); }, on_frames);
    ctx.report_progress(JobStage::Finishing, 0, 0);

    JobResult result;
    result.task = i2v ? TaskKind::ImageToVideo : TaskKind::TextToVideo;
    result.seed = options.seed;
    result.video.fps = options.fps;
    for (int64_t f = 0; f < video.size(2); ++f) {
        result.video.frames.push_back(tensor_to_image(video[0].select(1, f)));  // [3, H, W]
    }
    result.parameters = {
        {"prompt", options.prompt},
        {"negative_prompt", options.negative_prompt},
        {"steps", std::to_string(options.num_inference_steps)},
        {"sampler", "ddim"},
        {"guidance_scale", format_number(options.guidance_scale)},
        {"eta", format_number(options.eta)},
        {"seed", std::to_string(options.seed)},
        {"size", std::to_string(options.width_px) + "x" + std::to_string(options.height_px)},
        {"frames", std::to_string(options.num_frames)},
        {"fps", format_number(options.fps)},
        {"model", model_name(pipe->checkpoint_path)},
        {"model_type", pipe->model_type()},
        {"timestep_spacing", schedulers::to_string(options.spacing)},
        {"precision", precision_name(pipe->unet->dtype())},
    };
    if (options.fps_condition > 0) result.parameters.emplace_back("fps_condition", std::to_string(options.fps_condition));
    if (options.frame_stride > 0) result.parameters.emplace_back("frame_stride", std::to_string(options.frame_stride));
    if (options.guidance_rescale > 0.0) {
        result.parameters.emplace_back("guidance_rescale", format_number(options.guidance_rescale));
    }
    if (!request.config_path.empty()) result.parameters.emplace_back("config", file_name(request.config_path));
    if (cache.settings().memory_mode == MemoryMode::LowMemory) cache.clear();
    return result;
}

}  // namespace

JobResult run_text_to_video(const TextToVideoRequest& request, runtime::JobContext& ctx, ModelCache& cache) {
    return run_video(request, nullptr, ctx, cache);
}

JobResult run_image_to_video(const ImageToVideoRequest& request, runtime::JobContext& ctx, ModelCache& cache) {
    return run_video(request, &request, ctx, cache);
}

}  // namespace engine::pipelines
