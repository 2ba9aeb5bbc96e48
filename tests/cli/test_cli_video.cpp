// `kinora-cli t2v` / `i2v` on the tiny golden VideoCrafter2 and DynamiCrafter checkpoints: the written frames equal
// the reference video (PNG frames are lossless), the parameters are embedded, and bad input ends with a clear
// message and a non-zero exit code, before any generation where the input allows it.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "cli_runner.h"
#include "engine/media_io.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "pipelines/lvdm_pipeline.h"
#include "support/golden_case.h"

namespace fs = std::filesystem;
using test_support::GoldenCase;

namespace {

std::string vocab_dir() { return (test_support::golden_dir() / "clip_tokenizer").string(); }

std::vector<std::string> t2v_args(const GoldenCase& gc, const std::string& out, const std::string& eta = "1") {
    return {"t2v",
            "--model", gc.file("model.ckpt").string(),
            "--config", gc.file("config.json").string(),
            "--vocab", vocab_dir(),
            "--prompt", gc.meta().at("prompt").get<std::string>(),
            "--steps", std::to_string(gc.meta().at("steps").get<int>()),
            "--guidance", "12",
            "--fps", "8",  // vc2_pipeline_tiny's fps
            "--eta", eta,
            "--seed", "7",  // the golden's x_T / step-noise seeds are 7 and 8 (see test_lvdm_pipeline.cpp)
            "--out", out};
}

std::vector<std::string> i2v_args(const GoldenCase& gc, const std::string& image, const std::string& out) {
    return {"i2v",
            "--model", gc.file("model.ckpt").string(),
            "--config", gc.file("config.json").string(),
            "--vocab", vocab_dir(),
            "--image", image,
            "--prompt", gc.meta().at("prompt").get<std::string>(),
            "--steps", std::to_string(gc.meta().at("steps").get<int>()),
            "--guidance", "7.5",
            "--frame-stride", std::to_string(gc.meta().at("fs").get<int>()),
            "--eta", "1",
            "--seed", "4",
            "--out", out};
}

// Replaces an option's value, or appends the option.
void set_option(std::vector<std::string>& args, const std::string& name, const std::string& value) {
    auto it = std::find(args.begin(), args.end(), name);
    if (it != args.end() && it + 1 != args.end()) {
        *(it + 1) = value;
    } else {
        args.push_back(name);
        args.push_back(value);
    }
}

// [F, H, W, 3] uint8-valued floats of a video tensor [1, 3, F, H, W] in [-1, 1] (clamped, rounded).
at::Tensor to_frames255(const at::Tensor& video) {
    return ((video[0].clamp(-1, 1) + 1) / 2 * 255).round().permute({1, 2, 3, 0}).contiguous();
}

at::Tensor image_tensor(const engine::Image& img) {
    return torch::from_blob(const_cast<uint8_t*>(img.pixels.data()), {img.height, img.width, img.channels},
                            torch::kByte)
        .to(torch::kFloat);
}

// Reads frame_0001.png ... of a PNG-frame export and compares them with expected [F, H, W, 3].
void check_png_frames(const std::string& dir, const at::Tensor& expected) {
    for (int64_t f = 0; f < expected.size(0); ++f) {
        char name[32];
        std::snprintf(name, sizeof name, "frame_%04d.png", static_cast<int>(f + 1));
        auto img = engine::read_image(dir + "/" + name);
        INFO(name << ": " << (img ? std::string() : img.error().message));
        REQUIRE(img.has_value());
        REQUIRE(img->height == expected.size(1));
        REQUIRE(img->width == expected.size(2));
        REQUIRE(img->channels == 3);
        const float diff = (image_tensor(*img) - expected[f]).abs().max().item<float>();
        INFO("max pixel difference " << diff);
        CHECK(diff <= 1.0f);  // float → 8 bit: a value on a rounding edge may land one step apart
    }
    char extra[32];
    std::snprintf(extra, sizeof extra, "frame_%04d.png", static_cast<int>(expected.size(0) + 1));
    CHECK_FALSE(fs::exists(dir + "/" + extra));
}

std::string png_parameters(const std::string& png) {
    auto text = engine::read_png_text(png);
    REQUIRE(text.has_value());
    for (const auto& [k, v] : *text) {
        if (k == "parameters") return v;
    }
    return {};
}

// The golden's float input image as an 8-bit PNG.
std::string write_golden_image(const GoldenCase& gc, const std::string& dir) {
    const at::Tensor img = ((gc.io("image")[0] + 1) / 2 * 255).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0})
                               .contiguous();  // [H, W, 3]
    engine::Image out{static_cast<int>(img.size(1)), static_cast<int>(img.size(0)), 3,
                      std::vector<uint8_t>(img.data_ptr<uint8_t>(), img.data_ptr<uint8_t>() + img.numel())};
    const std::string path = dir + "/picture.png";
    REQUIRE(engine::write_png(path, out, {}).has_value());
    return path;
}

void expect_failure(const std::vector<std::string>& args, const std::string& text) {
    auto run = test_cli::run_cli(args);
    CAPTURE(args, run.output);
    CHECK(run.exit_code != 0);
    CHECK_THAT(run.output, Catch::Contains("error"));
    CHECK_THAT(run.output, Catch::Contains(text));
}

}  // namespace

TEST_CASE("cli t2v: VideoCrafter2 writes the golden video as PNG frames with its parameters", "[cli]") {
    if (!engine::has_image_io()) {
        WARN("built without OpenImageIO: the PNG frames cannot be read back");
        return;
    }
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-t2v");
    const std::string out = dir + "/frames";  // no extension: PNG frames in a new folder
    auto run = test_cli::run_cli(t2v_args(gc, out));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.output, Catch::Contains("4 frames"));
    check_png_frames(out, to_frames255(gc.io("eta1.video")));
    const std::string parameters = png_parameters(out + "/frame_0001.png");
    CHECK_THAT(parameters, Catch::StartsWith(gc.meta().at("prompt").get<std::string>()));
    CHECK_THAT(parameters, Catch::Contains("Steps: 6"));
    CHECK_THAT(parameters, Catch::Contains("Seed: 7"));
    CHECK_THAT(parameters, Catch::Contains("CFG scale: 12"));
    CHECK_THAT(parameters, Catch::Contains("Eta: 1"));
    CHECK_THAT(parameters, Catch::Contains("Fps: 8"));
    fs::remove_all(dir);
}

TEST_CASE("cli t2v: eta 0 and a GIF", "[cli]") {
    auto gc = GoldenCase::load("vc2_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-t2v-gif");
    const std::string out = dir + "/clip.gif";
    auto run = test_cli::run_cli(t2v_args(gc, out, "0"));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    std::ifstream in(out, std::ios::binary);
    char magic[6] = {};
    in.read(magic, 6);
    CHECK(std::string(magic, 6) == "GIF89a");
    fs::remove_all(dir);
}

TEST_CASE("cli i2v: DynamiCrafter animates a picture end to end", "[cli]") {
    if (!engine::has_image_io()) {
        WARN("built without OpenImageIO: kinora-cli cannot read the input picture");
        return;
    }
    auto gc = GoldenCase::load("dc_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-i2v");
    const std::string picture = write_golden_image(gc, dir);
    const std::string out = dir + "/frames";
    auto run = test_cli::run_cli(i2v_args(gc, picture, out));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.output, Catch::Contains("16 frames"));

    // The picture went through 8 bits, so the result is not the golden's: compare with the engine's pipeline run
    // in-process on the same file and settings.
    engine::pipelines::LVDMLoadOptions lo;
    lo.config_path = gc.file("config.json").string();
    lo.tokenizer_path = vocab_dir();
    auto pipe = engine::pipelines::load_lvdm_pipeline(gc.file("model.ckpt").string(), lo);
    REQUIRE(pipe.has_value());
    engine::ImageToVideoRequest r;
    r.prompt = gc.meta().at("prompt").get<std::string>();
    r.num_inference_steps = gc.meta().at("steps").get<int>();
    r.guidance_scale = 7.5;
    r.frame_stride = gc.meta().at("fs").get<int>();
    r.eta = 1.0;
    r.seed = 4;
    r.image = engine::read_image(picture).value();
    auto o = engine::pipelines::resolve_lvdm_options(**pipe, r);
    REQUIRE(o.has_value());
    torch::NoGradGuard no_grad;
    engine::pipelines::LVDMTrace trace;
    engine::pipelines::generate_lvdm(**pipe, *o, {}, &trace);
    check_png_frames(out, to_frames255(trace.video));
    // What the CLI fed the model is the golden's float picture to 8-bit precision (half a step of 2/255 in [-1, 1]);
    // the pipeline on the golden's exact picture is checked against the reference in test_lvdm_pipeline.cpp.
    const double input_diff = (o->image - gc.io("image")).abs().max().item<double>();
    CAPTURE(input_diff);
    CHECK(input_diff <= 1.0 / 255.0 + 1e-6);
    CHECK(at::equal(o->clip_image, o->image));
    const std::string parameters = png_parameters(out + "/frame_0001.png");
    CHECK_THAT(parameters, Catch::Contains("Frame Stride: 10"));
    CHECK_THAT(parameters, Catch::Contains("Guidance Rescale: 0.7"));
    CHECK_THAT(parameters, Catch::Contains("Model Type: DynamiCrafter"));
    fs::remove_all(dir);
}

TEST_CASE("cli t2v/i2v: bad input gives a clear message and a non-zero exit code", "[cli]") {
    auto vc2 = GoldenCase::load("vc2_pipeline_tiny");
    auto dc = GoldenCase::load("dc_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-video-bad");
    const std::string out = dir + "/v.gif";

    SECTION("a checkpoint of another model (Sana)") {
        auto args = t2v_args(vc2, out);
        auto sana = GoldenCase::load("sana_pipeline_tiny");
        set_option(args, "--model", sana.file("transformer/diffusion_pytorch_model.safetensors").string());
        expect_failure(args, "not a VideoCrafter/DynamiCrafter checkpoint");
    }
    SECTION("a checkpoint with a missing key") {
        auto w = engine::io::load_checkpoint(vc2.file("model.ckpt").string()).value();
        engine::io::TensorMap copy;
        for (const auto& [k, v] : w) {
            if (k != "model.diffusion_model.time_embed.0.weight") copy[k] = v;
        }
        const std::string ckpt = dir + "/broken.safetensors";
        REQUIRE(engine::io::save_safetensors(ckpt, copy).has_value());
        auto args = t2v_args(vc2, out);
        set_option(args, "--model", ckpt);
        expect_failure(args, "time_embed.0.weight");
    }
    SECTION("frames the model cannot make (DynamiCrafter: exactly 16)") {
        if (engine::has_image_io()) {
            auto args = i2v_args(dc, write_golden_image(dc, dir), out);
            set_option(args, "--frames", "8");
            expect_failure(args, "exactly 16 frames");
        }
    }
    SECTION("a size the model cannot take") {
        auto args = t2v_args(vc2, out);
        set_option(args, "--width", "40");
        expect_failure(args, "multiples of 16");
    }
    SECTION("the wrong command for the model") {
        auto args = t2v_args(dc, out);
        set_option(args, "--config", dc.file("config.json").string());
        expect_failure(args, "image-to-video");
        if (engine::has_image_io()) {
            // A text-to-video checkpoint given to i2v: "not an i2v model".
            auto i2v = i2v_args(dc, write_golden_image(dc, dir), out);
            set_option(i2v, "--model", vc2.file("model.ckpt").string());
            set_option(i2v, "--config", vc2.file("config.json").string());
            expect_failure(i2v, "cannot animate an image");
        }
    }
    SECTION("an unwritable or unknown output, refused before the model is even opened") {
        auto args = t2v_args(vc2, "/nonexistent-kinora-dir/v.mp4");
        set_option(args, "--model", "/nonexistent/model.ckpt");
        expect_failure(args, "Cannot write");
        const std::string file_as_dir = dir + "/plain-file";
        std::ofstream(file_as_dir) << "x";
        args = t2v_args(vc2, file_as_dir + "/v.gif");
        set_option(args, "--model", "/nonexistent/model.ckpt");
        expect_failure(args, "Cannot write");
        args = t2v_args(vc2, dir + "/v.avi");
        set_option(args, "--model", "/nonexistent/model.ckpt");
        expect_failure(args, "Cannot tell the video format");
        args = t2v_args(vc2, out);
        set_option(args, "--format", "mkv");
        expect_failure(args, "--format");
    }
    SECTION("no vocabulary where it was said to be") {
        auto args = t2v_args(vc2, out);
        set_option(args, "--vocab", dir + "/no-such-vocab");
        expect_failure(args, "no-such-vocab");
    }
    SECTION("input pictures that are not usable") {
        if (!engine::has_image_io()) return;
        const std::string text_file = dir + "/notes.png";
        std::ofstream(text_file) << "these are not pixels\n";
        expect_failure(i2v_args(dc, text_file, out), "notes.png");
        // A JPEG that ends inside its header (the media layer's own tests cover more kinds of corruption).
        const std::string jpeg = dir + "/photo.jpg";
        const char truncated[] = "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
                                 "\xFF\xDB\x00\x43\x00\x08\x06";
        std::ofstream(jpeg, std::ios::binary).write(truncated, sizeof truncated - 1);
        expect_failure(i2v_args(dc, jpeg, out), "photo.jpg");
        const std::string tiny = dir + "/tiny.png";
        REQUIRE(engine::write_png(tiny, engine::Image{8, 8, 3, std::vector<uint8_t>(8 * 8 * 3, 90)}, {}).has_value());
        expect_failure(i2v_args(dc, tiny, out), "too small");
        auto args = i2v_args(dc, tiny, out);
        args.erase(std::find(args.begin(), args.end(), "--image"), std::find(args.begin(), args.end(), "--image") + 2);
        expect_failure(args, "--image is required");
    }
    CHECK_FALSE(fs::exists(out));
    fs::remove_all(dir);
}
