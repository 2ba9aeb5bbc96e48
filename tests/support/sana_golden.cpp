#include "support/sana_golden.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

#include "support/tensor_checks.h"

namespace test_support {

engine::TextToImageRequest sana_request_from(const GoldenCase& gc) {
    engine::TextToImageRequest r;
    r.model_path = gc.dir().string();
    r.prompt = gc.meta().at("prompt").get<std::string>();
    r.negative_prompt = gc.meta().value("negative_prompt", "");
    r.num_inference_steps = gc.meta().at("num_inference_steps").get<int>();
    r.guidance_scale = gc.meta().at("guidance_scale").get<double>();
    r.seed = gc.meta().at("seed").get<std::uint64_t>();
    r.height_px = gc.meta().at("height").get<int>();
    r.width_px = gc.meta().at("width").get<int>();
    r.use_resolution_binning = gc.meta().at("use_resolution_binning").get<bool>();
    return r;
}

void use_golden_prompt_embeddings(const GoldenCase& gc, engine::pipelines::SanaGenerateOptions& options) {
    options.prompt_embeds = engine::pipelines::PromptEmbedding{gc.io("prompt_embeds"), gc.io("prompt_attention_mask")};
    if (gc.has_io("negative_prompt_embeds")) {
        options.negative_prompt_embeds =
            engine::pipelines::PromptEmbedding{gc.io("negative_prompt_embeds"), gc.io("negative_prompt_attention_mask")};
    }
}

void check_sana_trace_prompts(const GoldenCase& gc, const engine::pipelines::SanaTrace& trace, int64_t kept) {
    REQUIRE(trace.prompt.embeds.size(1) == kept);
    CHECK(trace.prompt.mask.equal(gc.io("prompt_attention_mask").narrow(1, 0, kept)));
    CHECK_MAXDIFF_REL(trace.prompt.embeds, gc.io("prompt_embeds").narrow(1, 0, kept), 1e-4);
    REQUIRE(trace.negative.has_value() == gc.has_io("negative_prompt_embeds"));
    if (trace.negative) {
        REQUIRE(trace.negative->embeds.size(1) == kept);
        CHECK(trace.negative->mask.equal(gc.io("negative_prompt_attention_mask").narrow(1, 0, kept)));
        CHECK_MAXDIFF_REL(trace.negative->embeds, gc.io("negative_prompt_embeds").narrow(1, 0, kept), 1e-4);
    }
}

}  // namespace test_support
