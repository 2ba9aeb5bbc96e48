// `kinora-cli t2i` on the tiny golden Sana pipelines: the PNG's pixels equal diffusers' image, the
// parameters are embedded, and bad input ends with a clear message and a non-zero exit code.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "cli_runner.h"
#include "engine/media_io.h"
#include "support/golden_case.h"

namespace {

std::vector<std::string> golden_args(const test_support::GoldenCase& gc, const std::string& out) {
    return {"t2i",
            "--model", gc.dir().string(),
            "--prompt", gc.meta().at("prompt").get<std::string>(),
            "--seed", std::to_string(gc.meta().at("seed").get<int>()),
            "--steps", std::to_string(gc.meta().at("num_inference_steps").get<int>()),
            "--guidance", std::to_string(gc.meta().at("guidance_scale").get<double>()),
            "--width", std::to_string(gc.meta().at("width").get<int>()),
            "--height", std::to_string(gc.meta().at("height").get<int>()),
            "--no-binning",
            "--out", out};
}

// The golden image and a written PNG as [H, W, 3] float pixel values 0..255.
at::Tensor golden_pixels(const test_support::GoldenCase& gc) {
    return (gc.io("image")[0] * 255.0).round().permute({1, 2, 0}).contiguous();
}
at::Tensor png_pixels(const std::string& png, const at::Tensor& like) {
    auto img = engine::read_image(png);
    REQUIRE(img.has_value());
    REQUIRE(img->height == like.size(0));
    REQUIRE(img->width == like.size(1));
    REQUIRE(img->channels == 3);
    return torch::from_blob(img->pixels.data(), {img->height, img->width, 3}, torch::kByte).to(torch::kFloat);
}

void check_png_equals_golden(const std::string& png, const test_support::GoldenCase& gc) {
    const at::Tensor expected = golden_pixels(gc);
    const at::Tensor actual = png_pixels(png, expected);
    const float max_diff = (actual - expected).abs().max().item<float>();
    INFO("max pixel difference " << max_diff);
    CHECK(max_diff <= 1.0f);  // float → 8 bit: a value on a rounding edge may land one step apart
}

}  // namespace

TEST_CASE("cli t2i: Sana writes the golden image as PNG with its parameters", "[cli]") {
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-t2i");
    const std::string out = dir + "/sana.png";
    auto args = golden_args(gc, out);
    args.push_back("--negative");
    args.push_back("");
    auto run = test_cli::run_cli(args);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    check_png_equals_golden(out, gc);
    auto text = engine::read_png_text(out);
    REQUIRE(text.has_value());
    std::string parameters, json;
    for (const auto& [k, v] : *text) {
        if (k == "parameters") parameters = v;
        if (k == "kinora") json = v;
    }
    CHECK_THAT(parameters, Catch::StartsWith(gc.meta().at("prompt").get<std::string>()));
    CHECK_THAT(parameters, Catch::Contains("Steps: 4"));
    CHECK_THAT(parameters, Catch::Contains("Seed: 42"));
    CHECK_THAT(parameters, Catch::Contains("CFG scale: 4.5"));
    CHECK_THAT(parameters, Catch::Contains("Precision: fp32"));  // the CPU's automatic precision
    CHECK_THAT(json, Catch::Contains("\"seed\": \"42\""));
    CHECK_THAT(parameters, !Catch::Contains("Quantization"));  // only quantised runs say so
    std::filesystem::remove_all(dir);
}

TEST_CASE("cli t2i: Sana-Sprint is picked from model_index.json and writes the golden image", "[cli]") {
    auto gc = test_support::GoldenCase::load("sana_sprint_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-sprint");
    const std::string out = dir + "/sprint.png";
    auto run = test_cli::run_cli(golden_args(gc, out));
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    check_png_equals_golden(out, gc);
    std::filesystem::remove_all(dir);
}

TEST_CASE("cli t2i: --memory low decodes in tiles and still writes the golden image", "[cli]") {
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-lowmem");
    const std::string out = dir + "/sana.png";
    auto args = golden_args(gc, out);
    for (const char* a : {"--negative", "", "--memory", "low", "--verbose"}) args.push_back(a);
    auto run = test_cli::run_cli(args);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.output, Catch::Contains("in tiles"));
    check_png_equals_golden(out, gc);
    std::filesystem::remove_all(dir);
}

TEST_CASE("cli t2i: --quantize int8 runs Sana with int8 weights, close to the golden image", "[cli]") {
    auto gc = test_support::GoldenCase::load("sana_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-int8");
    const std::string out = dir + "/sana.png";
    auto args = golden_args(gc, out);
    for (const char* a : {"--negative", "", "--quantize", "int8", "--verbose"}) args.push_back(a);
    auto run = test_cli::run_cli(args);
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK_THAT(run.output, Catch::Contains("quantised to int8"));
    const at::Tensor expected = golden_pixels(gc);
    const at::Tensor actual = png_pixels(out, expected);
    const double mse = (actual - expected).div(255.0).pow(2).mean().item<double>();
    const double psnr = mse > 0.0 ? 10.0 * std::log10(1.0 / mse) : 99.0;  // 8-bit pixels may round to equal
    INFO("PSNR against the golden image " << psnr << " dB");
    CHECK(psnr > 45.0);  // the bound of the engine's int8 pipeline test (tests/engine/test_quantization.cpp)
    // The PNG says how it was made.
    auto text = engine::read_png_text(out);
    REQUIRE(text.has_value());
    std::string parameters;
    for (const auto& [k, v] : *text) {
        if (k == "parameters") parameters = v;
    }
    CHECK_THAT(parameters, Catch::Contains("Quantization: int8"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("cli t2i: bad input gives a clear message and a non-zero exit code", "[cli]") {
    auto gc = test_support::GoldenCase::load("sana_sprint_pipeline_tiny");
    const std::string dir = test_cli::make_temp_dir("cli-bad");
    struct Case {
        std::vector<std::string> extra;
        std::string expect;
    };
    const std::vector<Case> cases = {
        {{"--width", "0"}, "--width"},
        {{"--width", "100"}, "multiple of 32"},
        {{"--steps", "0"}, "--steps"},
        {{"--steps", "3", "--intermediate-timestep", "1.3"}, "2"},
        {{"--model", "/nonexistent/model"}, "does not exist"},
        {{"--out", "/nonexistent-dir/x.png"}, "Cannot write"},
        {{"--bogus"}, "unknown option"},
        {{"--memory", "tiny"}, "--memory expects balanced, low or keep"},
        {{"--quantize", "int4"}, "--quantize expects none, int8 or fp8"},
        {{"--quantize", "fp8"}, "FP8 quantisation runs on NVIDIA GPUs only"},  // --device cpu (the default)
    };
    for (const auto& c : cases) {
        auto args = golden_args(gc, dir + "/x.png");
        for (size_t i = 0; i < c.extra.size(); ++i) {
            auto it = std::find(args.begin(), args.end(), c.extra[i]);
            if (c.extra[i].rfind("--", 0) == 0 && it != args.end() && i + 1 < c.extra.size() &&
                c.extra[i + 1].rfind("--", 0) != 0) {
                *(it + 1) = c.extra[i + 1];  // replace an existing option's value
                ++i;
            } else {
                args.push_back(c.extra[i]);
            }
        }
        auto run = test_cli::run_cli(args);
        CAPTURE(c.extra, run.output);
        CHECK(run.exit_code != 0);
        CHECK_THAT(run.output, Catch::Contains(c.expect));
        CHECK_THAT(run.output, Catch::Contains("error"));
    }
    CHECK_FALSE(std::filesystem::exists(dir + "/x.png"));
    std::filesystem::remove_all(dir);
}
