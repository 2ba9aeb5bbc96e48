// The whole Sana / Sana-Sprint pipelines against diffusers (sana_pipeline_tiny, sana_sprint_pipeline_tiny):
// prompt embeddings and masks, the latents after every step and the final image, with the golden's seed on a
// CPU generator — seed parity with diffusers.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>

#include <torch/torch.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine_error.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "core/torch_compat.h"
#include "pipelines/sana_pipeline.h"
#include "runtime/cuda_graph.h"
#include "support/cpu_memory.h"
#include "support/golden_case.h"
#include "support/sana_golden.h"
#include "support/tensor_checks.h"

using engine::pipelines::SanaTrace;

namespace {

engine::TextToImageRequest request_from(const test_support::GoldenCase& gc) {
    return test_support::sana_request_from(gc);
}

std::shared_ptr<engine::pipelines::SanaPipeline> load(const test_support::GoldenCase& gc) {
    auto p = engine::pipelines::load_sana_pipeline(gc.dir().string(), {});
    INFO((p ? std::string() : p.error().message));
    REQUIRE(p.has_value());
    return p.value();
}

void check_latents(const test_support::GoldenCase& gc, const SanaTrace& trace) {
    const at::Tensor expected = gc.io("latents_per_step");  // [steps, 1, C, h, w]
    REQUIRE(static_cast<int64_t>(trace.latents_per_step.size()) == expected.size(0));
    for (int64_t i = 0; i < expected.size(0); ++i) {
        CAPTURE(i);
        CHECK_MAXDIFF_REL(trace.latents_per_step[static_cast<size_t>(i)], expected[i], 2e-3);
    }
}

// encode_sana_prompt's full encoding (all 300 positions, as diffusers returns them) against the golden's.
void check_full_encoding(const test_support::GoldenCase& gc, engine::pipelines::SanaPipeline& pipe,
                         const engine::pipelines::SanaGenerateOptions& o) {
    torch::NoGradGuard no_grad;
    const auto positive =
        engine::pipelines::encode_sana_prompt(pipe, o.prompt, o.use_instruction, o.max_sequence_length);
    CHECK(positive.mask.equal(gc.io("prompt_attention_mask")));
    CHECK_MAXDIFF_REL(positive.embeds, gc.io("prompt_embeds"), 1e-4);
    if (gc.has_io("negative_prompt_embeds")) {
        const auto negative =
            engine::pipelines::encode_sana_prompt(pipe, o.negative_prompt, false, o.max_sequence_length);
        CHECK(negative.mask.equal(gc.io("negative_prompt_attention_mask")));
        CHECK_MAXDIFF_REL(negative.embeds, gc.io("negative_prompt_embeds"), 1e-4);
    }
}

}  // namespace

TEST_CASE("sana pipeline: prompt embeddings, every step's latents and the image match diffusers", "[pipelines]") {
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    auto pipe = load(gc);
    CHECK(pipe->variant == engine::pipelines::SanaVariant::Sana);
    auto options = engine::pipelines::resolve_sana_options(*pipe, request_from(gc));
    REQUIRE(options.has_value());
    SanaTrace trace;
    torch::NoGradGuard no_grad;
    at::Tensor image = engine::pipelines::generate_sana(*pipe, *options, {}, &trace);

    test_support::check_sana_trace_prompts(gc, trace, 64);
    check_full_encoding(gc, *pipe, *options);
    check_latents(gc, trace);
    REQUIRE_MAXDIFF_REL(image, gc.io("image"), 2e-3);
}

TEST_CASE("sana-sprint pipeline: prompt embeddings, every step's latents and the image match diffusers", "[pipelines]") {
    auto gc = test_support::GoldenCase::load("sana_sprint_pipeline_tiny");
    auto pipe = load(gc);
    CHECK(pipe->variant == engine::pipelines::SanaVariant::Sprint);
    auto options = engine::pipelines::resolve_sana_options(*pipe, request_from(gc));
    REQUIRE(options.has_value());
    CHECK(options->scm_timesteps.size() == 3);
    SanaTrace trace;
    torch::NoGradGuard no_grad;
    at::Tensor image = engine::pipelines::generate_sana(*pipe, *options, {}, &trace);

    test_support::check_sana_trace_prompts(gc, trace, 64);
    check_full_encoding(gc, *pipe, *options);
    check_latents(gc, trace);
    REQUIRE_MAXDIFF_REL(image, gc.io("image"), 2e-3);
}

TEST_CASE("sana pipeline: low-memory decoding in tiles gives the same image", "[pipelines]") {
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    auto pipe = load(gc);
    auto options = engine::pipelines::resolve_sana_options(*pipe, request_from(gc));
    REQUIRE(options.has_value());
    std::vector<std::string> lines;
    std::mutex lines_mutex;
    engine::set_log_sink([&](engine::LogLevel, const std::string& line) {
        std::lock_guard<std::mutex> lock(lines_mutex);
        lines.push_back(line);
    });
    torch::NoGradGuard no_grad;
    SanaTrace trace;
    at::Tensor image = engine::pipelines::generate_sana(*pipe, *options, {}, &trace, false, {},
                                                        engine::pipelines::SanaDecode::Tiled);
    engine::set_log_sink(nullptr);
    bool tiled = false;
    for (const auto& l : lines) tiled = tiled || l.find("in tiles") != std::string::npos;
    CHECK(tiled);
    REQUIRE_MAXDIFF_REL(image, gc.io("image"), 2e-3);
    // The same decode as the default path, up to float rounding (kTiledTol in test_autoencoder_dc.cpp).
    at::Tensor z = trace.latents_per_step.back() / pipe->vae->config.scaling_factor;
    at::Tensor whole = (pipe->vae->decode(z) * 0.5 + 0.5).clamp(0.0, 1.0);
    CHECK_MAXDIFF_REL(image, whole, 1e-5);
}

TEST_CASE("sana pipeline: a decode that runs out of memory is retried in tiles", "[pipelines]") {
    // A 512x512 image from dcae_tiny on a "machine" with less memory than the whole-image decode needs
    // but more than the tiled one: CPU tensor allocations past the limit fail as on a smaller machine.
    auto gc = test_support::GoldenCase::load("dcae_tiny");
    auto ae = engine::models::load_autoencoder_dc(gc.dir().string(), at::kFloat, at::kCPU);
    REQUIRE(ae.has_value());
    engine::models::AutoencoderDC vae = *ae;
    auto& meter = test_support::CpuMemoryMeter::install();
    torch::manual_seed(12);
    at::Tensor z = torch::randn({1, 8, 64, 64});
    const int64_t tile = 8;

    meter.reset_peak();
    at::Tensor whole = vae->decode(z);
    const std::size_t whole_peak = meter.peak_bytes() - meter.baseline_bytes();
    meter.reset_peak();
    at::Tensor tiled = vae->decode_tiled(z, tile);
    const std::size_t tiled_peak = meter.peak_bytes() - meter.baseline_bytes();
    CAPTURE(whole_peak, tiled_peak);
    REQUIRE(tiled_peak < whole_peak);
    whole = at::Tensor();  // measured; keep only what the run below needs
    tiled = at::Tensor();

    std::vector<std::string> warnings;
    std::mutex warnings_mutex;
    engine::set_log_sink(
        [&](engine::LogLevel, const std::string& line) {
            std::lock_guard<std::mutex> lock(warnings_mutex);
            warnings.push_back(line);
        },
        engine::LogLevel::Warn);
    at::Tensor image;
    {
        auto limit = meter.limit_to(meter.current_bytes() + (whole_peak + tiled_peak) / 2);
        try {
            vae->decode(z);
            FAIL("the memory limit did not stop a whole-image decode");
        } catch (const c10::Error& e) {
            CHECK_THAT(std::string(e.what()), Catch::Contains("not enough memory"));
        }
        image = engine::pipelines::decode_sana_latents(vae, z, engine::pipelines::SanaDecode::Auto, tile);
    }
    engine::set_log_sink(nullptr);
    REQUIRE(warnings.size() == 1);
    CHECK_THAT(warnings[0], Catch::Contains("ran out of memory") && Catch::Contains("in tiles"));
    CHECK_MAXDIFF_REL(image, vae->decode(z), 1e-5);
}

TEST_CASE("sana pipeline: a different seed gives a different image (the seed is really used)", "[pipelines]") {
    auto gc = test_support::GoldenCase::load("sana_sprint_pipeline_tiny");
    auto pipe = load(gc);
    auto r = request_from(gc);
    r.seed += 1;
    auto options = engine::pipelines::resolve_sana_options(*pipe, r);
    REQUIRE(options.has_value());
    torch::NoGradGuard no_grad;
    at::Tensor image = engine::pipelines::generate_sana(*pipe, *options, {}, nullptr);
    CHECK_FALSE(test_support::maxdiff_rel_report(image, gc.io("image"), 2e-3).ok);
}

TEST_CASE("sana pipeline: the caption length a run keeps", "[pipelines]") {
    using engine::pipelines::sana_caption_keep_length;
    auto mask_of = [](int64_t length, std::vector<std::vector<int64_t>> rows_tokens) {
        at::Tensor m = at::zeros({static_cast<int64_t>(rows_tokens.size()), length}, at::kLong);
        for (size_t r = 0; r < rows_tokens.size(); ++r) {
            for (int64_t p : rows_tokens[r]) m[static_cast<int64_t>(r)][p] = 1;
        }
        return m;
    };
    auto first = [](int64_t n) {
        std::vector<int64_t> v;
        for (int64_t i = 0; i < n; ++i) v.push_back(i);
        return v;
    };
    CHECK(sana_caption_keep_length(mask_of(300, {first(23)})) == 64);
    CHECK(sana_caption_keep_length(mask_of(300, {first(64)})) == 64);
    CHECK(sana_caption_keep_length(mask_of(300, {first(65)})) == 128);
    CHECK(sana_caption_keep_length(mask_of(300, {first(128)})) == 128);
    CHECK(sana_caption_keep_length(mask_of(300, {first(129)})) == 300);
    CHECK(sana_caption_keep_length(mask_of(300, {first(300)})) == 300);
    // CFG: the longer row decides; a hole before a row's last token is kept (it stays masked).
    CHECK(sana_caption_keep_length(mask_of(300, {{0}, first(23)})) == 64);
    CHECK(sana_caption_keep_length(mask_of(300, {{0}, {0, 1, 100}})) == 128);
    // A row without any token attends evenly to all L keys: nothing may be dropped.
    CHECK(sana_caption_keep_length(mask_of(300, {{}, first(23)})) == 300);
    // Lengths at or below a kept length are left as they are.
    CHECK(sana_caption_keep_length(mask_of(64, {first(10)})) == 64);
    CHECK(sana_caption_keep_length(mask_of(40, {first(10)})) == 40);
    CHECK(sana_caption_keep_length(mask_of(100, {first(10)})) == 64);
    // Any nonzero value is a token (diffusers' masks are 0 / 1 of any integer or bool dtype).
    CHECK(sana_caption_keep_length(mask_of(300, {first(23)}).to(at::kBool)) == 64);

    // The leading rows with exactly one token: CFG's empty negative prompt first.
    using engine::pipelines::sana_one_token_captions;
    CHECK(sana_one_token_captions(mask_of(300, {{0}, first(23)})) == 1);
    CHECK(sana_one_token_captions(mask_of(300, {{5}, {0}})) == 2);
    CHECK(sana_one_token_captions(mask_of(300, {first(23), {0}})) == 0);
    CHECK(sana_one_token_captions(mask_of(300, {{}, {0}})) == 0);
    CHECK(sana_one_token_captions(mask_of(300, {first(2)})) == 0);
}

TEST_CASE("sana pipelines: dropping the caption's padding gives the image of all 300 positions", "[pipelines]") {
    // The golden prompts have 23 and 1 tokens of 300: the run keeps 64 positions (the golden cases above run that
    // way against diffusers, which attends to all 300). Off, every step reads all 300: the same latents and image up
    // to float rounding, where a dropped token or a wrong mask would move them by far more.
    for (const char* name : {"sana_pipeline_tiny", "sana_sprint_pipeline_tiny"}) {
        CAPTURE(name);
        auto gc = test_support::GoldenCase::load(name);
        auto pipe = load(gc);
        auto options = engine::pipelines::resolve_sana_options(*pipe, request_from(gc));
        REQUIRE(options.has_value());
        test_support::use_golden_prompt_embeddings(gc, *options);
        REQUIRE(options->prompt_embeds->mask.size(1) == 300);
        CHECK(engine::pipelines::sana_caption_keep_length(options->prompt_embeds->mask) == 64);
        if (options->negative_prompt_embeds) {  // CFG: the empty negative prompt's cross-attention is given
            CHECK(engine::pipelines::sana_one_token_captions(options->negative_prompt_embeds->mask) == 1);
        }
        REQUIRE(options->trim_caption);
        torch::NoGradGuard no_grad;
        SanaTrace trimmed, full;
        at::Tensor trimmed_image = engine::pipelines::generate_sana(*pipe, *options, {}, &trimmed);
        options->trim_caption = false;
        at::Tensor full_image = engine::pipelines::generate_sana(*pipe, *options, {}, &full);
        REQUIRE(trimmed.latents_per_step.size() == full.latents_per_step.size());
        for (size_t i = 0; i < full.latents_per_step.size(); ++i) {
            CAPTURE(i);
            CHECK_MAXDIFF_REL(trimmed.latents_per_step[i], full.latents_per_step[i], 1e-5);
        }
        CHECK_MAXDIFF_REL(trimmed_image, full_image, 1e-5);
        // The trace holds what the steps read: the given embeddings' first 64 positions (all 300 untrimmed).
        CHECK(trimmed.prompt.embeds.size(1) == 64);
        CHECK(trimmed.prompt.embeds.equal(options->prompt_embeds->embeds.narrow(1, 0, 64)));
        CHECK(full.prompt.embeds.size(1) == 300);
    }
}

namespace {

using engine::pipelines::PromptEmbedding;
using engine::pipelines::SanaPipeline;

constexpr int kMaxSequence = 300;

// A prompt whose encoding keeps `keep` caption positions (sana_caption_keep_length of its encoded mask): "a fox"
// grown phrase by phrase (the tiny tokenizer's token counts decide where it lands).
std::string prompt_keeping(const SanaPipeline& pipe, bool instruction, int64_t keep) {
    std::string prompt = "a fox";
    for (int i = 0; i < 200; ++i) {
        const auto tokens = engine::pipelines::tokenize_sana_prompt(pipe, prompt, instruction, kMaxSequence);
        const at::Tensor mask = engine::pipelines::sana_encoded_mask(tokens.mask, kMaxSequence);
        const int64_t k = engine::pipelines::sana_caption_keep_length(mask);
        if (k == keep) return prompt;
        if (k > keep) break;
        prompt += " and a red fox";
    }
    FAIL("no prompt keeps " << keep << " positions");
    return "";
}

// The input positions of the first `keep` encoded positions, written out here (not the pipeline's helper): <bos>,
// then the last kMaxSequence - 1 of L (output j >= 1 is input L - 299 + j - 1); the first `keep` when L <= 300.
at::Tensor encoded_index(int64_t length, int64_t keep) {
    std::vector<int64_t> v;
    for (int64_t j = 0; j < keep; ++j) v.push_back(length <= kMaxSequence || j == 0 ? j : length - 299 + j - 1);
    return at::tensor(v, at::kLong);
}

struct TracedRun {
    SanaTrace trace;
    at::Tensor image;
};

TracedRun run_traced(SanaPipeline& pipe, const engine::pipelines::SanaGenerateOptions& o) {
    torch::NoGradGuard no_grad;
    TracedRun r;
    r.image = engine::pipelines::generate_sana(pipe, o, {}, &r.trace);
    return r;
}

// Runs generate_sana with `o` (trim_caption on) and checks that every step's latents and the image agree to 1e-5 with
// `full`, a run with trim_caption off; returns the trimmed run's trace.
SanaTrace check_trimmed_run(SanaPipeline& pipe, const engine::pipelines::SanaGenerateOptions& o,
                            const TracedRun& full) {
    REQUIRE(o.trim_caption);
    const TracedRun trimmed = run_traced(pipe, o);
    REQUIRE(trimmed.trace.latents_per_step.size() == full.trace.latents_per_step.size());
    for (size_t i = 0; i < full.trace.latents_per_step.size(); ++i) {
        CAPTURE(i);
        CHECK_MAXDIFF_REL(trimmed.trace.latents_per_step[i], full.trace.latents_per_step[i], 1e-5);
    }
    CHECK_MAXDIFF_REL(trimmed.image, full.image, 1e-5);
    return trimmed.trace;
}

TracedRun untrimmed_run(SanaPipeline& pipe, engine::pipelines::SanaGenerateOptions o) {
    o.trim_caption = false;
    return run_traced(pipe, o);
}

// A trace's prompt embedding against the first `keep` positions of a full one.
void check_prefix(const PromptEmbedding& got, const PromptEmbedding& full, int64_t keep) {
    REQUIRE(got.embeds.size(1) == keep);
    REQUIRE(full.embeds.size(1) == kMaxSequence);
    CHECK(got.mask.equal(full.mask.narrow(1, 0, keep)));
    CHECK_ALLCLOSE(got.embeds, full.embeds.narrow(1, 0, keep), 0.0, 1e-5);
}

}  // namespace

TEST_CASE("sana text encoder: the trimmed encoding is the first K positions of the full one", "[pipelines]") {
    // Gemma-2 is causal and the padding is on the right: the prefix of the tokens up to the last kept position gives
    // the kept positions. With the instruction (L ≈ 478 tokens) the kept positions are <bos> and the ones after the
    // instruction, so the prefix is L - 300 + K tokens; without it, K.
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    auto pipe = load(gc);
    torch::NoGradGuard no_grad;
    for (const bool instruction : {true, false}) {
        for (const int64_t keep : {int64_t{64}, int64_t{128}, int64_t{300}}) {
            CAPTURE(instruction, keep);
            const std::string prompt = keep == 64 ? request_from(gc).prompt : prompt_keeping(*pipe, instruction, keep);
            const auto tokens = engine::pipelines::tokenize_sana_prompt(*pipe, prompt, instruction, kMaxSequence);
            const int64_t length = tokens.ids.size(1);
            CHECK((length > kMaxSequence) == instruction);
            const int64_t prefix = instruction ? length - kMaxSequence + keep : keep;
            CHECK(engine::pipelines::sana_encoder_prefix_length(length, kMaxSequence, keep) == prefix);

            const PromptEmbedding full =
                engine::pipelines::encode_sana_tokens(*pipe, tokens.ids, tokens.mask, kMaxSequence);
            REQUIRE(full.embeds.size(1) == kMaxSequence);
            CHECK(full.mask.equal(engine::pipelines::sana_encoded_mask(tokens.mask, kMaxSequence)));
            REQUIRE(engine::pipelines::sana_caption_keep_length(full.mask) == keep);
            const PromptEmbedding trimmed =
                engine::pipelines::encode_sana_tokens(*pipe, tokens.ids, tokens.mask, kMaxSequence, keep);
            check_prefix(trimmed, full, keep);
            // The tokens the kept positions come from, and the prompt path (tokenizer, then the same encoding).
            CHECK(trimmed.mask.equal(tokens.mask.index_select(1, encoded_index(length, keep))));
            const PromptEmbedding via_prompt =
                engine::pipelines::encode_sana_prompt(*pipe, prompt, instruction, kMaxSequence, keep);
            CHECK(via_prompt.embeds.equal(trimmed.embeds));
            CHECK(via_prompt.mask.equal(trimmed.mask));
        }
    }
    const auto tokens = engine::pipelines::tokenize_sana_prompt(*pipe, "a cat", true, kMaxSequence);
    CHECK_THROWS_AS(engine::pipelines::encode_sana_tokens(*pipe, tokens.ids, tokens.mask, kMaxSequence, 301),
                    engine::core::EngineError);
    CHECK_THROWS_AS(engine::pipelines::encode_sana_tokens(*pipe, tokens.ids, tokens.mask, kMaxSequence, 0),
                    engine::core::EngineError);
}

TEST_CASE("sana text encoder: a trimmed encoding runs Gemma-2 over the token prefix alone", "[pipelines]") {
    // The tokens' values cannot show how many tokens the encoder read (causal attention). A short sliding window can:
    // a padding query whose window holds only padding attends evenly to every key the encoder was given, so those
    // positions differ between inputs of different lengths. With a window of 4 the trimmed encoding must be the
    // model's forward over exactly the first L - 300 + K tokens (with the instruction) or K (without), not one more.
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    auto pipe = load(gc);
    pipe->text_encoder->config.sliding_window = 4;
    torch::NoGradGuard no_grad;
    for (const bool instruction : {true, false}) {
        CAPTURE(instruction);
        const auto tokens =
            engine::pipelines::tokenize_sana_prompt(*pipe, request_from(gc).prompt, instruction, kMaxSequence);
        const int64_t length = tokens.ids.size(1);
        const int64_t keep = 64;
        const int64_t prefix = instruction ? length - kMaxSequence + keep : keep;
        auto forward_over = [&](int64_t n) {
            const at::Tensor out = pipe->text_encoder->forward(tokens.ids.narrow(1, 0, n).contiguous(),
                                                               tokens.mask.narrow(1, 0, n).contiguous());
            return out.index_select(1, encoded_index(length, keep));
        };
        const PromptEmbedding trimmed =
            engine::pipelines::encode_sana_tokens(*pipe, tokens.ids, tokens.mask, kMaxSequence, keep);
        CHECK_ALLCLOSE(trimmed.embeds, forward_over(prefix), 0.0, 1e-6);
        CHECK_FALSE(trimmed.embeds.allclose(forward_over(prefix + 1), 0.0, 1e-4));
    }
}

TEST_CASE("sana pipelines: the trimmed run through the tokenizer and text encoder gives the full run's image",
          "[pipelines]") {
    // generate_sana tokenizes, encodes only the prefix the kept caption needs, and the steps read those positions:
    // the same latents and image as the untrimmed run, which encodes and attends to all 300 positions.
    for (const char* name : {"sana_pipeline_tiny", "sana_sprint_pipeline_tiny"}) {
        auto gc = test_support::GoldenCase::load(name);
        auto pipe = load(gc);
        auto options = engine::pipelines::resolve_sana_options(*pipe, request_from(gc));
        REQUIRE(options.has_value());
        REQUIRE_FALSE(options->prompt_embeds);
        const bool cfg = pipe->variant == engine::pipelines::SanaVariant::Sana;
        std::vector<std::pair<std::string, int64_t>> prompts = {{options->prompt, 64}};
        if (cfg) prompts.emplace_back(prompt_keeping(*pipe, true, 128), 128);  // the longer row decides
        for (const auto& [prompt, keep] : prompts) {
            CAPTURE(name, keep);
            auto o = *options;
            o.prompt = prompt;
            const TracedRun full = untrimmed_run(*pipe, o);
            const SanaTrace trimmed = check_trimmed_run(*pipe, o, full);
            check_prefix(trimmed.prompt, full.trace.prompt, keep);
            REQUIRE(trimmed.negative.has_value() == cfg);
            if (cfg) check_prefix(*trimmed.negative, *full.trace.negative, keep);
        }
    }
}

TEST_CASE("sana pipeline: one side given as full-length embeddings and the other encoded", "[pipelines]") {
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    auto pipe = load(gc);
    auto resolved = engine::pipelines::resolve_sana_options(*pipe, request_from(gc));
    REQUIRE(resolved.has_value());
    torch::NoGradGuard no_grad;
    for (const int64_t keep : {int64_t{64}, int64_t{128}}) {
        auto o = *resolved;
        if (keep == 128) o.prompt = prompt_keeping(*pipe, true, 128);
        const PromptEmbedding positive = engine::pipelines::encode_sana_prompt(*pipe, o.prompt, true, kMaxSequence);
        const PromptEmbedding negative =
            engine::pipelines::encode_sana_prompt(*pipe, o.negative_prompt, false, kMaxSequence);
        // The reference: both sides encoded in full, every step attending to all 300 positions.
        const TracedRun full = untrimmed_run(*pipe, o);
        for (const bool give_positive : {true, false}) {
            CAPTURE(keep, give_positive);
            auto given = o;
            if (give_positive) {
                given.prompt_embeds = positive;
            } else {
                given.negative_prompt_embeds = negative;
            }
            const SanaTrace trimmed = check_trimmed_run(*pipe, given, full);
            check_prefix(trimmed.prompt, positive, keep);
            REQUIRE(trimmed.negative.has_value());
            check_prefix(*trimmed.negative, negative, keep);
            // The given side is narrowed (not encoded again); the other is encoded over its prefix alone.
            const PromptEmbedding& given_side = give_positive ? positive : negative;
            const PromptEmbedding& traced = give_positive ? trimmed.prompt : *trimmed.negative;
            CHECK(traced.embeds.equal(given_side.embeds.narrow(1, 0, keep)));

            engine::pipelines::SanaCaptionSource pos, neg;
            if (give_positive) {
                pos.given = positive;
                neg.tokens = engine::pipelines::tokenize_sana_prompt(*pipe, o.negative_prompt, false, kMaxSequence);
            } else {
                neg.given = negative;
                pos.tokens = engine::pipelines::tokenize_sana_prompt(*pipe, o.prompt, true, kMaxSequence);
            }
            const auto run = engine::pipelines::encode_sana_run_prompts(*pipe, pos, neg, kMaxSequence, true);
            const int64_t instruction_length = give_positive ? 0 : pos.tokens.ids.size(1);
            CHECK(run.positive_tokens_encoded == (give_positive ? 0 : instruction_length - kMaxSequence + keep));
            CHECK(run.negative_tokens_encoded == (give_positive ? keep : 0));
            CHECK(run.positive.embeds.size(1) == keep);
            CHECK(run.negative->embeds.size(1) == keep);
        }
    }
    // Sides of different lengths cannot be concatenated: a clear error before anything is encoded, trimmed or not.
    for (const bool trim : {true, false}) {
        CAPTURE(trim);
        auto o = *resolved;
        o.trim_caption = trim;
        PromptEmbedding short_positive = engine::pipelines::encode_sana_prompt(*pipe, o.prompt, true, kMaxSequence, 64);
        o.prompt_embeds = short_positive;
        try {
            engine::pipelines::generate_sana(*pipe, o, {}, nullptr);
            FAIL("sides of 64 and 300 positions were accepted");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == engine::ErrorCode::InvalidRequest);
            CHECK_THAT(std::string(e.what()), Catch::Contains("different lengths"));
        }
    }
}

TEST_CASE("sana pipeline: the engine runs a job end to end with progress and previews", "[pipelines]") {
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    std::mutex m;
    std::condition_variable cv;
    std::shared_ptr<const engine::JobResult> result;
    engine::Error error;
    bool done = false;
    int denoise_steps = 0, previews = 0;
    engine::Callbacks cb;
    cb.on_progress = [&](const engine::ProgressEvent& e) {
        std::lock_guard<std::mutex> lock(m);
        if (e.stage == engine::JobStage::Denoising && e.step > 0) ++denoise_steps;
    };
    cb.on_preview = [&](const engine::PreviewEvent& e) {
        std::lock_guard<std::mutex> lock(m);
        ++previews;
        REQUIRE(e.frames.size() == 1);
        CHECK(e.frames[0].is_consistent());
    };
    cb.on_finished = [&](std::shared_ptr<const engine::JobResult> r) {
        std::lock_guard<std::mutex> lock(m);
        result = std::move(r);
        done = true;
        cv.notify_all();
    };
    cb.on_failed = [&](engine::JobId, const engine::Error& e) {
        std::lock_guard<std::mutex> lock(m);
        error = e;
        done = true;
        cv.notify_all();
    };
    auto eng = engine::create_engine({}, cb);
    REQUIRE(eng.has_value());
    auto r = request_from(gc);
    r.preview.min_interval_ms = 0;
    auto id = eng.value()->submit(r);
    REQUIRE(id.has_value());
    std::unique_lock<std::mutex> lock(m);
    REQUIRE(cv.wait_for(lock, std::chrono::minutes(5), [&] { return done; }));
    INFO(error.message);
    REQUIRE(result);
    CHECK(denoise_steps == 4);
    CHECK(previews == 4);
    REQUIRE(result->image.width == 96);
    REQUIRE(result->image.height == 64);
    REQUIRE(result->image.channels == 3);
    // The 8-bit image equals the golden's float image rounded (±1 for values on a rounding edge).
    at::Tensor expected = (gc.io("image")[0] * 255.0).round().permute({1, 2, 0}).contiguous();
    at::Tensor actual = torch::from_blob(const_cast<uint8_t*>(result->image.pixels.data()), {64, 96, 3}, torch::kByte)
                            .to(torch::kFloat);
    CHECK((actual - expected).abs().max().item<float>() <= 1.0f);
    bool has_seed = false;
    for (const auto& [k, v] : result->parameters) has_seed = has_seed || (k == "seed" && v == "42");
    CHECK(has_seed);
}

TEST_CASE("sana pipeline: bad requests and bad folders give clear errors", "[pipelines]") {
    auto gc = test_support::GoldenCase::load("sana_sprint_pipeline_tiny");
    SECTION("not a folder / no model_index.json / missing component") {
        auto missing = engine::pipelines::load_sana_pipeline("/nonexistent/kinora/model", {});
        REQUIRE_FALSE(missing.has_value());
        CHECK(missing.error().code == engine::ErrorCode::ModelNotFound);
        auto not_pipeline = engine::pipelines::load_sana_pipeline((gc.dir() / "vae").string(), {});
        REQUIRE_FALSE(not_pipeline.has_value());
        CHECK(not_pipeline.error().code == engine::ErrorCode::UnsupportedModel);
        CHECK_THAT(not_pipeline.error().message, Catch::Contains("model_index.json"));
        auto vc = engine::pipelines::load_sana_pipeline(
            (test_support::golden_dir() / "vc2_pipeline_tiny" / "model.ckpt").string(), {});
        REQUIRE_FALSE(vc.has_value());
        CHECK(vc.error().code == engine::ErrorCode::UnsupportedModel);
    }
    auto pipe = load(gc);
    auto base = request_from(gc);
    SECTION("Sprint timestep rules as diffusers states them") {
        auto r = base;
        r.num_inference_steps = 3;
        r.intermediate_timestep = 1.3;
        auto o = engine::pipelines::resolve_sana_options(*pipe, r);
        REQUIRE_FALSE(o.has_value());
        CHECK(o.error().code == engine::ErrorCode::InvalidRequest);
        CHECK_THAT(o.error().message, Catch::Contains("2"));
        r = base;
        r.num_inference_steps = 2;
        r.custom_timesteps = {1.5, 0.0};
        o = engine::pipelines::resolve_sana_options(*pipe, r);
        REQUIRE_FALSE(o.has_value());
        CHECK(o.error().code == engine::ErrorCode::InvalidRequest);
        r = base;
        r.num_inference_steps = 5;
        o = engine::pipelines::resolve_sana_options(*pipe, r);
        REQUIRE_FALSE(o.has_value());
        CHECK_THAT(o.error().message, Catch::Contains("1 to 4 steps"));
        r = base;
        r.num_inference_steps = 1;  // 1 step: no intermediate timestep by default
        o = engine::pipelines::resolve_sana_options(*pipe, r);
        REQUIRE(o.has_value());
        CHECK(o->scm_timesteps.size() == 2);
    }
    SECTION("sizes that are not multiples of the autoencoder's factor") {
        auto r = base;
        r.width_px = 97;  // the tiny DC-AE compresses 2x; the real ones 32x
        auto o = engine::pipelines::resolve_sana_options(*pipe, r);
        REQUIRE_FALSE(o.has_value());
        CHECK(o.error().code == engine::ErrorCode::InvalidRequest);
        CHECK_THAT(o.error().message, Catch::Contains("multiples of " + std::to_string(pipe->vae_scale_factor())));
        // the public request check rejects what no Sana model accepts, before any model is loaded
        r.width_px = 100;
        auto v = engine::validate_request(r);
        REQUIRE_FALSE(v.has_value());
        CHECK_THAT(v.error().message, Catch::Contains("multiple of 32"));
    }
    SECTION("a prompt longer than the model reads") {
        std::string longp;
        for (int i = 0; i < 400; ++i) longp += "cat ";
        REQUIRE_THROWS_AS(engine::pipelines::encode_sana_prompt(*pipe, longp, true, 300), engine::core::EngineError);
        try {
            engine::pipelines::encode_sana_prompt(*pipe, longp, true, 300);
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == engine::ErrorCode::InvalidRequest);
            CHECK_THAT(std::string(e.what()), Catch::Contains("too long"));
        }
    }
    SECTION("a negative prompt for Sprint") {
        auto r = base;
        r.negative_prompt = "blurry";
        auto o = engine::pipelines::resolve_sana_options(*pipe, r);
        REQUIRE_FALSE(o.has_value());
        CHECK(o.error().code == engine::ErrorCode::InvalidRequest);
    }
}

namespace {

// Runs a golden pipeline on CUDA with the golden's own prompt embeddings (GPU machines have no tokenizer
// bridge) and compares every step's latents and the image.
// reduced_bounds (bf16 runs): the relative-L2 bound of every step's latents, then of the image.
void run_golden_on_cuda(const std::string& name, at::ScalarType dtype, double tol, bool graphs = true,
                        const std::vector<double>& reduced_bounds = {}) {
    const bool reduced = dtype != at::kFloat;
    if (!torch::cuda::is_available()) {
        WARN("no CUDA device");
        return;
    }
    engine::core::set_cuda_tf32(false);  // float32 parity means float32 arithmetic (cuDNN defaults to TF32)
    auto gc = test_support::GoldenCase::load(name);
    engine::pipelines::SanaLoadOptions lo;
    lo.device = c10::Device(c10::kCUDA, 0);
    lo.dtype = dtype;
    lo.vae_dtype = dtype;
    lo.cuda_graphs = graphs;
    auto p = engine::pipelines::load_sana_pipeline(gc.dir().string(), lo);
    INFO((p ? std::string() : p.error().message));
    REQUIRE(p.has_value());
    auto options = engine::pipelines::resolve_sana_options(*p.value(), request_from(gc));
    REQUIRE(options.has_value());
    test_support::use_golden_prompt_embeddings(gc, *options);
    SanaTrace trace;
    torch::NoGradGuard no_grad;
    at::Tensor image = engine::pipelines::generate_sana(*p.value(), *options, {}, &trace);
    // With graphs on (and not switched off by KINORA_DISABLE_CUDA_GRAPHS), every step after the capture replays.
    const auto& runner = p.value()->transformer_graphs;
    if (graphs && engine::runtime::cuda_graphs_built() && engine::runtime::cuda_graphs_allowed_by_env()) {
        REQUIRE(runner != nullptr);
        CHECK_FALSE(runner->failed());
        CHECK(runner->captures() >= 1);
        CHECK(runner->replays() >= 1);
        CHECK(runner->eager_calls() == 0);
    } else if (!graphs) {
        CHECK(runner == nullptr);
    }
    const at::Tensor expected = gc.io("latents_per_step");
    REQUIRE(static_cast<int64_t>(trace.latents_per_step.size()) == expected.size(0));
    if (reduced) {
        REQUIRE(static_cast<int64_t>(reduced_bounds.size()) == expected.size(0) + 1);
    }
    for (int64_t i = 0; i < expected.size(0); ++i) {
        CAPTURE(i);
        if (reduced) {
            const double bound = std::max(tol, reduced_bounds[static_cast<size_t>(i)]);
            const auto r = test_support::relative_l2_report(trace.latents_per_step[static_cast<size_t>(i)],
                                                            expected[i], bound);
            std::printf("[cuda bf16] %s latents[%d]: %s\n", name.c_str(), static_cast<int>(i), r.summary.c_str());
            INFO(r.summary);
            CHECK(r.ok);
        } else {
            CHECK_MAXDIFF_REL(trace.latents_per_step[static_cast<size_t>(i)], expected[i], tol);
        }
    }
    if (reduced) {
        const auto r = test_support::relative_l2_report(image, gc.io("image"), std::max(tol, reduced_bounds.back()));
        std::printf("[cuda bf16] %s image: %s\n", name.c_str(), r.summary.c_str());
        INFO(r.summary);
        CHECK(r.ok);
    } else {
        REQUIRE_MAXDIFF_REL(image, gc.io("image"), tol);
    }
}

}  // namespace

TEST_CASE("sana pipelines (CUDA, float32): every step and the image match diffusers", "[.cuda][pipelines]") {
    run_golden_on_cuda("sana_pipeline_tiny", at::kFloat, 2e-3);
    run_golden_on_cuda("sana_sprint_pipeline_tiny", at::kFloat, 2e-3);
}

TEST_CASE("sana pipelines (CUDA, float32, CUDA graphs off): every step and the image match diffusers",
          "[.cuda][pipelines]") {
    run_golden_on_cuda("sana_pipeline_tiny", at::kFloat, 2e-3, /*graphs=*/false);
    run_golden_on_cuda("sana_sprint_pipeline_tiny", at::kFloat, 2e-3, /*graphs=*/false);
}

namespace {

using SanaPipelinePtr = std::shared_ptr<engine::pipelines::SanaPipeline>;

// The bf16 golden pipeline `name` on CUDA twice, with CUDA graphs (first) and without; nullopt (with a warning) on a
// machine without a CUDA device or with graphs off.
std::optional<std::pair<SanaPipelinePtr, SanaPipelinePtr>> bf16_cuda_graphed_and_eager(const char* name) {
    if (!torch::cuda::is_available() || !engine::runtime::cuda_graphs_built() ||
        !engine::runtime::cuda_graphs_allowed_by_env()) {
        WARN("no CUDA device, or CUDA graphs off");
        return std::nullopt;
    }
    auto gc = test_support::GoldenCase::load(name);
    engine::pipelines::SanaLoadOptions lo;
    lo.device = c10::Device(c10::kCUDA, 0);
    lo.dtype = at::kBFloat16;
    lo.vae_dtype = at::kBFloat16;
    lo.cuda_graphs = true;
    auto graphed = engine::pipelines::load_sana_pipeline(gc.dir().string(), lo);
    lo.cuda_graphs = false;
    auto eager = engine::pipelines::load_sana_pipeline(gc.dir().string(), lo);
    REQUIRE(graphed.has_value());
    REQUIRE(eager.has_value());
    return std::make_pair(graphed.value(), eager.value());
}

}  // namespace

// The text encoder through CUDA graphs (encode_sana_tokens, what encode_sana_prompt runs after its tokenizer; GPU
// machines have no tokenizer bridge, so random CPU token ids stand in): a prompt with the instruction's length and a
// plain one (two shapes, two graphs), each encoded three times (capture, then replays), equal the eager forward.
TEST_CASE("sana pipeline (CUDA): the text encoder's CUDA graphs give the eager embeddings", "[.cuda][pipelines]") {
    const auto pipes = bf16_cuda_graphed_and_eager("sana_pipeline_tiny");
    if (!pipes) return;
    const auto& [graphed, eager] = *pipes;
    c10::InferenceMode inference;
    const int64_t vocab = graphed->text_encoder->config.vocab_size;
    torch::manual_seed(3);
    for (const auto& [length, real] : std::vector<std::pair<int64_t, int64_t>>{{340, 120}, {300, 1}}) {
        at::Tensor ids = at::randint(4, vocab, {1, length}, at::kLong);
        at::Tensor mask = at::zeros({1, length}, at::kLong);
        mask.narrow(1, 0, real).fill_(1);
        ids.masked_fill_(mask == 0, 0);
        const auto expected = engine::pipelines::encode_sana_tokens(*eager, ids, mask, 300);
        REQUIRE(expected.embeds.size(1) == 300);
        for (int i = 0; i < 3; ++i) {
            const auto got = engine::pipelines::encode_sana_tokens(*graphed, ids, mask, 300);
            CAPTURE(length, i);
            CHECK(got.embeds.equal(expected.embeds));
            CHECK(got.mask.equal(expected.mask));
        }
    }
    const auto& runner = graphed->text_encoder_graphs;
    REQUIRE(runner != nullptr);
    CHECK_FALSE(runner->failed());
    CHECK(runner->captures() == 2);
    CHECK(runner->replays() == 6);  // the call that captures replays too
    CHECK(eager->text_encoder_graphs == nullptr);
}

// The trimmed encodings through CUDA graphs: every prefix shape a run can ask for (kept lengths 64, 128 and 300, with
// the instruction's length and without: kSanaTextEncoderGraphs of them) is captured once, then replayed, and gives
// the eager encoding.
TEST_CASE("sana pipeline (CUDA): trimmed encodings through the text encoder's CUDA graphs give the eager ones",
          "[.cuda][pipelines]") {
    const auto pipes = bf16_cuda_graphed_and_eager("sana_pipeline_tiny");
    if (!pipes) return;
    const auto& [graphed, eager] = *pipes;
    c10::InferenceMode inference;
    const int64_t vocab = graphed->text_encoder->config.vocab_size;
    torch::manual_seed(5);
    int64_t shapes = 0;
    for (const auto& [length, real] : std::vector<std::pair<int64_t, int64_t>>{{478, 190}, {300, 1}}) {
        at::Tensor ids = at::randint(4, vocab, {1, length}, at::kLong);
        at::Tensor mask = at::zeros({1, length}, at::kLong);
        mask.narrow(1, 0, real).fill_(1);
        ids.masked_fill_(mask == 0, 0);
        for (const int64_t keep : {int64_t{64}, int64_t{128}, int64_t{300}}) {
            const auto expected = engine::pipelines::encode_sana_tokens(*eager, ids, mask, 300, keep);
            REQUIRE(expected.embeds.size(1) == keep);
            ++shapes;
            for (int i = 0; i < 2; ++i) {
                const auto got = engine::pipelines::encode_sana_tokens(*graphed, ids, mask, 300, keep);
                CAPTURE(length, keep, i);
                CHECK(got.embeds.equal(expected.embeds));
                CHECK(got.mask.equal(expected.mask));
            }
        }
    }
    const auto& runner = graphed->text_encoder_graphs;
    REQUIRE(runner != nullptr);
    CHECK_FALSE(runner->failed());
    CHECK(shapes == engine::pipelines::kSanaTextEncoderGraphs);
    CHECK(runner->captures() == shapes);
    CHECK(runner->replays() == 2 * shapes);
    CHECK(runner->eager_calls() == 0);
}

// bf16 is judged by the relative L2 error against the float32 reference: within 1e-2 (issue #9), or within what
// diffusers itself reaches in bf16 on the same case where that is more (random tiny weights and CFG 4.5 amplify
// rounding: diffusers' own bf16 run misses 1e-2 from the third step of sana_pipeline_tiny on). Those numbers are
// measured, not chosen: .ref/bench/bf16_baseline.py (diffusers 0.40.0.dev0 sources, torch 2.11, NVIDIA H200 and
// H100 alike, 2026-11-27/28) ran both golden pipelines in bf16 on CUDA and printed the relative L2 error of every
// step's latents and of the image against these goldens. Kinora's latents must be no worse than that.
// The image carries one more factor, kDecodeSpread: its error is mostly the tiny random DC-AE decoding in bf16, and
// it moves by a quarter with the rounding order alone. Measured on sana_sprint_pipeline_tiny (H100, 2026-11-28):
// our CUDA image 0.0096 before and 0.0120 after a change that moved the first block's residual adds by at most one
// float32 ulp (every step's latents stayed at or below diffusers'); our CPU reference ops 0.0112; diffusers 0.0099,
// with the same worst pixel (0.21 at [0, 0, 62, 38]) in all of them. Decoding the float32 transformer's latents in
// bf16 gives diffusers 0.0090 and our CPU ops 0.0111 on this case, but 0.0057 and 0.0046 on sana_pipeline_tiny.
TEST_CASE("sana pipelines (CUDA, bfloat16): within 1e-2 relative (L2) of float32, or no worse than diffusers' bf16",
          "[.cuda][pipelines]") {
    constexpr double kDecodeSpread = 1.25;
    run_golden_on_cuda("sana_pipeline_tiny", at::kBFloat16, 1e-2, true,
                       {0.002741, 0.005964, 0.010324, 0.012561, 0.011799 * kDecodeSpread});
    run_golden_on_cuda("sana_sprint_pipeline_tiny", at::kBFloat16, 1e-2, true,
                       {0.001317, 0.004361, 0.009905 * kDecodeSpread});
}
