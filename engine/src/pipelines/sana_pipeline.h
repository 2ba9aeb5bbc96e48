// Ref: huggingface/diffusers src/diffusers/pipelines/sana/pipeline_sana.py, pipeline_sana_sprint.py @58eb52c
//      SanaPipeline, SanaSprintPipeline
// Sana and Sana-Sprint text-to-image, stage by stage: load the diffusers folder, encode the prompt (Gemma-2 with
// the complex human instruction), prepare latents from a CPU generator (seed parity with diffusers), denoise
// (flow DPM-Solver++ / flow Euler / SCM), decode with the DC-AE, resize/crop back when binned.
//
//     auto pipe = core::unwrap(load_sana_pipeline(dir, {at::kFloat, at::kCPU}));
//     SanaGenerateOptions o = core::unwrap(resolve_sana_options(*pipe, request));
//     at::Tensor image = generate_sana(*pipe, o, hooks, nullptr);   // [1, 3, H, W] in [0, 1]
//
// Thread safety: a pipeline is used by one thread at a time (the engine worker).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/requests.h"
#include "models/autoencoders/autoencoder_dc.h"
#include "models/text_encoders/gemma2_model.h"
#include "models/transformers/sana_transformer_2d.h"
#include "schedulers/scheduler_kind.h"
#include "schedulers/step_hooks.h"
#include "tokenizers/gemma_tokenizer.h"

namespace engine::runtime {
class CudaGraphRunner;
}

namespace engine::pipelines {

enum class SanaVariant { None = 0, Sana, Sprint };

const char* to_string(SanaVariant variant) noexcept;

struct SanaLoadOptions {
    at::ScalarType dtype = at::kFloat;          // transformer and text encoder
    at::ScalarType vae_dtype = at::kFloat;      // the DC-AE
    c10::Device device = c10::Device(c10::kCPU);
    /// CUDA devices: the transformer forward of the denoising loop runs through CUDA graphs (captured per input
    /// shape, then replayed; see runtime/cuda_graph.h). No effect on the CPU or in builds without CUDA.
    /// KINORA_DISABLE_CUDA_GRAPHS=1 turns it off whatever this says; a failed capture falls back to eager (logged).
    bool cuda_graphs = true;
    /// The DC-AE's convolutions in channels-last layout (models/common/memory_format.h); nullopt: on for CUDA
    /// devices unless KINORA_DISABLE_CHANNELS_LAST=1, off on the CPU.
    std::optional<bool> channels_last;
    /// Weight quantisation of the transformer's blocks (SanaTransformer2DImpl::quantize_blocks). Fp8 where it cannot
    /// run (CPU, older GPUs, not bf16) is a DeviceUnavailable error before anything is loaded.
    WeightQuantization quantization = WeightQuantization::None;
    /// Reports each loaded component (done, total) — progress and a cancellation point (may throw).
    std::function<void(int, int)> on_component;
};

/// A loaded diffusers Sana / Sana-Sprint folder (model_index.json and its components).
struct SanaPipeline {
    std::string dir;
    SanaVariant variant = SanaVariant::None;
    std::optional<tokenizers::GemmaTokenizer> tokenizer;  // unset only in builds without sentencepiece
    std::optional<Error> tokenizer_error;                 // why it is unset (raised when a prompt is encoded)
    models::Gemma2Model text_encoder{nullptr};  // may be released after encoding (low-memory mode)
    models::SanaTransformer2D transformer{nullptr};
    models::AutoencoderDC vae{nullptr};
    schedulers::SchedulerConfig scheduler;
    SanaLoadOptions options;
    /// The transformer forward through CUDA graphs (made on the first CUDA denoising step when options.cuda_graphs;
    /// rebuilt when `transformer` is replaced). Its counters tell whether graphs were captured and replayed.
    std::shared_ptr<runtime::CudaGraphRunner> transformer_graphs;
    const void* transformer_graphs_of = nullptr;  // the SanaTransformer2DImpl the runner was made for
    WeightQuantization transformer_graphs_quantization = WeightQuantization::None;  // and its quantisation then
    /// With CUDA graphs: the caption's cross-attention keys and values (SanaTransformer2DImpl::caption_kv, and the
    /// one-token samples' constants), one set per shape the recent runs had (at most kSanaCaptionKvSets, the most
    /// recent last; the shapes differ by the kept caption length, sana_caption_keep_length). A run refills the set of
    /// its shape in place, so that the step graph captured over that set reads them where they lie (≈ 110 MB for
    /// Sana 1600M with CFG and all 300 positions).
    std::vector<std::vector<at::Tensor>> caption_kv;
    /// The text encoder's forward through CUDA graphs (the prompt is padded to a fixed length and trimmed runs encode
    /// the prefix a kept caption length needs, so a few graphs serve every generation: kSanaTextEncoderGraphs).
    /// Dropped with the text encoder: it holds the model.
    std::shared_ptr<runtime::CudaGraphRunner> text_encoder_graphs;
    const void* text_encoder_graphs_of = nullptr;  // the Gemma2ModelImpl the runner was made for

    /// 2^(number of DC-AE stages - 1): 32 for every released DC-AE.
    int64_t vae_scale_factor() const;
    /// The native resolution: transformer sample_size × vae_scale_factor (1024 for the 1024 px models).
    int default_size_px() const;
    /// Reloads the text encoder if it was released.
    void ensure_text_encoder();
};

/// Loads a diffusers pipeline folder. Clear errors for a folder that is not a Sana pipeline, missing or unknown
/// components (naming them), and every component's own load errors.
Expected<std::shared_ptr<SanaPipeline>> load_sana_pipeline(const std::string& dir, const SanaLoadOptions& options);

/// The default "complex human instruction" both Sana pipelines prepend to the positive prompt.
const std::vector<std::string>& sana_complex_human_instruction();

struct PromptEmbedding {
    at::Tensor embeds;  // [1, L, caption_channels], the text encoder's dtype
    at::Tensor mask;    // [1, L] int64, 1 = token
};

/// A prompt's tokens as Sana's text encoder reads them: ids and mask [1, L] int64 on the CPU, padded on the right to
/// L = (the instruction's tokens incl. <bos>) + max_sequence_length - 2 with the instruction, else max_sequence_length.
struct SanaPromptTokens {
    at::Tensor ids;
    at::Tensor mask;
};

/// The tokenizer half of encode_sana_prompt: lower-case + strip, optional instruction prefix, right padding. A prompt
/// longer than the model reads is an InvalidRequest error (diffusers would cut it silently); so is a pipeline without
/// a tokenizer (its load error).
SanaPromptTokens tokenize_sana_prompt(const SanaPipeline& pipe, const std::string& prompt, bool use_instruction,
                                      int max_sequence_length);

/// Encodes a prompt as SanaPipeline._get_gemma_prompt_embeds does: tokenize_sana_prompt, then encode_sana_tokens
/// (Gemma-2 last hidden state; with the instruction, <bos> and the last max_sequence_length - 1 positions).
/// `keep`: see encode_sana_tokens (unset: all max_sequence_length positions, as diffusers returns them).
PromptEmbedding encode_sana_prompt(SanaPipeline& pipe, const std::string& prompt, bool use_instruction,
                                   int max_sequence_length, std::optional<int64_t> keep = std::nullopt);

/// The text-encoder half of encode_sana_prompt: token ids and mask [1, L] int64 as the tokenizer pads them (checked
/// on the CPU when they are there) → the Gemma-2 last hidden state on the pipeline's device (through a CUDA graph
/// on CUDA when options.cuda_graphs), keeping <bos> and the last max_sequence_length - 1 positions when L is longer
/// (what drops the instruction prefix). Unset `keep`: all min(L, max_sequence_length) positions.
/// `keep` = K (1 ≤ K ≤ min(L, max_sequence_length)): only the first K of those positions, and Gemma-2 runs over only
/// the first sana_encoder_prefix_length(L, max_sequence_length, K) tokens, the prefix that ends at the last of them.
/// Gemma-2 is causal and the padding is on the right, so position i depends on tokens 0..i alone: the K positions
/// equal the first K of the full encoding up to float rounding (other GEMM shapes) at every token, and at every
/// padding position whose sliding-window layers see a token (a window of padding alone attends evenly to all keys,
/// which differ; Gemma-2 2B's window is 4096, longer than any Sana prompt). generate_sana keeps K =
/// sana_caption_keep_length of its masks, the positions the denoiser reads (encode_sana_run_prompts).
PromptEmbedding encode_sana_tokens(SanaPipeline& pipe, const at::Tensor& ids, const at::Tensor& mask,
                                   int max_sequence_length, std::optional<int64_t> keep = std::nullopt);

/// The mask encode_sana_tokens returns for a token mask [B, L] (without `keep`): <bos> and the last
/// max_sequence_length - 1 positions when L is longer, else the mask as it is (int64, the mask's device).
at::Tensor sana_encoded_mask(const at::Tensor& mask, int max_sequence_length);

/// How many leading tokens of L encode_sana_tokens reads for its first `keep` positions: `keep` when
/// L <= max_sequence_length; else output position j >= 1 is input L - (max_sequence_length - 1) + (j - 1), so
/// L - max_sequence_length + keep (1 for keep = 1: <bos> alone).
int64_t sana_encoder_prefix_length(int64_t length, int max_sequence_length, int64_t keep);

/// One side of a run's caption (the positive prompt, or CFG's negative one): the embeddings the caller passed, or
/// the tokens to encode (tokenize_sana_prompt).
struct SanaCaptionSource {
    std::optional<PromptEmbedding> given;
    SanaPromptTokens tokens;  // read when `given` is unset
};

/// A run's prompt embeddings, and how many tokens the text encoder read for each side (0: given).
struct SanaRunPrompts {
    PromptEmbedding positive;
    std::optional<PromptEmbedding> negative;
    int64_t positive_tokens_encoded = 0;
    int64_t negative_tokens_encoded = 0;
};

/// The prompt embeddings of a run as generate_sana makes them (and kinora-bench, which brings its own tokens): the
/// sides' masks as they are encoded (sana_encoded_mask, or a given side's mask) must have the same length L (with
/// CFG they are concatenated; else an InvalidRequest error before anything is encoded). `trim` off: each side
/// encoded in full (encode_sana_tokens), given sides as passed. `trim` on (SanaGenerateOptions::trim_caption): K =
/// sana_caption_keep_length over all the sides' masks [B, L] (negative first with CFG, the rule
/// prepare_sana_step_caption applies, which then keeps all K), each side encoded with keep = K and each given side
/// narrowed to its first K positions, so the denoiser gets what it reads and Gemma-2 runs over the prefix it needs
/// (a short prompt with the instruction: ≈ 240 of 478 tokens, and 64 of 300 for the negative one).
/// `cancel_point` (may throw) runs before each side is encoded.
SanaRunPrompts encode_sana_run_prompts(SanaPipeline& pipe, const SanaCaptionSource& positive,
                                       const std::optional<SanaCaptionSource>& negative, int max_sequence_length,
                                       bool trim, const std::function<void()>& cancel_point = {});

/// The caption lengths a run keeps (below the full length): sana_caption_keep_length rounds up to one of these.
inline constexpr int64_t kSanaCaptionKeepLengths[] = {64, 128};
/// How many input shapes the text encoder's CUDA graph runner captures (SanaPipeline::text_encoder_graphs; more run
/// eagerly): encode_sana_run_prompts encodes the prefix of each kept caption length (64, 128 and the full 300 with the
/// default max_sequence_length), with and without the instruction, which makes 6; the untrimmed encodings are the
/// full ones among them. Each graph keeps its own memory pool: about the peak of one layer's activations (Gemma-2 2B at
/// ≤ 480 tokens: tens of MB, estimated from the tensor sizes), small beside the model's 5 GB of bf16 weights.
inline constexpr int kSanaTextEncoderGraphs = 6;
/// How many caption key / value sets SanaPipeline::caption_kv keeps (one per kept length, and the full one).
inline constexpr size_t kSanaCaptionKvSets = 3;
/// Runs with at least this many steps × batch rows compute the caption's keys and values once (see generate_sana),
/// and only those skip one-token captions' cross-attention (SanaGenerateOptions::trim_caption).
inline constexpr int64_t kSanaCaptionKvMinStepsTimesBatch = 8;

/// How many caption positions a run needs, from the cross-attention mask [B, L] (1 = token, any device; read on the
/// host). A masked position's bias, -10000, makes its softmax weight exactly 0 (exp underflows in float32), so the
/// positions after every row's last token change nothing and the run drops them: the last token's position + 1 over
/// the rows, rounded up to a kSanaCaptionKeepLengths entry (few shapes, so few CUDA graphs), or L. A row without any
/// token keeps L (it attends evenly to all L masked keys, which dropping some would change).
int64_t sana_caption_keep_length(const at::Tensor& mask);

/// How many leading rows of the cross-attention mask [B, L] hold exactly one token (the empty negative prompt is
/// <bos> alone; with CFG it is row 0): their cross-attention is the same row for every query
/// (SanaConditioning::caption_constants).
int64_t sana_one_token_captions(const at::Tensor& mask);

/// Everything a run needs, resolved from a request and the model's defaults.
struct SanaGenerateOptions {
    std::string prompt;
    std::string negative_prompt;
    std::uint64_t seed = 0;
    int num_inference_steps = 0;
    double guidance_scale = 0.0;
    int height_px = 0;        // what is generated (after binning)
    int width_px = 0;
    int output_height_px = 0; // what is returned (the request's size)
    int output_width_px = 0;
    bool use_instruction = true;
    int max_sequence_length = 300;
    schedulers::SchedulerKind scheduler = schedulers::SchedulerKind::None;
    double flow_shift = 3.0;
    std::vector<double> scm_timesteps;  // Sprint: num_inference_steps + 1 values
    /// Precomputed prompt embeddings (diffusers' prompt_embeds / negative_prompt_embeds): when set, the text
    /// encoder is not run for that side (tests on machines without a tokenizer; prompt reuse). With CFG both sides
    /// must have the same length (a given one and max_sequence_length for an encoded one).
    std::optional<PromptEmbedding> prompt_embeds;
    std::optional<PromptEmbedding> negative_prompt_embeds;
    /// Skip the caption work that cannot change the image: the positions after the last token
    /// (sana_caption_keep_length; the text encoder then runs only over the tokens up to the last kept position,
    /// encode_sana_run_prompts), and with the caption's keys and values computed once per run (CFG), the
    /// cross-attention of one-token captions such as the empty negative prompt (sana_one_token_captions). Off: every
    /// step attends to all L positions for every sample, as diffusers does (the same image up to float rounding).
    bool trim_caption = true;
};

/// Fills defaults and checks the request against the model (sizes, steps, Sprint timestep rules).
Expected<SanaGenerateOptions> resolve_sana_options(const SanaPipeline& pipe, const TextToImageRequest& request);

/// The caption inputs of a run's denoising steps (generate_sana makes them once per run).
struct SanaStepCaption {
    at::Tensor embeds;  // [B, L', caption_channels] in the model dtype (L' = the kept length)
    at::Tensor mask;    // [B, L']
    /// Empty (every step computes the caption's keys and values), or [k₀, v₀, …] for every block, then the first
    /// one_token_samples samples' cross-attention outputs [c₀, c₁, …] (SanaConditioning::caption_constants).
    std::vector<at::Tensor> caption_kv;
    int64_t one_token_samples = 0;
};

/// The steps' caption from the prompt embeddings [B, L, D] (model dtype, on the device) and masks [B, L] of a run of
/// `steps` steps: trimmed to sana_caption_keep_length and with the one-token samples' constants when `trim`
/// (SanaGenerateOptions::trim_caption); the keys and values computed once when steps × B reaches
/// kSanaCaptionKvMinStepsTimesBatch (with CUDA graphs, in the pipeline's caption_kv buffers of that shape).
SanaStepCaption prepare_sana_step_caption(SanaPipeline& pipe, at::Tensor embeds, at::Tensor mask, int64_t steps,
                                          bool trim);
/// The transformer's conditioning for one step of that caption (guidance: Sprint's [B]).
models::SanaConditioning sana_step_conditioning(const SanaPipeline& pipe, const SanaStepCaption& caption,
                                                const std::optional<at::Tensor>& guidance);
/// The transformer forward of a denoising step: through the pipeline's CUDA graph runner on CUDA (when
/// options.cuda_graphs), else eager. x [1 or B, C, h, w] in the model dtype (with CFG one latent for both
/// captions), t [1 or B] float32, guidance [1] (Sprint).
at::Tensor sana_transformer_step(SanaPipeline& pipe, const at::Tensor& x, const SanaStepCaption& caption,
                                 const at::Tensor& t, const std::optional<at::Tensor>& guidance);

/// What a test or the UI may want to see of a run.
struct SanaTrace {
    /// The prompt embeddings the run used: with SanaGenerateOptions::trim_caption (the default) only the first K =
    /// sana_caption_keep_length positions (64, 128 or all), encoded or narrowed (given ones) by
    /// encode_sana_run_prompts; without, all max_sequence_length positions (or the given embeddings as passed).
    PromptEmbedding prompt;
    std::optional<PromptEmbedding> negative;
    std::vector<at::Tensor> latents_per_step;  // [1, C, h, w] after each step
};

/// How the final latents are decoded by the DC-AE.
enum class SanaDecode {
    /// Whole images up to kSanaTiledDecodeAbovePixels at once; larger ones in tiles. A whole-image decode
    /// that runs out of memory is retried in tiles (logged).
    Auto,
    /// Always in tiles (low-memory mode): AutoencoderDC::decode_tiled, the same image with bounded memory.
    Tiled,
};

/// Auto decodes images of more output pixels than this (2048²) in tiles.
inline constexpr int64_t kSanaTiledDecodeAbovePixels = int64_t{2048} * 2048;

/// vae.decode(latents) as `mode` says; latents are already divided by scaling_factor. Tiles are
/// tile_latent_size² latent pixels (an out-of-memory retry uses at most half the latent per side, so a
/// latent smaller than one tile is still split). The result has the VAE's dtype and device.
at::Tensor decode_sana_latents(models::AutoencoderDC& vae, const at::Tensor& latents, SanaDecode mode,
                               int64_t tile_latent_size = models::kDCDefaultDecodeTile);

/// Runs the whole pipeline → image [1, 3, output_height, output_width] in [0, 1] (float32, CPU).
/// `decode` picks how the latents are decoded (SanaDecode::Tiled in low-memory mode).
at::Tensor generate_sana(SanaPipeline& pipe, const SanaGenerateOptions& options, const schedulers::StepHooks& hooks,
                         SanaTrace* trace, bool release_text_encoder = false,
                         const std::function<void(JobStage)>& on_stage = {}, SanaDecode decode = SanaDecode::Auto);

}  // namespace engine::pipelines
