#include "pipelines/text_to_image.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <filesystem>

#include "core/engine_error.h"
#include "pipelines/job_parameters.h"
#include "pipelines/preview.h"
#include "schedulers/step_hooks.h"

namespace engine::pipelines {
namespace {

std::string model_name(const std::string& path) {
    std::filesystem::path p(path);
    while (!p.empty() && p.filename().empty()) p = p.parent_path();
    return p.filename().string();
}

}  // namespace

JobResult run_text_to_image(const TextToImageRequest& request, runtime::JobContext& ctx, ModelCache& cache) {
    ctx.report_progress(JobStage::LoadingModel, 0, 0);
    auto pipe = cache.sana(request.model_path, [&ctx](int done, int total) {
        ctx.report_progress(JobStage::LoadingModel, done, total);
    });
    const SanaGenerateOptions options = core::unwrap(resolve_sana_options(*pipe, request));

    c10::InferenceMode inference_guard;
    schedulers::StepHooks hooks = schedulers::make_step_hooks(
        ctx, image_preview_renderer(projection_for(sana_dcae_projection(), pipe->transformer->config.in_channels)),
        JobStage::Denoising);
    const bool low_memory = cache.settings().memory_mode == MemoryMode::LowMemory;
    at::Tensor image = generate_sana(*pipe, options, hooks, nullptr, low_memory,
                                     [&ctx](JobStage stage) { ctx.report_progress(stage, 0, 0); },
                                     low_memory ? SanaDecode::Tiled : SanaDecode::Auto);
    ctx.report_progress(JobStage::Finishing, 0, 0);

    JobResult result;
    result.task = TaskKind::TextToImage;
    result.image = tensor_to_image(image[0]);
    result.seed = options.seed;
    const bool sprint = pipe->variant == SanaVariant::Sprint;
    result.parameters = {
        {"prompt", options.prompt},
        {"negative_prompt", options.negative_prompt},
        {"steps", std::to_string(options.num_inference_steps)},
        {"sampler", schedulers::to_string(options.scheduler)},
        {"guidance_scale", format_number(options.guidance_scale)},
        {"seed", std::to_string(options.seed)},
        {"size", std::to_string(options.output_width_px) + "x" + std::to_string(options.output_height_px)},
        {"model", model_name(request.model_path)},
        {"model_type", to_string(pipe->variant)},
        {"precision", precision_name(pipe->transformer->dtype())},
    };
    if (!sprint) {
        result.parameters.emplace_back("flow_shift", format_number(options.flow_shift));
    } else {
        std::string ts;
        for (double t : options.scm_timesteps) ts += (ts.empty() ? "" : " ") + format_number(t);
        result.parameters.emplace_back("timesteps", ts);
    }
    if (!options.use_instruction) result.parameters.emplace_back("complex_human_instruction", "off");
    if (pipe->transformer->quantization != WeightQuantization::None) {
        // The weights change the picture a little: part of what reproduces it.
        result.parameters.emplace_back("quantization", to_string(pipe->transformer->quantization));
    }
    if (options.height_px != options.output_height_px || options.width_px != options.output_width_px) {
        result.parameters.emplace_back("generated_size",
                                       std::to_string(options.width_px) + "x" + std::to_string(options.height_px));
    }
    if (low_memory) cache.clear();
    return result;
}

}  // namespace engine::pipelines
