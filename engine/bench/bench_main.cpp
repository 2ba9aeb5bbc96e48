// kinora-bench: times Kinora's engine on the reference benchmark's cases at real model sizes with random weights,
// one JSON line per case (stdout, and appended to --out). The Python reference (../shared/bench/
// reference_diffusers.py) must run in the same device call on the same card for the numbers to be comparable.
//
//     kinora-bench --list
//     kinora-bench --case all --repeats 3 --out bench.jsonl          # CUDA, the reference's dtypes
//     kinora-bench --case sana1600,sprint1600_1step --dtype bf16
//     kinora-bench --tiny --device cpu --case sana600 --repeats 1    # smoke test (tiny configs, seconds on a CPU)
//     kinora-bench --case sana1600 --kernels off                     # "before": ATen ops instead of our kernels
//     kinora-bench --case sana1600 --graphs off                      # "before": no CUDA graphs
//     kinora-bench --case sana1600 --quantize fp8                    # FP8 blocks, with the quality check vs bf16
//
// Exit code: 0 when every case ran, 1 when one failed (its line then has "error"), 2 for bad arguments.
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_cases.h"
#include "bench_device.h"
#include "core/engine_error.h"
#include "kernels/ops.h"

namespace {

using kinora_bench::BenchOptions;

const char* const kUsage =
    R"(kinora-bench: Kinora's engine at real model sizes with random weights, one JSON line per case.

Usage: kinora-bench [options]
  --case NAMES        comma-separated cases, or "all" (default); --list shows them (--cases: the same)
  --repeats N         timed end-to-end runs per case, median reported (default 3)
  --warmup N          untimed warm-up runs (default 1; each with --warmup-steps denoising steps)
  --warmup-steps N    denoising steps of a warm-up run (default 2)
  --component-repeats N  timed calls of each component: denoiser forward, VAE decode, text encoder (default 10)
  --dtype bf16|fp16|fp32  weights and activations (default: the reference's, bf16 for Sana, fp16 for LVDM;
                      fp32 on the CPU)
  --device cuda|cpu   (default cuda); cpu only with --tiny
  --tiny              tiny configs of the same model families (smoke tests)
  --steps N           override the case's denoising steps
  --kernels on|off    our fused CUDA kernels (default on) or the ATen ops they replace, for before/after numbers
                      (the same switch as KINORA_DISABLE_CUDA_KERNELS=1); no effect on the CPU
  --graphs on|off     the denoiser step (Sana / Sprint transformer, LVDM UNet) and Gemma-2 through CUDA graphs
                      (default on; the same switch as KINORA_DISABLE_CUDA_GRAPHS=1); no effect on the CPU
  --trim-caption on|off  Sana / Sprint: skip the caption's padding and the empty negative prompt's cross-attention
                      in the pipeline runs, and encode only the prompt tokens the kept positions need (default on,
                      as the engine does); off encodes and attends to all 300 positions of both prompts at every
                      step, as diffusers does
  --previews off|app|every  Sana / Sprint: live previews in the pipeline runs, through the app's step hooks and
                      renderer (x0 estimate → RGB, 512 px): app = its default throttle (at most one per 150 ms and
                      the last step), every = one per step; off (default) passes no hooks, as the reference has none
  --channels-last on|off  channels-last layout in the VAEs and the LVDM UNet (default: on for CUDA unless
                      KINORA_DISABLE_CHANNELS_LAST=1, off on the CPU)
  --seed N            latent seed (default 0)
  --quantize none|int8|fp8  Sana / Sprint: the transformer blocks' weights quantised (the engine's --quantize);
                      the line then also has "quantization": the final image's PSNR and max difference against
                      the unquantised model on the same seed, and one forward's relative error
  --profile DIR       CUDA: also profile one denoiser forward, VAE decode and text encoding per case (LibTorch's
                      profiler); Chrome traces go to DIR/<case>_<component>.json (installer/bench/profile_summary.py
                      tabulates them)
  --out FILE          also append the JSON lines to FILE
  --list              print the cases and exit
)";

struct Args {
    std::vector<std::string> cases;
    BenchOptions options;
    std::string out;
    bool list = false;
    std::optional<bool> kernels;  // --kernels on|off; unset: as KINORA_DISABLE_CUDA_KERNELS says (default on)
};

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    std::stringstream in(s);
    std::string part;
    while (std::getline(in, part, sep)) {
        if (!part.empty()) parts.push_back(part);
    }
    return parts;
}

int parse_int(const std::string& flag, const std::string& value, int min_value) {
    std::size_t used = 0;
    int v = 0;
    try {
        v = std::stoi(value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used != value.size() || v < min_value) {
        throw std::invalid_argument(flag + " needs an integer >= " + std::to_string(min_value) + ", got '" + value +
                                    "'");
    }
    return v;
}

Args parse(int argc, char** argv) {
    Args a;
    std::string cases = "all";
    std::string device;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
            return argv[++i];
        };
        auto on_off = [&]() -> bool {
            const std::string v = value();
            if (v != "on" && v != "off") throw std::invalid_argument(flag + " is on or off, got '" + v + "'");
            return v == "on";
        };
        if (flag == "--case" || flag == "--cases") {
            cases = value();
        } else if (flag == "--repeats") {
            a.options.repeats = parse_int(flag, value(), 1);
        } else if (flag == "--warmup") {
            a.options.warmup = parse_int(flag, value(), 0);
        } else if (flag == "--warmup-steps") {
            a.options.warmup_steps = parse_int(flag, value(), 1);
        } else if (flag == "--component-repeats") {
            a.options.component_repeats = parse_int(flag, value(), 1);
        } else if (flag == "--dtype") {
            const std::string d = value();
            if (d == "bf16") {
                a.options.dtype = at::kBFloat16;
            } else if (d == "fp16") {
                a.options.dtype = at::kHalf;
            } else if (d == "fp32") {
                a.options.dtype = at::kFloat;
            } else {
                throw std::invalid_argument("--dtype is bf16, fp16 or fp32, got '" + d + "'");
            }
        } else if (flag == "--device") {
            device = value();
            if (device != "cuda" && device != "cpu") {
                throw std::invalid_argument("--device is cuda or cpu, got '" + device + "'");
            }
        } else if (flag == "--kernels") {
            a.kernels = on_off();
        } else if (flag == "--graphs") {
            a.options.graphs = on_off();
        } else if (flag == "--trim-caption") {
            a.options.trim_caption = on_off();
        } else if (flag == "--previews") {
            const std::string p = value();
            if (p == "off") a.options.previews = BenchOptions::Previews::Off;
            else if (p == "app") a.options.previews = BenchOptions::Previews::App;
            else if (p == "every") a.options.previews = BenchOptions::Previews::Every;
            else throw std::invalid_argument("--previews is off, app or every, got '" + p + "'");
        } else if (flag == "--channels-last") {
            a.options.channels_last = on_off();
        } else if (flag == "--quantize") {
            const std::string q = value();
            if (q == "none") a.options.quantization = engine::WeightQuantization::None;
            else if (q == "int8") a.options.quantization = engine::WeightQuantization::Int8;
            else if (q == "fp8") a.options.quantization = engine::WeightQuantization::Fp8;
            else throw std::invalid_argument("--quantize is none, int8 or fp8, got '" + q + "'");
        } else if (flag == "--tiny") {
            a.options.tiny = true;
        } else if (flag == "--steps") {
            a.options.steps = parse_int(flag, value(), 1);
        } else if (flag == "--seed") {
            a.options.seed = static_cast<std::uint64_t>(parse_int(flag, value(), 0));
        } else if (flag == "--profile") {
            a.options.profile_dir = value();
        } else if (flag == "--out") {
            a.out = value();
        } else if (flag == "--list") {
            a.list = true;
        } else if (flag == "--help" || flag == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else {
            throw std::invalid_argument("unknown option '" + flag + "'");
        }
    }
    if (device == "cpu") {
        if (!a.options.tiny) {
            throw std::invalid_argument(
                "--device cpu runs only the --tiny configs (the real sizes take minutes per step on a CPU)");
        }
        a.options.device = c10::Device(c10::kCPU);
    } else {
        a.options.device = c10::Device(c10::kCUDA, 0);
    }
    for (const auto& name : split(cases, ',')) {
        if (name == "all") {
            for (const auto& c : kinora_bench::cases()) a.cases.push_back(c.name);
            continue;
        }
        bool known = false;
        for (const auto& c : kinora_bench::cases()) known = known || c.name == name;
        if (!known) throw std::invalid_argument("unknown case '" + name + "' (--list shows the cases)");
        a.cases.push_back(name);
    }
    return a;
}

void emit(const nlohmann::json& line, std::ofstream* out) {
    const std::string text = line.dump();
    std::cout << text << std::endl;
    if (out) {
        *out << text << '\n';
        out->flush();
    }
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    try {
        args = parse(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "kinora-bench: " << e.what() << "\n\n" << kUsage;
        return 2;
    }
    if (args.list) {
        for (const auto& c : kinora_bench::cases()) std::cout << c.name << "\t" << c.description << "\n";
        return 0;
    }
    if (args.options.device.is_cuda() && !kinora_bench::cuda_available()) {
        std::cerr << "kinora-bench: no CUDA device (or a CPU-only LibTorch); on a CPU use --tiny --device cpu\n";
        return 2;
    }
    std::unique_ptr<std::ofstream> out;
    if (!args.out.empty()) {
        out = std::make_unique<std::ofstream>(args.out, std::ios::app);
        if (!*out) {
            std::cerr << "kinora-bench: cannot write " << args.out << "\n";
            return 2;
        }
    }
    if (args.kernels) {
        kernels::set_cuda_kernels_enabled(*args.kernels);
    }
    int failures = 0;
    for (const auto& name : args.cases) {
        try {
            torch::manual_seed(args.options.seed);
            emit(kinora_bench::run_case(name, args.options), out.get());
        } catch (const c10::Error& e) {
            ++failures;
            emit({{"case", name}, {"engine", "kinora"}, {"error", e.what_without_backtrace()}}, out.get());
        } catch (const std::exception& e) {
            ++failures;
            emit({{"case", name}, {"engine", "kinora"}, {"error", e.what()}}, out.get());
        }
    }
    return failures == 0 ? 0 : 1;
}
