// SanaTransformer2D against diffusers' SanaTransformer2DModel goldens (Sana, Sprint, 4K positional embedding),
// strict loading of the pipelines' transformer folders, and the errors bad configs, weights and inputs get.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/engine_error.h"
#include "kernels/ops.h"
#include "models/common/attention.h"
#include "models/common/feed_forward.h"
#include "models/transformers/sana_transformer_2d.h"
#include "runtime/cuda_graph.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

namespace fs = std::filesystem;
using engine::ErrorCode;
using engine::models::SanaConditioning;
using engine::models::SanaTransformer2D;
using engine::models::SanaTransformer2DConfig;

namespace {

SanaTransformer2D load_golden_model(const test_support::GoldenCase& gc, at::ScalarType dtype = at::kFloat) {
    engine::models::SanaTransformer2DLoadOptions options;
    options.dtype = dtype;
    auto model = engine::models::load_sana_transformer_2d(gc.dir().string(), options);
    INFO((model ? std::string("loaded") : model.error().message));
    REQUIRE(model.has_value());
    return std::move(model).value();
}

// Runs the golden case's inputs through the model (guidance when the case has it).
at::Tensor run_golden(const test_support::GoldenCase& gc, SanaTransformer2D& model) {
    SanaConditioning cond;
    cond.encoder_attention_mask = gc.io("encoder_attention_mask");
    if (gc.has_io("guidance")) {
        cond.guidance = gc.io("guidance");
    }
    torch::NoGradGuard no_grad;
    return model->forward(gc.io("hidden_states"), gc.io("encoder_hidden_states"), gc.io("timestep"), cond);
}

// Runs body(gc, model) for the Sana and the Sprint transformer goldens (float32 on the CPU, no grad), naming the case
// in any failure.
template <typename Body>
void for_each_transformer_golden(Body&& body) {
    for (const char* name : {"sana_transformer_tiny", "sana_sprint_transformer_tiny"}) {
        CAPTURE(name);
        auto gc = test_support::GoldenCase::load(name);
        auto model = load_golden_model(gc);
        torch::NoGradGuard no_grad;
        body(gc, model);
    }
}

// A fresh folder under the system temp dir, removed at scope exit.
struct TempDir {
    fs::path path;
    explicit TempDir(const std::string& name) {
        path =
            fs::temp_directory_path() / ("kinora_test_sana_" + name + "_" +
                                         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

void write_text(const fs::path& file, const std::string& text) {
    std::ofstream f(file, std::ios::binary);
    f << text;
}

nlohmann::json tiny_config_json() {
    return test_support::GoldenCase::load("sana_transformer_tiny").config();
}

// Calls fn, which must throw core::EngineError with `code`; returns the message.
template <typename Fn>
std::string engine_error_message(Fn&& fn, ErrorCode code) {
    try {
        fn();
    } catch (const engine::core::EngineError& e) {
        CHECK(e.code() == code);
        return e.what();
    }
    FAIL("no EngineError thrown");
    return {};
}

}  // namespace

TEST_CASE("SanaTransformer2D: matches diffusers on the tiny Sana case (non-square 8x12 latent, masked captions)",
          "[models]") {
    auto gc = test_support::GoldenCase::load("sana_transformer_tiny");
    auto model = load_golden_model(gc);
    CHECK_FALSE(model->config.guidance_embeds);
    CHECK_FALSE(model->config.interpolation_scale.has_value());
    // The loader packed each block's q, k, v (and the caption's k, v): the golden below runs them as one product.
    for (const auto& module : *model->transformer_blocks) {
        const auto& block = *module->as<engine::models::SanaTransformerBlockImpl>();
        CHECK(block.attn1->to_v->weight.is_alias_of(block.attn1->to_q->weight));
        CHECK(block.attn2->to_v->weight.is_alias_of(block.attn2->to_k->weight));
    }
    at::Tensor out = run_golden(gc, model);
    REQUIRE_MAXDIFF_REL(out, gc.io("sample"), 1e-4);
}

TEST_CASE("SanaTransformer2D: matches diffusers on the tiny Sprint case (qk norm across heads, guidance embedder)",
          "[models]") {
    auto gc = test_support::GoldenCase::load("sana_sprint_transformer_tiny");
    auto model = load_golden_model(gc);
    CHECK(model->config.guidance_embeds);
    CHECK(model->config.qk_norm == engine::models::QKNorm::RMSNormAcrossHeads);
    // q and k go through an RMSNorm here: the loader leaves the self-attention's projections unpacked.
    const auto& block0 = *model->transformer_blocks[0]->as<engine::models::SanaTransformerBlockImpl>();
    CHECK_FALSE(block0.attn1->to_k->weight.is_alias_of(block0.attn1->to_q->weight));
    at::Tensor out = run_golden(gc, model);
    REQUIRE_MAXDIFF_REL(out, gc.io("sample"), 1e-4);
}

// The pipeline computes the caption's cross-attention keys and values once per image (caption_kv) and passes them to
// every step: the same output as the forward that computes them itself, bit for bit (the same ops in the same order).
TEST_CASE("SanaTransformer2D: precomputed caption keys and values give the same output", "[models]") {
    for_each_transformer_golden([](test_support::GoldenCase& gc, SanaTransformer2D& model) {
        const at::Tensor expected = run_golden(gc, model);
        SanaConditioning cond;
        cond.encoder_attention_mask = gc.io("encoder_attention_mask");
        if (gc.has_io("guidance")) cond.guidance = gc.io("guidance");
        cond.caption_kv = model->caption_kv(gc.io("encoder_hidden_states"));
        const auto blocks = static_cast<size_t>(model->transformer_blocks->size());
        REQUIRE(cond.caption_kv.size() == 2 * blocks);
        CHECK(cond.caption_kv[0].size(0) == gc.io("encoder_hidden_states").size(0));
        CHECK(cond.caption_kv[0].size(1) == model->config.num_cross_attention_heads);
        const at::Tensor got =
            model->forward(gc.io("hidden_states"), gc.io("encoder_hidden_states"), gc.io("timestep"), cond);
        CHECK(got.equal(expected));
        // They are what the blocks attend to: other keys and values change the output.
        cond.caption_kv[1] = cond.caption_kv[1] * 2;
        const at::Tensor changed =
            model->forward(gc.io("hidden_states"), gc.io("encoder_hidden_states"), gc.io("timestep"), cond);
        CHECK((changed - expected).abs().max().item<double>() > 1e-4);
        // A wrong count or shape is an InvalidRequest naming caption_kv.
        cond.caption_kv.pop_back();
        const std::string m = engine_error_message(
            [&] { model->forward(gc.io("hidden_states"), gc.io("encoder_hidden_states"), gc.io("timestep"), cond); },
            ErrorCode::InvalidRequest);
        CHECK_THAT(m, Catch::Contains("caption_kv must hold a key and a value for each of the"));
        cond.caption_kv = model->caption_kv(gc.io("encoder_hidden_states").narrow(1, 0, 3));
        const std::string m2 = engine_error_message(
            [&] { model->forward(gc.io("hidden_states"), gc.io("encoder_hidden_states"), gc.io("timestep"), cond); },
            ErrorCode::InvalidRequest);
        CHECK_THAT(m2, Catch::Contains("caption_kv tensors must be"));
    });
}

// With CFG both captions see the same latent and timestep: the pipeline passes it once, and the model runs what
// comes before block 0's cross-attention (patch and time embedding, block 0's self-attention) for it alone.
TEST_CASE("SanaTransformer2D: one latent for all captions gives the output of that latent repeated", "[models]") {
    for_each_transformer_golden([](test_support::GoldenCase& gc, SanaTransformer2D& model) {
        const at::Tensor context = gc.io("encoder_hidden_states");  // [2, 10, C]
        const at::Tensor x = gc.io("hidden_states").narrow(0, 1, 1);
        const at::Tensor t = gc.io("timestep").narrow(0, 1, 1);
        SanaConditioning repeated, once;
        repeated.encoder_attention_mask = once.encoder_attention_mask = gc.io("encoder_attention_mask");
        if (gc.has_io("guidance")) {
            once.guidance = gc.io("guidance").narrow(0, 1, 1);
            repeated.guidance = once.guidance->repeat({2});
        }
        const at::Tensor expected = model->forward(x.repeat({2, 1, 1, 1}), context, t.repeat({2}), repeated);
        const at::Tensor got = model->forward(x, context, t, once);
        REQUIRE(got.sizes() == expected.sizes());
        CHECK_MAXDIFF_REL(got, expected, 1e-5);
        // The two captions still give two outputs.
        CHECK((got[0] - got[1]).abs().max().item<double>() > 1e-3);
        // With the caption's keys and values and the first sample's constants, as the pipeline runs it.
        at::Tensor mask = gc.io("encoder_attention_mask").clone();
        mask[0].zero_();
        mask[0][0] = 1;
        once.encoder_attention_mask = repeated.encoder_attention_mask = mask;
        const at::Tensor expected_masked = model->forward(x.repeat({2, 1, 1, 1}), context, t.repeat({2}), repeated);
        once.caption_kv = model->caption_kv(context);
        once.caption_constants = model->caption_constants(once.caption_kv, mask, 1);
        CHECK_MAXDIFF_REL(model->forward(x, context, t, once), expected_masked, 1e-5);
    });
}

// With CFG the empty negative prompt is <bos> alone: its cross-attention puts all the weight on that key (each masked
// key's weight is exactly 0), so it is one row per block, which the pipeline computes once (caption_constants) and
// the blocks add instead of attending. The same output, up to the rounding of a one-row matrix product.
TEST_CASE("SanaTransformer2D: one-token captions' cross-attention given as constants gives the same output",
          "[models]") {
    for_each_transformer_golden([](test_support::GoldenCase& gc, SanaTransformer2D& model) {
        const at::Tensor context = gc.io("encoder_hidden_states");  // [2, 10, C]
        // Sample 0 keeps one token, not at position 0 (any position works); sample 1 keeps the golden's tokens.
        at::Tensor mask = gc.io("encoder_attention_mask").clone();
        mask[0].zero_();
        mask[0][3] = 1;
        REQUIRE(mask[1].sum().item<int64_t>() > 1);
        SanaConditioning cond;
        cond.encoder_attention_mask = mask;
        if (gc.has_io("guidance")) cond.guidance = gc.io("guidance");
        cond.caption_kv = model->caption_kv(context);
        const at::Tensor expected = model->forward(gc.io("hidden_states"), context, gc.io("timestep"), cond);

        // Only for rows with one token: the golden's second row has more.
        CHECK_THROWS_WITH(model->caption_constants(cond.caption_kv, mask, 2),
                          Catch::Contains("must hold exactly one token each"));
        cond.caption_constants = model->caption_constants(cond.caption_kv, mask, 1);
        REQUIRE(cond.caption_constants.size() == static_cast<size_t>(model->transformer_blocks->size()));
        CHECK(cond.caption_constants[0].sizes() == at::IntArrayRef({1, 1, model->config.inner_dim()}));
        const at::Tensor got = model->forward(gc.io("hidden_states"), context, gc.io("timestep"), cond);
        CHECK_MAXDIFF_REL(got, expected, 1e-5);
        // The constant is that sample's cross-attention: the one token's value through to_out, whatever the query.
        {
            auto* attn2 = model->transformer_blocks->ptr<engine::models::SanaTransformerBlockImpl>(0)->attn2.get();
            const at::Tensor queries = at::randn({1, 5, model->config.inner_dim()});
            const at::Tensor bias = engine::models::attention_mask_to_bias(mask.narrow(0, 0, 1), at::kFloat);
            const at::Tensor rows = engine::models::sdpa_attention_kv(
                *attn2, queries, cond.caption_kv[0].narrow(0, 0, 1), cond.caption_kv[1].narrow(0, 0, 1), bias);
            CHECK_MAXDIFF_REL(rows, cond.caption_constants[0].expand({1, 5, model->config.inner_dim()}), 1e-5);
        }
        // Both samples given (S = B): nothing is attended.
        at::Tensor both = mask.clone();
        both[1].zero_();
        both[1][0] = 1;
        cond.encoder_attention_mask = both;
        cond.caption_constants.clear();
        const at::Tensor expected_both = model->forward(gc.io("hidden_states"), context, gc.io("timestep"), cond);
        cond.caption_constants = model->caption_constants(cond.caption_kv, both, 2);
        CHECK_MAXDIFF_REL(model->forward(gc.io("hidden_states"), context, gc.io("timestep"), cond), expected_both,
                          1e-5);
        // They are what the blocks add: other constants change the output.
        cond.encoder_attention_mask = mask;
        cond.caption_constants = model->caption_constants(cond.caption_kv, mask, 1);
        // (Not a uniform shift: the LayerNorms after it would remove that.)
        cond.caption_constants[0] = cond.caption_constants[0] + at::randn_like(cond.caption_constants[0]);
        const at::Tensor changed = model->forward(gc.io("hidden_states"), context, gc.io("timestep"), cond);
        CHECK((changed - expected).abs().max().item<double>() > 1e-3);
        // Without caption_kv, or of a wrong shape: InvalidRequest naming caption_constants.
        auto refusal = [&] {
            return engine_error_message(
                [&] { model->forward(gc.io("hidden_states"), context, gc.io("timestep"), cond); },
                ErrorCode::InvalidRequest);
        };
        cond.caption_constants.pop_back();
        CHECK_THAT(refusal(), Catch::Contains("caption_constants come with caption_kv"));
        cond.caption_constants = model->caption_constants(cond.caption_kv, mask, 1);
        cond.caption_constants[1] = cond.caption_constants[1].expand({3, 1, model->config.inner_dim()});
        CHECK_THAT(refusal(), Catch::Contains("caption_constants must be"));
        cond.caption_constants = model->caption_constants(cond.caption_kv, mask, 1);
        cond.caption_kv.clear();
        CHECK_THAT(refusal(), Catch::Contains("without caption_kv"));
    });
}

TEST_CASE("SanaTransformer2D: matches diffusers on the tiny 4K case (sin-cos positions, interpolation_scale 2)",
          "[models]") {
    auto gc = test_support::GoldenCase::load("sana_4k_transformer_tiny");
    auto model = load_golden_model(gc);
    REQUIRE(model->config.interpolation_scale.has_value());
    CHECK(*model->config.interpolation_scale == 2.0);
    at::Tensor out = run_golden(gc, model);
    REQUIRE_MAXDIFF_REL(out, gc.io("sample"), 1e-4);

    // The positional embedding is computed for the actual grid: another size in between must not leak into it.
    {
        torch::NoGradGuard no_grad;
        auto x = gc.io("hidden_states").slice(3, 0, 8);  // 8x8 = sample_size
        auto y = model->forward(x, gc.io("encoder_hidden_states"), gc.io("timestep"),
                                SanaConditioning{gc.io("encoder_attention_mask"), std::nullopt, {}, {}});
        CHECK(y.sizes() == x.sizes());
    }
    REQUIRE_MAXDIFF_REL(run_golden(gc, model), gc.io("sample"), 1e-4);
}

TEST_CASE("SanaTransformer2D: the same module runs in bfloat16 with diffusers' float32 upcasts", "[models]") {
    // bfloat16 keeps 8 bits of mantissa: the comparison with the float32 reference is a sanity bound on the
    // bf16 path (dtype plumbing, float32 statistics), not a precision claim. Measured on CPU: 0.010-0.013 of
    // max|ref|.
    for (const char* name : {"sana_transformer_tiny", "sana_sprint_transformer_tiny", "sana_4k_transformer_tiny"}) {
        CAPTURE(name);
        auto gc = test_support::GoldenCase::load(name);
        auto model = load_golden_model(gc, at::kBFloat16);
        CHECK(model->dtype() == at::kBFloat16);
        at::Tensor out = run_golden(gc, model);
        CHECK(out.scalar_type() == at::kBFloat16);
        CHECK_MAXDIFF_REL(out.to(at::kFloat), gc.io("sample"), 3e-2);
    }
}

TEST_CASE("SanaTransformer2D: the transformers of the Sana and Sprint pipelines load strictly from their folders",
          "[models]") {
    for (const char* name : {"sana_pipeline_tiny", "sana_sprint_pipeline_tiny"}) {
        CAPTURE(name);
        auto gc = test_support::GoldenCase::load(name);
        auto model = engine::models::load_sana_transformer_2d((gc.dir() / "transformer").string());
        INFO((model ? std::string("loaded") : model.error().message));
        REQUIRE(model.has_value());
        auto& m = *model;
        const auto& cfg = m->config;
        // What the pipeline reads: sizes for the latents, the timestep / guidance scaling.
        CHECK(cfg.in_channels == 8);
        CHECK(cfg.out_channels == 8);
        CHECK(cfg.sample_size == 8);
        CHECK(cfg.timestep_scale == 1.0);
        CHECK(cfg.guidance_embeds_scale == Approx(0.1));

        // One step on the pipeline's prompt embeddings at its 32x48 latent size.
        at::Tensor embeds = gc.io("prompt_embeds");
        torch::manual_seed(0);
        at::Tensor latents = torch::randn({1, cfg.in_channels, 32, 48});
        SanaConditioning cond;
        cond.encoder_attention_mask = gc.io("prompt_attention_mask");
        if (cfg.guidance_embeds) {
            cond.guidance = torch::full({1}, 4.5 * cfg.guidance_embeds_scale);
        }
        torch::NoGradGuard no_grad;
        at::Tensor out = m->forward(latents, embeds, torch::full({1}, 500.0), cond);
        CHECK(out.sizes() == latents.sizes());
        CHECK(out.isfinite().all().item<bool>());
    }
}

TEST_CASE("SanaTransformer2DConfig: released configs parse; absent keys take diffusers' defaults", "[models]") {
    // Sana_Sprint_0.6B_1024px_diffusers transformer/config.json (docs/reference/sana.md §1.8).
    const auto sprint = nlohmann::json::parse(R"({
        "_class_name": "SanaTransformer2DModel", "_diffusers_version": "0.33.0.dev0",
        "attention_bias": false, "attention_head_dim": 32, "caption_channels": 2304, "cross_attention_dim": 1152,
        "cross_attention_head_dim": 72, "dropout": 0.0, "guidance_embeds": true, "guidance_embeds_scale": 0.1,
        "in_channels": 32, "interpolation_scale": null, "mlp_ratio": 2.5, "norm_elementwise_affine": false,
        "norm_eps": 1e-06, "num_attention_heads": 36, "num_cross_attention_heads": 16, "num_layers": 28,
        "out_channels": 32, "patch_size": 1, "qk_norm": "rms_norm_across_heads", "sample_size": 32,
        "timestep_scale": 1.0})");
    auto c = SanaTransformer2DConfig::from_json(sprint);
    REQUIRE(c.has_value());
    CHECK(c->inner_dim() == 1152);
    CHECK(c->cross_inner_dim() == 1152);
    CHECK(c->num_layers == 28);
    CHECK(c->guidance_embeds);
    CHECK(c->qk_norm == engine::models::QKNorm::RMSNormAcrossHeads);

    // A 1.6B config without interpolation_scale (as the early hub configs): defaults = SanaTransformer2DModel's.
    auto d = SanaTransformer2DConfig::from_json(nlohmann::json::parse(R"({"_class_name": "SanaTransformer2DModel"})"));
    REQUIRE(d.has_value());
    CHECK(d->in_channels == 32);
    CHECK(d->out_channels == 32);
    CHECK(d->inner_dim() == 2240);
    CHECK(d->num_layers == 20);
    CHECK(d->cross_inner_dim() == 2240);
    CHECK(d->caption_channels == 2304);
    CHECK(d->mlp_ratio == 2.5);
    CHECK(d->norm_eps == 1e-6);
    CHECK_FALSE(d->interpolation_scale.has_value());
    CHECK_FALSE(d->guidance_embeds);
    CHECK(d->qk_norm == engine::models::QKNorm::None);

    // out_channels null → in_channels; metadata and training-only keys are ignored.
    auto j = tiny_config_json();
    j["out_channels"] = nullptr;
    j["_name_or_path"] = "Efficient-Large-Model/Sana_1600M_1024px_diffusers";
    j["_use_default_values"] = nlohmann::json::array({"timestep_scale"});
    j["dropout"] = 0.1;
    auto e = SanaTransformer2DConfig::from_json(j);
    REQUIRE(e.has_value());
    CHECK(e->out_channels == e->in_channels);
    // Absent, out_channels takes the signature's default (32), not in_channels.
    j.erase("out_channels");
    j["in_channels"] = 16;
    auto f = SanaTransformer2DConfig::from_json(j);
    REQUIRE(f.has_value());
    CHECK(f->in_channels == 16);
    CHECK(f->out_channels == 32);
}

TEST_CASE("SanaTransformer2DConfig: unknown or unsupported math-changing keys are refused by name", "[models]") {
    struct Case {
        const char* key;
        nlohmann::json value;
        ErrorCode code;
    };
    const std::vector<Case> cases = {
        {"use_rope", true, ErrorCode::UnsupportedModel},         // unknown: may change the computation
        {"qk_norm", "layer_norm", ErrorCode::UnsupportedModel},  // known, not implemented
        {"cross_attention_dim", nullptr, ErrorCode::UnsupportedModel},
        {"cross_attention_dim", 48, ErrorCode::UnsupportedModel},  // must equal inner_dim (caption projection)
        {"_class_name", "AutoencoderDC", ErrorCode::UnsupportedModel},
        {"num_layers", "two", ErrorCode::ModelLoadFailed},
        {"num_layers", 2.0, ErrorCode::ModelLoadFailed},  // diffusers writes integers; a float means something is off
        {"in_channels", nullptr, ErrorCode::ModelLoadFailed},  // null only means something for a few keys
        {"mlp_ratio", nullptr, ErrorCode::ModelLoadFailed},
        {"patch_size", 0, ErrorCode::ModelLoadFailed},
        {"interpolation_scale", -1.0, ErrorCode::ModelLoadFailed},
    };
    for (const auto& c : cases) {
        CAPTURE(c.key, c.value.dump());
        auto j = tiny_config_json();
        j[c.key] = c.value;
        auto r = SanaTransformer2DConfig::from_json(j);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == c.code);
        CHECK_THAT(r.error().message, Catch::Contains(c.key));
    }

    // Through the loader, the message also names the file.
    TempDir dir("badcfg");
    auto j = tiny_config_json();
    j["use_rope"] = true;
    write_text(dir.path / "config.json", j.dump(2));
    auto r = engine::models::load_sana_transformer_2d(dir.path.string());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UnsupportedModel);
    CHECK_THAT(r.error().message, Catch::Contains("config.json") && Catch::Contains("use_rope"));
}

TEST_CASE("SanaTransformer2D: weights of another model fail strict loading, naming the keys", "[models]") {
    auto sana = test_support::GoldenCase::load("sana_transformer_tiny");
    SECTION("DC-AE weights under a Sana config") {
        auto dcae = test_support::GoldenCase::load("dcae_tiny");
        TempDir dir("dcae");
        write_text(dir.path / "config.json", sana.config().dump(2));
        fs::copy_file(dcae.file("diffusion_pytorch_model.safetensors"),
                      dir.path / "diffusion_pytorch_model.safetensors");
        auto r = engine::models::load_sana_transformer_2d(dir.path.string());
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(r.error().message,
                   Catch::Contains("missing from the checkpoint") && Catch::Contains("patch_embed.proj.weight") &&
                       Catch::Contains("unexpected in the checkpoint") && Catch::Contains("decoder."));
    }
    SECTION("Sprint weights under the Sana config") {
        auto sprint = test_support::GoldenCase::load("sana_sprint_transformer_tiny");
        TempDir dir("sprint");
        write_text(dir.path / "config.json", sana.config().dump(2));
        fs::copy_file(sprint.file("diffusion_pytorch_model.safetensors"),
                      dir.path / "diffusion_pytorch_model.safetensors");
        auto r = engine::models::load_sana_transformer_2d(dir.path.string());
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(r.error().message, Catch::Contains("time_embed.emb.timestep_embedder") &&
                                          Catch::Contains("time_embed.guidance_embedder") &&
                                          Catch::Contains("unexpected in the checkpoint (16)"));
    }
    SECTION("no weights at all") {
        TempDir dir("noweights");
        write_text(dir.path / "config.json", sana.config().dump(2));
        auto r = engine::models::load_sana_transformer_2d(dir.path.string());
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::ModelNotFound);
        CHECK_THAT(r.error().message, Catch::Contains("diffusion_pytorch_model.safetensors"));
    }
}

TEST_CASE("SanaTransformer2D: bad inputs get InvalidRequest errors that say what is wrong", "[models]") {
    auto gc = test_support::GoldenCase::load("sana_transformer_tiny");
    auto j = gc.config();
    j["patch_size"] = 2;
    auto cfg = SanaTransformer2DConfig::from_json(j);
    REQUIRE(cfg.has_value());
    SanaTransformer2D model(*cfg);  // random weights: only the checks and shapes matter here
    model->eval();
    torch::NoGradGuard no_grad;
    const at::Tensor ctx = gc.io("encoder_hidden_states");
    const at::Tensor t = gc.io("timestep");
    const SanaConditioning cond{gc.io("encoder_attention_mask"), std::nullopt, {}, {}};

    // A latent divisible by the patch size works (and unpatchifies back to its size).
    CHECK(model->forward(torch::randn({2, 8, 8, 12}), ctx, t, cond).sizes() == at::IntArrayRef({2, 8, 8, 12}));

    auto msg = engine_error_message(
        [&] {
            model->forward(torch::randn({2, 8, 9, 12}), ctx, t, cond);
        },
        ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("9x12") && Catch::Contains("patch size 2"));
    msg = engine_error_message(
        [&] {
            model->forward(torch::randn({2, 4, 8, 12}), ctx, t, cond);
        },
        ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("channels"));
    msg = engine_error_message(
        [&] {
            model->forward(torch::randn({2, 8, 8, 12}), ctx.slice(2, 0, 20), t, cond);
        },
        ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("encoder_hidden_states"));
    msg = engine_error_message(
        [&] {
            model->forward(torch::randn({2, 8, 8, 12}), ctx, t.slice(0, 0, 1), cond);
        },
        ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("timestep"));
    // Three latents for two captions; one latent with two timesteps.
    msg = engine_error_message([&] { model->forward(torch::randn({3, 8, 8, 12}), ctx, t, cond); },
                               ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("hidden_states must hold B=2 latents"));
    msg = engine_error_message([&] { model->forward(torch::randn({1, 8, 8, 12}), ctx, t, cond); },
                               ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("timestep must be [1]"));
    msg = engine_error_message(
        [&] {
            model->forward(torch::randn({2, 8, 8, 12}), ctx, t,
                           SanaConditioning{gc.io("encoder_attention_mask").slice(1, 0, 5), std::nullopt, {}, {}});
        },
        ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("encoder_attention_mask"));
    msg = engine_error_message(
        [&] {
            model->forward(torch::randn({2, 8, 8, 12}), ctx, t,
                           SanaConditioning{std::nullopt, torch::ones({2}), {}, {}});
        },
        ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("guidance_embeds = false"));

    // Sprint without guidance.
    auto sprint = test_support::GoldenCase::load("sana_sprint_transformer_tiny");
    auto sprint_model = load_golden_model(sprint);
    msg = engine_error_message([&] { sprint_model->forward(sprint.io("hidden_states"), ctx, t, cond); },
                               ErrorCode::InvalidRequest);
    CHECK_THAT(msg, Catch::Contains("needs") && Catch::Contains("guidance"));
}

// CUDA graphs (runtime/cuda_graph.h) replay the same kernels as the eager forward: the graphed transformer must
// equal the eager one within float32 rounding, and match diffusers as the eager one does. A second call with other
// inputs checks that a replay reads the new inputs (static buffers are refilled).
TEST_CASE("SanaTransformer2D (CUDA): the CUDA-graphed forward equals the eager forward", "[.cuda][models]") {
    if (!torch::cuda::is_available()) {
        WARN("no CUDA device");
        return;
    }
    for (const char* name : {"sana_transformer_tiny", "sana_sprint_transformer_tiny"}) {
        CAPTURE(name);
        auto gc = test_support::GoldenCase::load(name);
        engine::models::SanaTransformer2DLoadOptions options;
        options.device = c10::Device(c10::kCUDA, 0);
        auto loaded = engine::models::load_sana_transformer_2d(gc.dir().string(), options);
        INFO((loaded ? std::string("loaded") : loaded.error().message));
        REQUIRE(loaded.has_value());
        SanaTransformer2D model = std::move(loaded).value();
        const bool guided = gc.has_io("guidance");
        const auto cuda = [](const at::Tensor& t) { return t.to(c10::Device(c10::kCUDA, 0)); };
        auto eager = [&](const std::vector<at::Tensor>& in) {
            SanaConditioning cond;
            cond.encoder_attention_mask = in[3];
            if (in.size() > 4) cond.guidance = in[4];
            return model->forward(in[0], in[1], in[2], cond);
        };
        engine::runtime::CudaGraphRunner runner(name, eager);
        runner.set_enabled(true);  // whatever KINORA_DISABLE_CUDA_GRAPHS says
        torch::NoGradGuard no_grad;
        std::vector<at::Tensor> inputs = {cuda(gc.io("hidden_states")), cuda(gc.io("encoder_hidden_states")),
                                          cuda(gc.io("timestep")), cuda(gc.io("encoder_attention_mask"))};
        if (guided) inputs.push_back(cuda(gc.io("guidance")));
        const at::Tensor reference = eager(inputs).cpu();
        const at::Tensor graphed = runner.run(inputs).cpu();
        REQUIRE_FALSE(runner.failed());
        CHECK(runner.captures() == 1);
        CHECK(runner.replays() == 1);
        REQUIRE_MAXDIFF_REL(graphed, reference, 1e-5);
        REQUIRE_MAXDIFF_REL(graphed, gc.io("sample"), 1e-4);
        // Other values, same shapes: a replay of the same graph.
        std::vector<at::Tensor> other = inputs;
        other[0] = inputs[0] * -0.5 + 0.25;
        other[2] = inputs[2] * 0.5 + 0.125;
        if (guided) other[4] = inputs[4] * 2.0;
        const at::Tensor reference2 = eager(other).cpu();
        const at::Tensor graphed2 = runner.run(other).cpu();
        CHECK(runner.captures() == 1);
        CHECK(runner.replays() == 2);
        REQUIRE_MAXDIFF_REL(graphed2, reference2, 1e-5);
        CHECK((graphed2 - graphed).abs().max().item<double>() > 1e-3);  // the new inputs were used
    }
}

// As the pipeline runs it: the caption's keys and values as persistent inputs of the graph (read where they lie, not
// copied), refilled in place for a new caption: the replay uses the new values; new buffers mean a new graph.
TEST_CASE("SanaTransformer2D (CUDA): a graph over persistent caption keys and values follows their refills",
          "[.cuda][models]") {
    if (!torch::cuda::is_available()) {
        WARN("no CUDA device");
        return;
    }
    auto gc = test_support::GoldenCase::load("sana_transformer_tiny");
    engine::models::SanaTransformer2DLoadOptions options;
    options.device = c10::Device(c10::kCUDA, 0);
    auto loaded = engine::models::load_sana_transformer_2d(gc.dir().string(), options);
    REQUIRE(loaded.has_value());
    SanaTransformer2D model = std::move(loaded).value();
    const auto cuda = [](const at::Tensor& t) { return t.to(c10::Device(c10::kCUDA, 0)); };
    auto fn = [&](const std::vector<at::Tensor>& in) {
        SanaConditioning cond;
        cond.encoder_attention_mask = in[3];
        cond.caption_kv.assign(in.begin() + 4, in.end());
        return model->forward(in[0], in[1], in[2], cond);
    };
    engine::runtime::CudaGraphRunner runner("persistent", fn);
    runner.set_enabled(true);
    torch::NoGradGuard no_grad;
    const std::vector<at::Tensor> inputs = {cuda(gc.io("hidden_states")), cuda(gc.io("encoder_hidden_states")),
                                            cuda(gc.io("timestep")), cuda(gc.io("encoder_attention_mask"))};
    std::vector<at::Tensor> kv = model->caption_kv(inputs[1]);
    const at::Tensor first = runner.run(inputs, kv).cpu();
    REQUIRE_FALSE(runner.failed());
    REQUIRE_MAXDIFF_REL(first, gc.io("sample"), 1e-4);
    // A new caption, refilled into the same buffers: the same graph replays over the new values.
    const at::Tensor caption2 = inputs[1] * -0.75 + 0.1;
    const std::vector<at::Tensor> kv2 = model->caption_kv(caption2);
    for (size_t i = 0; i < kv.size(); ++i) kv[i].copy_(kv2[i]);
    std::vector<at::Tensor> inputs2 = inputs;
    inputs2[1] = caption2;
    SanaConditioning eager_cond;
    eager_cond.encoder_attention_mask = inputs[3];
    const at::Tensor expected2 = model->forward(inputs2[0], inputs2[1], inputs2[2], eager_cond).cpu();
    const at::Tensor second = runner.run(inputs2, kv).cpu();
    CHECK(runner.captures() == 1);
    CHECK(runner.replays() == 2);
    REQUIRE_MAXDIFF_REL(second, expected2, 1e-5);
    CHECK((second - first).abs().max().item<double>() > 1e-3);
    // Other buffers (other addresses): a graph of their own.
    const at::Tensor third = runner.run(inputs2, kv2).cpu();
    CHECK(runner.captures() == 2);
    REQUIRE_MAXDIFF_REL(third, expected2, 1e-5);
}

TEST_CASE("DepthwiseTapsCache: made once, remade when the weight or bias is loaded again", "[models]") {
    torch::NoGradGuard no_grad;
    auto weight = torch::randn({6, 1, 3, 3});
    auto bias = torch::randn({6});
    engine::models::DepthwiseTapsCache cache;
    const at::Tensor first = cache.get(weight, bias);
    CHECK(torch::equal(first, kernels::depthwise_taps(weight, bias)));
    CHECK(cache.get(weight, bias).data_ptr() == first.data_ptr());  // kept while nothing changed
    weight.mul_(2);                                                  // a load writes in place: the version moves
    CHECK(torch::equal(cache.get(weight, bias), kernels::depthwise_taps(weight, bias)));
    bias.copy_(torch::randn({6}));
    CHECK(torch::equal(cache.get(weight, bias), kernels::depthwise_taps(weight, bias)));
    auto other = torch::randn({6, 1, 3, 3});  // another tensor (storage) altogether
    CHECK(torch::equal(cache.get(other, {}), kernels::depthwise_taps(other, {})));
}

TEST_CASE("pack_projections: q, k, v as one matrix product give the attention of the separate layers", "[models]") {
    torch::NoGradGuard no_grad;
    torch::manual_seed(31);
    using engine::models::Attention;
    using engine::models::AttentionOptions;
    const bool bias = GENERATE(false, true);
    INFO("bias " << bias);
    AttentionOptions options;
    options.query_dim = 24;
    options.heads = 3;
    options.dim_head = 8;
    options.bias = bias;
    Attention separate(options), packed(options);
    for (auto& p : separate->parameters()) {
        p.copy_(torch::randn(p.sizes()) * 0.2);
    }
    for (const auto& item : separate->named_parameters()) {
        packed->named_parameters()[item.key()].copy_(item.value());
    }
    const auto x = torch::randn({2, 10, 24});
    const auto expected = engine::models::sana_linear_attention(*separate, x);

    REQUIRE(engine::models::pack_projections({&packed->to_q, &packed->to_k, &packed->to_v}));
    // The registered parameters themselves are the slices: one storage, same values and names.
    CHECK(packed->to_k->weight.is_alias_of(packed->to_q->weight));
    CHECK(packed->to_v->weight.data_ptr() ==
          static_cast<const float*>(packed->to_q->weight.data_ptr()) + 2 * 24 * 24);
    CHECK(packed->named_parameters()["to_k.weight"].is_alias_of(packed->to_q->weight));
    for (const auto& item : separate->named_parameters()) {
        CHECK(torch::equal(packed->named_parameters()[item.key()], item.value()));
    }
    // Packing twice is a no-op.
    const void* storage = packed->to_q->weight.data_ptr();
    CHECK(engine::models::pack_projections({&packed->to_q, &packed->to_k, &packed->to_v}));
    CHECK(packed->to_q->weight.data_ptr() == storage);
    // The same attention (each output column is the same dot product; allow for the BLAS's blocking).
    REQUIRE_MAXDIFF_REL(engine::models::sana_linear_attention(*packed, x), expected, 1e-6);

    // A conversion copies each parameter on its own: no longer packed, and still the same attention.
    packed->to(torch::kDouble);
    separate->to(torch::kDouble);
    CHECK_FALSE(packed->to_k->weight.is_alias_of(packed->to_q->weight));
    REQUIRE_MAXDIFF_REL(engine::models::sana_linear_attention(*packed, x.to(torch::kDouble)),
                        engine::models::sana_linear_attention(*separate, x.to(torch::kDouble)), 1e-12);
}

TEST_CASE("pack_projections: layers that cannot share one product are left as they are", "[models]") {
    torch::NoGradGuard no_grad;
    using engine::models::PlainLinear;
    const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat), f64 = f32.dtype(at::kDouble);
    PlainLinear a(16, 8, true, f32), b(16, 8, false, f32), c(12, 8, true, f32), d(16, 8, true, f64);
    for (PlainLinear* layer : {&a, &b, &c, &d}) {
        for (auto& p : (*layer)->parameters()) {
            p.copy_(torch::randn(p.sizes()));
        }
    }
    const auto a_weight = a->weight.clone();
    CHECK_FALSE(engine::models::pack_projections({&a, &b}));  // with and without a bias
    CHECK_FALSE(engine::models::pack_projections({&a, &c}));  // other input widths
    CHECK_FALSE(engine::models::pack_projections({&a, &d}));  // other dtypes
    CHECK_FALSE(engine::models::pack_projections({&a}));      // nothing to pack
    CHECK(torch::equal(a->weight, a_weight));
    CHECK_FALSE(b->weight.is_alias_of(a->weight));
}
