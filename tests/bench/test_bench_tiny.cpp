// kinora-bench as a user runs it, on the tiny configs on the CPU: every case runs the engine's pipeline code end to
// end and prints one JSON line whose numbers add up; bad arguments end with exit code 2 and a message.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <set>
#include <string>
#include <vector>

#include "cli_runner.h"

namespace {

// The last line of the output that parses as a JSON object.
nlohmann::json last_json_line(const std::string& output) {
    std::istringstream in(output);
    std::string line;
    nlohmann::json found;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] != '{') continue;
        auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_object()) found = j;
    }
    return found;
}

}  // namespace

TEST_CASE("kinora-bench --tiny: every case runs on the CPU and reports one consistent JSON line", "[bench]") {
    struct Expect {
        std::string name;
        int steps;
        std::vector<int64_t> output_shape;
        std::vector<std::string> stages;
        std::string forward_key;
        int forward_calls;  // timed denoiser forwards with --component-repeats 2: 2 (Sana), max(1, 2 / 2) (LVDM)
    };
    const auto e = GENERATE(Expect{"sana600",
                                   2,
                                   {1, 3, 128, 128},
                                   {"text_encode", "prepare", "denoise", "vae_decode_and_postprocess"},
                                   "transformer_fwd_ms(batch2)",
                                   2},
                            Expect{"sprint1600_1step",
                                   1,
                                   {1, 3, 128, 128},
                                   {"text_encode", "prepare", "denoise", "vae_decode_and_postprocess"},
                                   "transformer_fwd_ms(batch1)",
                                   2},
                            Expect{"sprint1600_2step",
                                   2,
                                   {1, 3, 128, 128},
                                   {"text_encode", "prepare", "denoise", "vae_decode_and_postprocess"},
                                   "transformer_fwd_ms(batch1)",
                                   2},
                            Expect{"vc2",
                                   2,
                                   {1, 3, 4, 32, 32},
                                   {"text_encode", "denoise", "vae_decode", "postprocess"},
                                   "unet_fwd_ms(batch2)",
                                   1},
                            Expect{"dc512",
                                   2,
                                   {1, 3, 4, 32, 32},
                                   {"text_encode", "image_encode", "denoise", "vae_decode", "postprocess"},
                                   "unet_fwd_ms(batch2)",
                                   1});
    INFO("case " << e.name);
    const std::string dir = test_cli::make_temp_dir("bench");
    const std::string out_file = dir + "/bench.jsonl";
    auto run = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--case", e.name, "--repeats", "2",
                                                      "--warmup", "1", "--component-repeats", "2", "--out", out_file});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const nlohmann::json j = last_json_line(run.output);
    REQUIRE(j.is_object());
    CHECK_FALSE(j.contains("error"));
    CHECK(j.at("case") == e.name);
    CHECK(j.at("engine") == "kinora");
    CHECK(j.at("tiny") == true);
    CHECK(j.at("dtype") == "fp32");    // the CPU default
    CHECK(j.at("kernels") == "aten");  // the CPU runs the references (our kernels are CUDA-only)
    CHECK(j.at("steps") == e.steps);
    CHECK(j.at("output").at("shape").get<std::vector<int64_t>>() == e.output_shape);
    CHECK(j.at("output").at("finite") == true);
    // Two timed runs, their median is total_s, and the stages of a run add up to it.
    const auto totals = j.at("total_s_all").get<std::vector<double>>();
    REQUIRE(totals.size() == 2);
    CHECK(j.at("total_s").get<double>() == Approx(0.5 * (totals[0] + totals[1])).margin(2e-4));
    double stage_sum = 0.0;
    std::vector<std::string> stage_names;
    for (const auto& [name, value] : j.at("stages_s").items()) {
        stage_names.push_back(name);
        CHECK(value.get<double>() >= 0.0);
        stage_sum += value.get<double>();
    }
    std::sort(stage_names.begin(), stage_names.end());
    auto expected_stages = e.stages;
    std::sort(expected_stages.begin(), expected_stages.end());
    CHECK(stage_names == expected_stages);
    // With two runs each median is a mean, so the stage medians add up to the median total (up to the rounding).
    CHECK(stage_sum == Approx(j.at("total_s").get<double>()).margin(3e-4));
    CHECK(j.at(e.forward_key).get<double>() > 0.0);
    CHECK(j.at(e.forward_key + "_all").size() == static_cast<size_t>(e.forward_calls));
    CHECK(j.at("denoise_per_step_ms").get<double>() > 0.0);
    CHECK(j.at("peak_mem_GiB").is_null());  // the CPU has no caching-allocator statistics
    for (const auto& [part, millions] : j.at("params_M").items()) {
        INFO(part);
        CHECK(millions.get<double>() > 0.0);
    }
    // --out got the same line.
    std::ifstream file(out_file);
    std::string line;
    REQUIRE(std::getline(file, line));
    CHECK(nlohmann::json::parse(line) == j);
    std::filesystem::remove_all(dir);
}

TEST_CASE("kinora-bench: bad arguments exit with code 2 and say what is wrong", "[bench]") {
    auto cpu_real = test_cli::run_program("kinora-bench", {"--device", "cpu", "--case", "sana600"});
    CHECK(cpu_real.exit_code == 2);
    CHECK_THAT(cpu_real.output, Catch::Contains("only the --tiny"));
    auto unknown = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--case", "sana9000"});
    CHECK(unknown.exit_code == 2);
    CHECK_THAT(unknown.output, Catch::Contains("unknown case 'sana9000'"));
    auto dtype = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--dtype", "int8"});
    CHECK(dtype.exit_code == 2);
    CHECK_THAT(dtype.output, Catch::Contains("--dtype is bf16, fp16 or fp32"));
    auto repeats = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--repeats", "0"});
    CHECK(repeats.exit_code == 2);
    CHECK_THAT(repeats.output, Catch::Contains("--repeats needs an integer >= 1"));
    auto kernels = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--kernels", "maybe"});
    CHECK(kernels.exit_code == 2);
    CHECK_THAT(kernels.output, Catch::Contains("--kernels is on or off"));
}

TEST_CASE("kinora-bench --quantize: the quantised line carries its quality check against the unquantised model",
          "[bench]") {
    auto run = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--case", "sana600", "--repeats",
                                                      "1", "--warmup", "0", "--component-repeats", "1", "--quantize",
                                                      "int8"});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const nlohmann::json j = last_json_line(run.output);
    REQUIRE(j.is_object());
    const auto& q = j.at("quantization");
    REQUIRE(q.is_object());
    CHECK(q.at("mode") == "int8");
    CHECK(q.at("layers") == 2 * 10);  // the tiny config's two blocks: attn1 and attn2 (4 each), the FF's two 1x1 convs
    CHECK(q.at("params_M_quantized").get<double>() > 0.0);
    CHECK(q.at("params_M_quantized").get<double>() < j.at("params_M").at("transformer").get<double>());
    // int8 changes the numbers a little: a finite PSNR, a small non-zero forward error (measured 54.3 dB and 0.48 %).
    REQUIRE(q.at("image_psnr_db").is_number());
    CHECK(q.at("image_psnr_db").get<double>() > 45.0);
    CHECK(q.at("forward_rel_l2_error").get<double>() > 0.0);
    CHECK(q.at("forward_rel_l2_error").get<double>() < 0.02);

    auto plain = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--case", "sprint1600_1step",
                                                        "--repeats", "1", "--warmup", "0", "--component-repeats", "1"});
    REQUIRE(plain.exit_code == 0);
    CHECK(last_json_line(plain.output).at("quantization") == "none");

    // FP8 on the CPU: the case fails with the reason; a bad value is an argument error.
    auto fp8 = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--case", "sana600", "--repeats",
                                                      "1", "--quantize", "fp8"});
    CHECK(fp8.exit_code == 1);
    CHECK_THAT(fp8.output, Catch::Contains("FP8 quantisation runs on NVIDIA GPUs only"));
    auto bad = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--quantize", "int4"});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.output, Catch::Contains("--quantize is none, int8 or fp8"));
}

TEST_CASE("kinora-bench --list names the cases of the reference benchmark", "[bench]") {
    auto run = test_cli::run_program("kinora-bench", {"--list"});
    REQUIRE(run.exit_code == 0);
    for (const char* name : {"sana1600", "sana600", "sprint1600_1step", "sprint1600_2step", "vc2", "dc512"}) {
        CHECK_THAT(run.output, Catch::Contains(std::string(name) + "\t"));
    }
}

TEST_CASE("kinora-bench --tiny --case kernels: each op timed fused and as ATen ops, same results", "[bench]") {
    // (--cases is --case; --kernels off must not change what this case does: it times both paths itself.)
    auto run = test_cli::run_program("kinora-bench", {"--tiny", "--device", "cpu", "--cases", "kernels",
                                                      "--component-repeats", "2", "--kernels", "off"});
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    const nlohmann::json j = last_json_line(run.output);
    REQUIRE(j.is_object());
    CHECK(j.at("case") == "kernels");
    const auto& ops = j.at("ops");
    REQUIRE(ops.size() == 9);
    // Every op of kernels/ops.h is timed (some at two models' shapes).
    std::set<std::string> names;
    for (const auto& op : ops) names.insert(op.at("op").get<std::string>());
    CHECK(names == std::set<std::string>{"relu_linear_attention", "layer_norm_modulate", "gated_residual", "rms_norm",
                                         "silu_depthwise_conv3x3_gate_nhwc", "depthwise_conv3x3_silu_gate"});
    for (const auto& op : ops) {
        INFO(op.dump());
        CHECK(op.at("fused_ms").get<double>() > 0.0);
        CHECK(op.at("aten_ms").get<double>() > 0.0);
        CHECK(op.at("min_MB").get<double>() > 0.0);
        // On the CPU both paths are the reference composite: identical results.
        CHECK(op.at("rel_diff_vs_aten").get<double>() == 0.0);
    }
}
