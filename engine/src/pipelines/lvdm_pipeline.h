// Ref: AILab-CVC/VideoCrafter@11bcd76 scripts/evaluation/inference.py run_inference, scripts/evaluation/funcs.py
//      batch_ddim_sampling, load_model_checkpoint; lvdm/models/ddpm3d.py LatentDiffusion (get_learned_conditioning,
//      decode_first_stage_2DAE), LatentVisualDiffusion (get_image_embeds)
// Ref: Doubiiu/DynamiCrafter@c453369 scripts/evaluation/inference.py image_guided_synthesis, load_data_prompts,
//      load_model_checkpoint; lvdm/models/ddpm3d.py (encode_first_stage / decode_core with perframe_ae,
//      DiffusionWrapper 'hybrid')
// VideoCrafter 1/2 text-to-video and DynamiCrafter / VideoCrafter-i2v image-to-video, stage by stage: load a
// single-file LVDM checkpoint with its config (an explicit YAML/JSON, else the built-in preset the tensors point
// to), encode the prompt (open_clip, penultimate layer) and the empty negative, encode the image (CLIP vision
// tokens → Resampler; DynamiCrafter also the first-frame latent, a posterior sample), denoise with LVDM's DDIM
// (eps or v, latent rescale, CFG [+ rescale]), decode frame by frame with the KL autoencoder.
//
//     pipelines::LVDMLoadOptions lo;
//     lo.config_path = "inference_t2v_512_v2.0.yaml";                    // optional
//     auto pipe = core::unwrap(pipelines::load_lvdm_pipeline("model.ckpt", lo));
//     auto o = core::unwrap(pipelines::resolve_lvdm_options(*pipe, request));  // TextToVideoRequest / ImageToVideo...
//     at::Tensor video = pipelines::generate_lvdm(*pipe, o, hooks, nullptr);   // [1, 3, F, H, W] in [0, 1]
//
// Randomness: every random stage draws from its own CPU generator seeded with seed + k, in the order the reference
// draws them: text-to-video x_T (k = 0) and the DDIM step noise (k = 1); DynamiCrafter the first-frame posterior
// sample (k = 0), x_T (k = 1) and the step noise (k = 2); VideoCrafter-i2v like text-to-video. So a seed gives the
// same video on CPU and CUDA, and the golden runs (whose reference reseeded the global generator before each stage)
// replay exactly. The original scripts seed once before building the model, whose random initialisation consumes
// the generator, so their seed numbers cannot be replayed by any loader of the finished checkpoint.
//
// Thread safety: a pipeline is used by one thread at a time (the engine worker).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/events.h"
#include "engine/requests.h"
#include "models/adapters/image_resampler.h"
#include "models/autoencoders/autoencoder_kl.h"
#include "models/text_encoders/clip_vision.h"
#include "models/text_encoders/open_clip_text.h"
#include "models/unets/lvdm_unet_3d.h"
#include "pipelines/lvdm_config.h"
#include "schedulers/sigmas.h"
#include "schedulers/step_hooks.h"
#include "tokenizers/clip_tokenizer.h"

namespace engine::runtime {
class CudaGraphRunner;
}

namespace engine::pipelines {

/// The Hugging Face repo whose vocab.json + merges.txt the LVDM checkpoints tokenize with (they ship no vocabulary).
inline constexpr const char* kOpenCLIPVocabRepo = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K";

struct LVDMLoadOptions {
    at::ScalarType dtype = at::kFloat;      // UNet, text and image encoders, Resampler
    at::ScalarType vae_dtype = at::kFloat;  // the KL autoencoder
    c10::Device device = c10::Device(c10::kCPU);
    /// The UNet and the KL autoencoder in channels-last layout (models/common/memory_format.h): their 2-D and 3-D
    /// convolutions, norms and the UNet's token layouts with no transpose between them; nullopt: on for CUDA devices
    /// unless KINORA_DISABLE_CHANNELS_LAST=1 (default_channels_last), off on the CPU. It pays with our group_norm /
    /// add_channel_bias kernels (docs/PERFORMANCE.md); with ATen's ops alone both were slower than NCHW.
    std::optional<bool> channels_last;
    /// CUDA devices: the UNet forward of the denoising loop runs through CUDA graphs (captured per input shape, then
    /// replayed; runtime/cuda_graph.h). No effect on the CPU or in builds without CUDA; KINORA_DISABLE_CUDA_GRAPHS=1
    /// turns it off; a failed capture falls back to eager (logged).
    bool cuda_graphs = true;
    /// The model config (original YAML or its JSON form); empty: the built-in preset detect_lvdm_model() names.
    std::string config_path;
    /// An already parsed config (takes precedence over config_path), e.g. one assembled by a test.
    std::optional<LVDMModelConfig> config;
    /// The CLIP vocabulary (a folder with vocab.json + merges.txt or bpe_simple_vocab_16e6.txt.gz, or the .gz file);
    /// empty: find_clip_vocab() looks next to the checkpoint and in the Hugging Face cache.
    std::string tokenizer_path;
    /// Reports each loaded component (done, total): progress and a cancellation point (may throw).
    std::function<void(int, int)> on_component;
};

/// A loaded LVDM checkpoint: every component, built from the checkpoint's one state dict.
struct LVDMPipeline {
    std::string checkpoint_path;
    LVDMModelConfig config;
    LVDMDetection detection;
    std::string config_source;  // "preset videocrafter2" or the --config path
    std::string tokenizer_source;
    std::optional<tokenizers::CLIPTokenizer> tokenizer;
    models::OpenCLIPTextEncoder text_encoder{nullptr};
    models::CLIPVisionEncoder image_encoder{nullptr};  // image-to-video only
    models::ImageResampler image_proj{nullptr};        // image-to-video only
    models::LVDMUNet3D unet{nullptr};
    models::AutoencoderKL vae{nullptr};
    std::vector<double> alphas_cumprod;  // float64, from the config (checked against the checkpoint's buffer)
    std::vector<double> scale_arr;       // the latent rescale array (empty without use_scale / dynamic rescale)
    LVDMLoadOptions options;
    /// The UNet forward through CUDA graphs (made on the first CUDA denoising step when options.cuda_graphs; rebuilt
    /// when `unet` is replaced). Its counters tell whether graphs were captured and replayed.
    std::shared_ptr<runtime::CudaGraphRunner> unet_graphs;
    const void* unet_graphs_of = nullptr;  // the LVDMUNet3DImpl the runner was made for

    bool image_to_video() const { return config.has_image_branch(); }
    /// DynamiCrafter: the first-frame latent is concatenated to the UNet input.
    bool hybrid() const { return config.conditioning == LVDMConditioning::Hybrid; }
    /// How much the autoencoder shrinks H and W (8 for the released models).
    int64_t vae_scale_factor() const;
    /// Width and height must be multiples of this: the autoencoder's factor × the UNet's 2^(levels − 1) (64 for the
    /// released models; the original scripts assert only 16 and fail inside the UNet otherwise).
    int64_t size_multiple_px() const;
    /// The resolution the model was trained at: the config's latent image_size × vae_scale_factor().
    int default_height_px() const;
    int default_width_px() const;
    /// DynamiCrafter's frame-wise image tokens exist for exactly this many frames; nullopt: any count.
    std::optional<int64_t> required_num_frames() const;
    /// "VideoCrafter2", "DynamiCrafter", ...
    std::string model_type() const { return to_string(config.family); }
};

/// Where the open_clip vocabulary is: `explicit_path` when given (a folder or the .gz file; an error if it holds
/// none), else next to the checkpoint (its folder or a tokenizer/ subfolder: vocab.json + merges.txt or
/// bpe_simple_vocab_16e6.txt.gz), else the Hugging Face cache (HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub >
/// ${XDG_CACHE_HOME:-~/.cache}/huggingface/hub) snapshot of kOpenCLIPVocabRepo. ModelNotFound naming what to
/// download otherwise.
Expected<std::string> find_clip_vocab(const std::string& checkpoint_path, const std::string& explicit_path);

/// Loads an LVDM checkpoint (a .ckpt / .safetensors file, or a folder holding model.ckpt). Errors: ModelNotFound,
/// UnsupportedModel for checkpoints of other models, ModelLoadFailed for a config that does not fit the weights
/// (naming the difference), missing / unexpected / mis-shaped keys (naming them) or a schedule that differs from
/// the config's.
Expected<std::shared_ptr<LVDMPipeline>> load_lvdm_pipeline(const std::string& checkpoint_path,
                                                           const LVDMLoadOptions& options);

/// Everything a run needs, resolved from a request and the model's defaults.
struct LVDMGenerateOptions {
    std::string prompt;
    std::string negative_prompt;  // the unconditional text ("" = LVDM's empty_seq)
    std::uint64_t seed = 0;
    int num_inference_steps = 0;  // as requested (uniform spacing may run one more DDPM step, as LVDM does)
    std::vector<std::int64_t> timesteps;  // the DDPM steps DDIM visits, ascending
    schedulers::DDIMSpacing spacing = schedulers::DDIMSpacing::Uniform;
    double guidance_scale = 1.0;
    double guidance_rescale = 0.0;
    double eta = 1.0;
    int height_px = 0;
    int width_px = 0;
    int num_frames = 0;
    double fps = 8.0;                  // playback rate of the result
    std::int64_t fps_condition = 0;    // VideoCrafter: the UNet's fps input (0 when the model has none)
    std::int64_t frame_stride = 0;     // DynamiCrafter: the UNet's fs input
    at::Tensor image;       // image-to-video: [1, 3, H, W] in [-1, 1] at the generation size (the VAE input)
    at::Tensor clip_image;  // image-to-video: what the CLIP image embedder sees, [1, 3, h, w] in [-1, 1]
};

/// Fills defaults (the original scripts': 50 steps; VideoCrafter CFG 12, DynamiCrafter 7.5; eta 1; DynamiCrafter
/// 512/1024 uniform_trailing + guidance rescale 0.7) and checks the request against the model (task, sizes, frames,
/// steps, sampler). InvalidRequest / UnsupportedModel with what to change.
Expected<LVDMGenerateOptions> resolve_lvdm_options(const LVDMPipeline& pipe, const TextToVideoRequest& request);
/// The same for image-to-video, plus the image: DynamiCrafter cover-resizes and centre-crops it to the generation
/// size (the VAE and CLIP input); VideoCrafter-i2v stretches it to the generation size (its load_image_batch).
Expected<LVDMGenerateOptions> resolve_lvdm_options(const LVDMPipeline& pipe, const ImageToVideoRequest& request);

/// An 8-bit image → [1, 3, H, W] float32 in [-1, 1] (alpha composited on white).
at::Tensor image_to_signed_tensor(const Image& image);

/// What a test or the UI may want to see of a run (tensors on the CPU, float32).
struct LVDMTrace {
    at::Tensor tokens;        // [1, 77] int64
    at::Tensor cond;          // text embedding [1, 77, D]
    at::Tensor uncond;        // negative text embedding [1, 77, D] (undefined without CFG)
    at::Tensor img_emb;       // image tokens after the Resampler [1, Q, D] (image-to-video)
    at::Tensor uc_img_emb;    // the same for the zero image (with CFG)
    at::Tensor img_cat_cond;  // DynamiCrafter's first-frame latent repeated over the frames [1, 4, F, h, w]
    at::Tensor x_T;           // initial noise [1, 4, F, h, w]
    std::vector<at::Tensor> x_inter;  // x_T, then the latents after every step (LVDM's intermediates, log_every_t=1)
    std::vector<at::Tensor> pred_x0;  // x_T, then every step's x0 prediction
    at::Tensor samples;       // final latents [1, 4, F, h, w]
    at::Tensor video;         // decoded, before clamping: [1, 3, F, H, W], roughly in [-1, 1]
};

/// The UNet forward of a denoising step, on the UNet's device: x [B, C, F, h, w], timesteps [B] (int64), context
/// [B, L, D], the frame-rate / frame-stride conditioning. Through the pipeline's CUDA graph runner on CUDA (when
/// options.cuda_graphs; one graph per input shape), else eager. Returns the UNet's output [B, C_out, F, h, w].
at::Tensor lvdm_unet_step(LVDMPipeline& pipe, const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context,
                          const models::LVDMUNet3DConditioning& conditioning);

/// Runs the whole pipeline → video [1, 3, F, H, W] in [0, 1] (float32, CPU). on_stage reports stage changes;
/// on_frames(done, total) runs after each decoded frame (and may throw to cancel).
at::Tensor generate_lvdm(LVDMPipeline& pipe, const LVDMGenerateOptions& options, const schedulers::StepHooks& hooks,
                         LVDMTrace* trace, const std::function<void(JobStage)>& on_stage = {},
                         const models::FrameProgressFn& on_frames = {});

}  // namespace engine::pipelines
