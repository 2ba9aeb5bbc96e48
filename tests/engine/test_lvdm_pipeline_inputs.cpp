// The LVDM pipelines' inputs: which checkpoints and configs load (and the clear errors for the others), where the
// CLIP vocabulary is found, how requests are checked against the model, and VideoCrafter-i2v through the same code
// path as DynamiCrafter (a tiny VC-i2v checkpoint assembled from the golden components).
#include <catch2/catch.hpp>

#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/engine_error.h"
#include "core/json.h"
#include "engine/media_io.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "pipelines/lvdm_pipeline.h"
#include "support/golden_case.h"
#include "support/tensor_checks.h"

namespace fs = std::filesystem;
using engine::ErrorCode;
using engine::pipelines::LVDMLoadOptions;
using engine::pipelines::load_lvdm_pipeline;
using test_support::GoldenCase;

namespace {

std::string vocab_dir() { return (test_support::golden_dir() / "clip_tokenizer").string(); }

fs::path temp_dir(const std::string& tag) {
    fs::path d = fs::temp_directory_path() / ("kinora-lvdm-" + tag + "-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

LVDMLoadOptions golden_options(const GoldenCase& gc) {
    LVDMLoadOptions o;
    o.config_path = gc.file("config.json").string();
    o.tokenizer_path = vocab_dir();
    return o;
}

engine::io::TensorMap golden_tensors(const GoldenCase& gc) {
    auto w = engine::io::load_checkpoint(gc.file("model.ckpt").string());
    REQUIRE(w.has_value());
    engine::io::TensorMap copy;
    for (const auto& [k, v] : *w) copy[k] = v.clone();
    return copy;
}

std::string save(const fs::path& dir, const engine::io::TensorMap& w, const std::string& name = "model.safetensors") {
    const std::string path = (dir / name).string();
    auto ok = engine::io::save_safetensors(path, w);
    REQUIRE(ok.has_value());
    return path;
}

// Sets an environment variable for one scope.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) {
        if (const char* v = std::getenv(name)) old_ = v;
        had_ = std::getenv(name) != nullptr;
        ::setenv(name, value.c_str(), 1);
    }
    ~ScopedEnv() {
        if (had_) {
            ::setenv(name_, old_.c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }

private:
    const char* name_;
    std::string old_;
    bool had_ = false;
};

engine::Image grey_image(int width, int height, uint8_t value = 128) {
    return {width, height, 3, std::vector<uint8_t>(static_cast<size_t>(width * height * 3), value)};
}

}  // namespace

TEST_CASE("lvdm load: checkpoints of other models and broken checkpoints are refused clearly", "[pipelines]") {
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    SECTION("a missing file") {
        auto p = load_lvdm_pipeline("/nonexistent/kinora/model.ckpt", golden_options(gc));
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelNotFound);
        CHECK_THAT(p.error().message, Catch::Contains("does not exist"));
    }
    SECTION("a Sana transformer (safetensors) and a Sana pipeline folder") {
        auto sana = GoldenCase::load("sana_pipeline_tiny");
        auto p = load_lvdm_pipeline(sana.file("transformer/diffusion_pytorch_model.safetensors").string(),
                                    golden_options(gc));
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(p.error().message, Catch::Contains("not a VideoCrafter/DynamiCrafter checkpoint"));
        auto folder = load_lvdm_pipeline(sana.dir().string(), golden_options(gc));
        REQUIRE_FALSE(folder.has_value());
        CHECK(folder.error().code == ErrorCode::UnsupportedModel);
        CHECK_THAT(folder.error().message, Catch::Contains("diffusers"));
    }
    SECTION("a folder holding model.ckpt loads like the file") {
        auto p = load_lvdm_pipeline(gc.dir().string(), golden_options(gc));
        INFO((p ? std::string() : p.error().message));
        REQUIRE(p.has_value());
        CHECK((*p)->checkpoint_path == gc.file("model.ckpt").string());
    }
    const fs::path dir = temp_dir("broken");
    SECTION("a missing UNet key is named") {
        auto w = golden_tensors(gc);
        REQUIRE(w.erase("model.diffusion_model.out.2.weight") == 1);
        auto p = load_lvdm_pipeline(save(dir, w), golden_options(gc));
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(p.error().message, Catch::Contains("out.2.weight"));
    }
    SECTION("a missing text-encoder key is named") {
        auto w = golden_tensors(gc);
        REQUIRE(w.erase("cond_stage_model.model.ln_final.weight") == 1);
        auto p = load_lvdm_pipeline(save(dir, w), golden_options(gc));
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(p.error().message, Catch::Contains("ln_final.weight"));
    }
    SECTION("a key no component uses is named") {
        auto w = golden_tensors(gc);
        w["model_ema.decay"] = at::ones({1});
        auto p = load_lvdm_pipeline(save(dir, w), golden_options(gc));
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(p.error().message, Catch::Contains("model_ema.decay"));
    }
    SECTION("a mis-shaped autoencoder tensor is named") {
        auto w = golden_tensors(gc);
        w["first_stage_model.post_quant_conv.bias"] = at::zeros({5});
        auto p = load_lvdm_pipeline(save(dir, w), golden_options(gc));
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(p.error().message, Catch::Contains("post_quant_conv.bias"));
    }
    SECTION("a truncated checkpoint") {
        const std::string path = (dir / "model.ckpt").string();
        std::ifstream in(gc.file("model.ckpt"), std::ios::binary);
        std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size() / 2));
        auto p = load_lvdm_pipeline(path, golden_options(gc));
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code != ErrorCode::None);
        CHECK_FALSE(p.error().message.empty());
    }
    fs::remove_all(dir);
}

TEST_CASE("lvdm load: a config that does not fit the checkpoint is a clear error", "[pipelines]") {
    auto vc2 = GoldenCase::load("vc2_pipeline_tiny");
    auto dc = GoldenCase::load("dc_pipeline_tiny");
    SECTION("no --config: the built-in VideoCrafter2 preset (320 channels) does not fit the tiny checkpoint") {
        LVDMLoadOptions o;
        o.tokenizer_path = vocab_dir();
        auto p = load_lvdm_pipeline(vc2.file("model.ckpt").string(), o);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(p.error().message, Catch::Contains("preset videocrafter2"));
        CHECK_THAT(p.error().message, Catch::Contains("model_channels"));
    }
    SECTION("the DynamiCrafter config with the VideoCrafter2 checkpoint, and the other way round") {
        LVDMLoadOptions o = golden_options(vc2);
        o.config_path = dc.file("config.json").string();
        auto p = load_lvdm_pipeline(vc2.file("model.ckpt").string(), o);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(p.error().message, Catch::Contains("in_channels"));
        o.config_path = vc2.file("config.json").string();
        auto q = load_lvdm_pipeline(dc.file("model.ckpt").string(), o);
        REQUIRE_FALSE(q.has_value());
        CHECK(q.error().code == ErrorCode::ModelLoadFailed);
    }
    SECTION("a config with another noise schedule than the checkpoint's buffers") {
        const fs::path dir = temp_dir("schedule");
        nlohmann::json cfg = vc2.config();
        cfg["model"]["params"]["linear_end"] = 0.02;
        const std::string path = (dir / "other_schedule.json").string();
        std::ofstream(path) << cfg.dump(1);
        LVDMLoadOptions o = golden_options(vc2);
        o.config_path = path;
        auto p = load_lvdm_pipeline(vc2.file("model.ckpt").string(), o);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(p.error().message, Catch::Contains("alphas_cumprod"));
        cfg = vc2.config();
        cfg["model"]["params"]["use_scale"] = false;  // the checkpoint has scale_arr
        std::ofstream(path) << cfg.dump(1);
        auto q = load_lvdm_pipeline(vc2.file("model.ckpt").string(), o);
        REQUIRE_FALSE(q.has_value());
        CHECK(q.error().code == ErrorCode::ModelLoadFailed);
        CHECK_THAT(q.error().message, Catch::Contains("scale_arr"));
        fs::remove_all(dir);
    }
    SECTION("a config file that does not exist") {
        LVDMLoadOptions o = golden_options(vc2);
        o.config_path = "/nonexistent/config.yaml";
        auto p = load_lvdm_pipeline(vc2.file("model.ckpt").string(), o);
        REQUIRE_FALSE(p.has_value());
        CHECK_THAT(p.error().message, Catch::Contains("/nonexistent/config.yaml"));
    }
}

TEST_CASE("lvdm load: the CLIP vocabulary is found next to the checkpoint, in the hub cache, or given", "[pipelines]") {
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    const fs::path root = temp_dir("vocab");
    const fs::path empty_cache = root / "empty-cache";
    fs::create_directories(empty_cache);
    ScopedEnv hub("HF_HUB_CACHE", empty_cache.string());
    const fs::path vocab = vocab_dir();

    SECTION("nowhere: ModelNotFound naming the repo to download") {
        auto found = engine::pipelines::find_clip_vocab(gc.file("model.ckpt").string(), "");
        REQUIRE_FALSE(found.has_value());
        CHECK(found.error().code == ErrorCode::ModelNotFound);
        CHECK_THAT(found.error().message, Catch::Contains("laion/CLIP-ViT-H-14-laion2B-s32B-b79K"));
        CHECK_THAT(found.error().message, Catch::Contains("--vocab"));
        LVDMLoadOptions o;
        o.config_path = gc.file("config.json").string();
        auto p = load_lvdm_pipeline(gc.file("model.ckpt").string(), o);
        REQUIRE_FALSE(p.has_value());
        CHECK(p.error().code == ErrorCode::ModelNotFound);
        CHECK_THAT(p.error().message, Catch::Contains("vocab.json"));
    }
    SECTION("next to the checkpoint") {
        const fs::path model_dir = root / "model";
        fs::create_directories(model_dir);
        fs::create_symlink(gc.file("model.ckpt"), model_dir / "model.ckpt");
        fs::create_symlink(vocab / "vocab.json", model_dir / "vocab.json");
        fs::create_symlink(vocab / "merges.txt", model_dir / "merges.txt");
        auto found = engine::pipelines::find_clip_vocab((model_dir / "model.ckpt").string(), "");
        REQUIRE(found.has_value());
        CHECK(*found == model_dir.string());
        LVDMLoadOptions o;
        o.config_path = gc.file("config.json").string();
        auto p = load_lvdm_pipeline((model_dir / "model.ckpt").string(), o);
        INFO((p ? std::string() : p.error().message));
        REQUIRE(p.has_value());
        CHECK((*p)->tokenizer_source == model_dir.string());
    }
    SECTION("in the Hugging Face cache (refs/main → snapshot)") {
        const fs::path repo = root / "hub" / "models--laion--CLIP-ViT-H-14-laion2B-s32B-b79K";
        const std::string commit = "0123456789abcdef0123456789abcdef01234567";
        fs::create_directories(repo / "refs");
        fs::create_directories(repo / "snapshots" / commit);
        std::ofstream(repo / "refs" / "main") << commit;
        fs::create_symlink(vocab / "vocab.json", repo / "snapshots" / commit / "vocab.json");
        fs::create_symlink(vocab / "merges.txt", repo / "snapshots" / commit / "merges.txt");
        ScopedEnv cache("HF_HUB_CACHE", (root / "hub").string());
        auto found = engine::pipelines::find_clip_vocab(gc.file("model.ckpt").string(), "");
        REQUIRE(found.has_value());
        CHECK(*found == (repo / "snapshots" / commit).string());
    }
    SECTION("HF_HOME/hub when HF_HUB_CACHE is unset") {
        const fs::path repo = root / "home" / "hub" / "models--laion--CLIP-ViT-H-14-laion2B-s32B-b79K";
        fs::create_directories(repo / "snapshots" / "abc");
        fs::create_symlink(vocab / "bpe_simple_vocab_16e6.txt.gz", repo / "snapshots" / "abc" / "bpe_simple_vocab_16e6.txt.gz");
        ::unsetenv("HF_HUB_CACHE");
        ScopedEnv home("HF_HOME", (root / "home").string());
        auto found = engine::pipelines::find_clip_vocab(gc.file("model.ckpt").string(), "");
        REQUIRE(found.has_value());
        CHECK(*found == (repo / "snapshots" / "abc").string());
    }
    SECTION("an explicit path: a folder or the .gz file; a wrong one is an error") {
        CHECK(engine::pipelines::find_clip_vocab(gc.file("model.ckpt").string(), vocab.string()).value() ==
              vocab.string());
        const std::string gz = (vocab / "bpe_simple_vocab_16e6.txt.gz").string();
        CHECK(engine::pipelines::find_clip_vocab(gc.file("model.ckpt").string(), gz).value() == gz);
        auto missing = engine::pipelines::find_clip_vocab(gc.file("model.ckpt").string(), "/nonexistent/vocab");
        REQUIRE_FALSE(missing.has_value());
        CHECK(missing.error().code == ErrorCode::ModelNotFound);
        auto wrong = engine::pipelines::find_clip_vocab(gc.file("model.ckpt").string(), empty_cache.string());
        REQUIRE_FALSE(wrong.has_value());
        CHECK_THAT(wrong.error().message, Catch::Contains("merges.txt"));
    }
    fs::remove_all(root);
}

TEST_CASE("lvdm requests: the task, sizes, frames, steps and image are checked against the model", "[pipelines]") {
    auto vc2 = GoldenCase::load("vc2_pipeline_tiny");
    auto dc = GoldenCase::load("dc_pipeline_tiny");
    auto t2v = load_lvdm_pipeline(vc2.file("model.ckpt").string(), golden_options(vc2)).value();
    auto i2v = load_lvdm_pipeline(dc.file("model.ckpt").string(), golden_options(dc)).value();
    engine::TextToVideoRequest r;
    r.prompt = "a cat";
    engine::ImageToVideoRequest ir;
    ir.prompt = "a cat";
    ir.image = grey_image(64, 32);
    auto expect_error = [](const auto& result, ErrorCode code, const std::string& text) {
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error().code == code);
        CHECK_THAT(result.error().message, Catch::Contains(text));
    };
    SECTION("defaults come from the model") {
        auto o = engine::pipelines::resolve_lvdm_options(*t2v, r);
        REQUIRE(o.has_value());
        CHECK(o->num_inference_steps == 50);
        CHECK(o->guidance_scale == 12.0);
        CHECK(o->eta == 1.0);
        CHECK(o->guidance_rescale == 0.0);
        CHECK(o->spacing == engine::schedulers::DDIMSpacing::Uniform);
        CHECK(o->timesteps.front() == 1);
        CHECK(o->timesteps.back() == 981);
        CHECK(o->fps_condition == 28);
        auto d = engine::pipelines::resolve_lvdm_options(*i2v, ir);
        REQUIRE(d.has_value());
        CHECK(d->guidance_scale == 7.5);
        CHECK(d->guidance_rescale == 0.7);
        CHECK(d->spacing == engine::schedulers::DDIMSpacing::UniformTrailing);
        CHECK(d->timesteps.back() == 999);
        CHECK(d->frame_stride == 24);  // the config's default_fs
        CHECK(d->num_frames == 16);
        CHECK(d->fps == 8.0);
        // The picture is cover-resized and centre-cropped to the generation size, in [-1, 1].
        REQUIRE(d->image.sizes() == at::IntArrayRef({1, 3, 16, 32}));
        CHECK(d->image.abs().max().item<float>() <= 1.0f);
    }
    SECTION("the wrong task for the model") {
        expect_error(engine::pipelines::resolve_lvdm_options(*i2v, r), ErrorCode::UnsupportedModel, "image-to-video");
        expect_error(engine::pipelines::resolve_lvdm_options(*t2v, ir), ErrorCode::UnsupportedModel,
                     "cannot animate an image");
    }
    SECTION("sizes the UNet cannot take") {
        r.width_px = 40;  // tiny model: autoencoder 4x, UNet 4x → multiples of 16
        expect_error(engine::pipelines::resolve_lvdm_options(*t2v, r), ErrorCode::InvalidRequest, "multiples of 16");
    }
    SECTION("DynamiCrafter makes exactly its 16 frames; VideoCrafter takes other counts") {
        ir.num_frames = 8;
        expect_error(engine::pipelines::resolve_lvdm_options(*i2v, ir), ErrorCode::InvalidRequest, "exactly 16 frames");
        r.num_frames = 8;
        auto o = engine::pipelines::resolve_lvdm_options(*t2v, r);
        REQUIRE(o.has_value());
        CHECK(o->num_frames == 8);
    }
    SECTION("step counts VideoCrafter's uniform DDIM grid cannot make") {
        r.num_inference_steps = 3;  // 1000 // 3 = 333 → the last step would be t = 1000
        expect_error(engine::pipelines::resolve_lvdm_options(*t2v, r), ErrorCode::InvalidRequest, "");
    }
    SECTION("settings of the other family or sampler") {
        engine::ImageToVideoRequest stride = ir;
        r.sampler = engine::SamplerKind::FlowEuler;
        expect_error(engine::pipelines::resolve_lvdm_options(*t2v, r), ErrorCode::InvalidRequest, "DDIM");
        stride.guidance_rescale = 1.5;
        expect_error(engine::pipelines::resolve_lvdm_options(*i2v, stride), ErrorCode::InvalidRequest,
                     "Guidance rescale");
    }
    SECTION("an image too small to animate") {
        ir.image = grey_image(8, 8);
        expect_error(engine::pipelines::resolve_lvdm_options(*i2v, ir), ErrorCode::InvalidRequest, "too small");
        ir.image = grey_image(3, 300);
        expect_error(engine::pipelines::resolve_lvdm_options(*i2v, ir), ErrorCode::InvalidRequest, "too small");
    }
    SECTION("a prompt longer than the text encoder reads") {
        std::string prompt;
        for (int i = 0; i < 80; ++i) prompt += "cat ";
        r.prompt = prompt;
        r.num_inference_steps = 1;
        auto o = engine::pipelines::resolve_lvdm_options(*t2v, r);
        REQUIRE(o.has_value());
        try {
            engine::pipelines::generate_lvdm(*t2v, *o, {}, nullptr);
            FAIL("no error for an 80-token prompt");
        } catch (const engine::core::EngineError& e) {
            CHECK(e.code() == ErrorCode::InvalidRequest);
            CHECK_THAT(std::string(e.what()), Catch::Contains("too long"));
        }
    }
}

TEST_CASE("lvdm pipeline: VideoCrafter-i2v runs through the same code path (tiny assembled checkpoint)",
          "[pipelines]") {
    // vc2_pipeline_tiny's text encoder, autoencoder and schedule + vc_unet3d_i2v_tiny's UNet (image cross-attention)
    // + openclip_vision_tiny's tower + resampler_tiny: a VideoCrafter1 Image2Video-512 laid out like the real one.
    auto vc2 = GoldenCase::load("vc2_pipeline_tiny");
    auto unet = GoldenCase::load("vc_unet3d_i2v_tiny");
    auto vision = GoldenCase::load("openclip_vision_tiny");
    auto resampler = GoldenCase::load("resampler_tiny");
    engine::io::TensorMap w;
    for (const auto& [k, v] : golden_tensors(vc2)) {
        if (k.rfind("model.diffusion_model.", 0) != 0) w[k] = v;
    }
    for (const GoldenCase* part : {&unet, &vision, &resampler}) {
        const auto part_weights = engine::io::load_safetensors(part->file("weights.safetensors").string());
        REQUIRE(part_weights.has_value());
        for (const auto& [k, v] : *part_weights) w[k] = v.clone();
    }
    const fs::path dir = temp_dir("vci2v");
    const std::string ckpt = save(dir, w, "model.safetensors");

    nlohmann::json doc = vc2.config();
    auto& params = doc["model"]["params"];
    doc["model"]["target"] = "lvdm.models.ddpm3d.LatentVisualDiffusion";
    params["finegrained"] = true;
    params["cond_img_config"] = {{"target", "lvdm.modules.encoders.condition.FrozenOpenCLIPImageEmbedderV2"},
                                 {"params", {{"freeze", true}}}};
    params["unet_config"]["params"] = unet.config("unet_config.json");
    doc["open_clip"]["vision"] = {{"width", 48}, {"heads", 4}, {"layers", 2}, {"patch_size", 14},
                                  {"image_size", 224}, {"embed_dim", 32}};
    auto cfg = engine::pipelines::LVDMModelConfig::from_json(doc, "assembled VC-i2v");
    INFO((cfg ? std::string() : cfg.error().message));
    REQUIRE(cfg.has_value());
    CHECK(cfg->family == engine::pipelines::LVDMFamily::VideoCrafter1I2V);
    // init_projector hard-codes the real Resampler's sizes; the tiny one has its own.
    nlohmann::json proj = resampler.meta();
    cfg->image_proj_params = proj;
    LVDMLoadOptions o;
    o.config = *cfg;
    o.tokenizer_path = vocab_dir();
    auto loaded = load_lvdm_pipeline(ckpt, o);
    INFO((loaded ? std::string() : loaded.error().message));
    REQUIRE(loaded.has_value());
    auto pipe = *loaded;
    CHECK(pipe->detection.family == engine::pipelines::LVDMFamily::VideoCrafter1I2V);
    CHECK_FALSE(pipe->hybrid());

    engine::ImageToVideoRequest r;
    r.prompt = "a fox in the snow";
    r.num_inference_steps = 2;
    r.seed = 1;
    // A 60x40 gradient: VideoCrafter stretches the whole picture to 48x32 (no crop).
    engine::Image img{60, 40, 3, std::vector<uint8_t>(60 * 40 * 3)};
    for (int y = 0; y < 40; ++y) {
        for (int x = 0; x < 60; ++x) {
            for (int c = 0; c < 3; ++c) img.pixels[static_cast<size_t>((y * 60 + x) * 3 + c)] = static_cast<uint8_t>(x * 4 + c * 20 + y);
        }
    }
    r.image = img;
    auto opts = engine::pipelines::resolve_lvdm_options(*pipe, r);
    INFO((opts ? std::string() : opts.error().message));
    REQUIRE(opts.has_value());
    CHECK(opts->fps_condition == 8);  // run_image2video.sh
    CHECK(opts->guidance_scale == 12.0);
    const at::Tensor stretched = at::upsample_bilinear2d(engine::pipelines::image_to_signed_tensor(img), {32, 48}, false);
    CHECK_MAXDIFF_REL(opts->clip_image, stretched, 1e-6);

    engine::pipelines::LVDMTrace trace;
    torch::NoGradGuard no_grad;
    const at::Tensor video = engine::pipelines::generate_lvdm(*pipe, *opts, {}, &trace);
    REQUIRE(video.sizes() == at::IntArrayRef({1, 3, 4, 32, 48}));
    CHECK(at::isfinite(video).all().item<bool>());
    // The image tokens are the golden Resampler over the golden CLIP tower of the stretched picture.
    auto tower = engine::models::load_clip_vision_encoder(
        engine::io::load_safetensors(vision.file("weights.safetensors").string()).value(),
        pipe->image_encoder->config);
    REQUIRE(tower.has_value());
    auto proj_model = engine::models::load_image_resampler(
        engine::io::load_safetensors(resampler.file("weights.safetensors").string()).value(),
        pipe->image_proj->config);
    REQUIRE(proj_model.has_value());
    CHECK_MAXDIFF_REL(trace.img_emb, (*proj_model)->forward((*tower)->encode(stretched)), 1e-6);
    REQUIRE(trace.img_emb.size(1) == 16);
    // The picture steers the video: another picture, another result.
    r.image = grey_image(60, 40, 30);
    auto other = engine::pipelines::resolve_lvdm_options(*pipe, r);
    REQUIRE(other.has_value());
    engine::pipelines::LVDMTrace other_trace;
    engine::pipelines::generate_lvdm(*pipe, *other, {}, &other_trace);
    CHECK((other_trace.video - trace.video).abs().max().item<float>() > 1e-3f);
    fs::remove_all(dir);
}
