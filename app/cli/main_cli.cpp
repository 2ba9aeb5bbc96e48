// kinora-cli: the engine without a window, like sd-cli / whisper-cli.
//   kinora-cli t2i --model DIR --prompt "..." --out image.png
//   kinora-cli t2v --model model.ckpt --prompt "..." --out video.mp4
//   kinora-cli i2v --model model.ckpt --image photo.jpg --prompt "..." --out video.mp4
//   kinora-cli models list|pull REPO|rm REPO
//   kinora-cli info
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "cli/cli_args.h"
#include "cli/cli_models.h"
#include "cli/progress_bar.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/media_io.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitCancelled = 130;

std::atomic<engine::Engine*> g_engine{nullptr};

void on_sigint(int) {
    if (engine::Engine* e = g_engine.load()) {
        e->cancel_all();  // noexcept, only sets atomics: safe in a signal handler context for our use
    }
}

void print_usage() {
    std::fprintf(stderr,
                 "kinora-cli %s: local image and video generation\n\n"
                 "usage: kinora-cli <command> [options]\n\n"
                 "commands:\n"
                 "  t2i      text to image (Sana, Sana-Sprint)\n"
                 "  t2v      text to video (VideoCrafter2, VideoCrafter1)\n"
                 "  i2v      image to video (DynamiCrafter, VideoCrafter-i2v)\n"
                 "  models   list, download (pull) and remove models\n"
                 "  info     show the build and the devices\n\n"
                 "Run 'kinora-cli <command> --help' for its options.\n",
                 KINORA_CLI_VERSION);
}

cli::Parser& add_engine_options(cli::Parser& p) {
    return p.option("device", "cpu|cuda[:N]", "where to run (default cpu)")
        .option("precision", "auto|fp32|bf16|fp16", "weights/activations precision (default auto)")
        .option("quantize", "none|int8|fp8",
                "Sana transformer weights (default none): int8 halves their memory anywhere; fp8 also runs FP8 "
                "tensor cores (NVIDIA compute capability 8.9+, bf16)")
        .option("threads", "N", "CPU threads (default: cores - 1)")
        .option("memory", "balanced|low|keep",
                "memory mode (default balanced); low also frees models after the job and decodes in tiles")
        .flag("quiet", "no progress bar")
        .flag("verbose", "print engine log lines")
        .flag("help", "show this help");
}

cli::Parser& add_common_options(cli::Parser& p) {
    return p.option("model", "PATH", "model folder (diffusers) or checkpoint file (required)")
        .option("config", "FILE", "model config (YAML/JSON) for single-file checkpoints")
        .option("prompt", "TEXT", "what to generate (required)")
        .option("negative", "TEXT", "what to avoid")
        .option("seed", "N", "random seed (default: random; printed)")
        .option("steps", "N", "denoising steps (default: the model's)")
        .option("guidance", "X", "guidance scale (default: the model's)")
        .option("sampler", "NAME", "sampler: default, dpmpp_2m, euler, scm, ddim")
        .option("out", "FILE", "output file (required)");
}

engine::EngineOptions engine_options(const cli::ParsedArgs& a) {
    engine::EngineOptions o;
    const std::string device = a.get("device", "cpu");
    if (device == "cpu") {
        o.device = engine::DeviceKind::Cpu;
    } else if (device.rfind("cuda", 0) == 0) {
        o.device = engine::DeviceKind::Cuda;
        if (device.size() > 5 && device[4] == ':') {
            o.device_index = std::stoi(device.substr(5));
        } else if (device != "cuda") {
            throw std::invalid_argument("--device expects cpu, cuda or cuda:N; got '" + device + "'");
        }
    } else {
        throw std::invalid_argument("--device expects cpu, cuda or cuda:N; got '" + device + "'");
    }
    const std::string precision = a.get("precision", "auto");
    if (precision == "auto") o.precision = engine::Precision::Auto;
    else if (precision == "fp32") o.precision = engine::Precision::Float32;
    else if (precision == "bf16") o.precision = engine::Precision::BFloat16;
    else if (precision == "fp16") o.precision = engine::Precision::Float16;
    else throw std::invalid_argument("--precision expects auto, fp32, bf16 or fp16; got '" + precision + "'");
    const std::string quantize = a.get("quantize", "none");
    if (quantize == "none") o.quantization = engine::WeightQuantization::None;
    else if (quantize == "int8") o.quantization = engine::WeightQuantization::Int8;
    else if (quantize == "fp8") o.quantization = engine::WeightQuantization::Fp8;
    else throw std::invalid_argument("--quantize expects none, int8 or fp8; got '" + quantize + "'");
    const std::string memory = a.get("memory", "balanced");
    if (memory == "balanced") o.memory_mode = engine::MemoryMode::Balanced;
    else if (memory == "low") o.memory_mode = engine::MemoryMode::LowMemory;
    else if (memory == "keep") o.memory_mode = engine::MemoryMode::KeepLoaded;
    else throw std::invalid_argument("--memory expects balanced, low or keep; got '" + memory + "'");
    if (auto t = a.get_int("threads")) {
        if (*t < 0 || *t > 1024) throw std::invalid_argument("--threads must be between 0 and 1024");
        o.num_threads = static_cast<int>(*t);
    }
    return o;
}

// Fails early (before minutes of generation) when the output cannot be written where asked.
void check_output_path(const std::string& out) {
    namespace fs = std::filesystem;
    const fs::path p(out);
    const fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
    std::error_code ec;
    if (!fs::is_directory(parent, ec)) {
        throw std::invalid_argument("Cannot write " + out + ": the folder " + parent.string() + " does not exist.");
    }
    if (fs::is_directory(p, ec)) {
        throw std::invalid_argument("Cannot write " + out + ": it is a folder; give a file name.");
    }
    if (::access(parent.c_str(), W_OK) != 0) {
        throw std::invalid_argument("Cannot write " + out + ": the folder " + parent.string() +
                                    " is not writable. Choose another folder.");
    }
}

int checked_int(const cli::ParsedArgs& a, const std::string& name, long long lo, long long hi) {
    long long v = *a.get_int(name);
    if (v < lo || v > hi) {
        throw std::invalid_argument("--" + name + " must be between " + std::to_string(lo) + " and " +
                                    std::to_string(hi) + "; got " + std::to_string(v));
    }
    return static_cast<int>(v);
}

void fill_common(const cli::ParsedArgs& a, engine::RequestCommon& r) {
    if (!a.has("model")) throw std::invalid_argument("--model is required (a model folder or checkpoint file)");
    if (!a.has("prompt")) throw std::invalid_argument("--prompt is required");
    if (!a.has("out")) throw std::invalid_argument("--out is required (where to write the result)");
    check_output_path(a.get("out"));
    r.model_path = a.get("model");
    r.config_path = a.get("config");
    r.prompt = a.get("prompt");
    r.negative_prompt = a.get("negative");
    if (a.has("seed")) {
        long long s = *a.get_int("seed");
        if (s < 0) throw std::invalid_argument("--seed must not be negative");
        r.seed = static_cast<std::uint64_t>(s);
    } else {
        r.seed = std::random_device{}() & 0xffffffffu;
    }
    if (a.has("steps")) r.num_inference_steps = checked_int(a, "steps", 1, 1000);
    if (auto g = a.get_double("guidance")) r.guidance_scale = *g;
    if (a.has("sampler")) {
        r.sampler = engine::sampler_kind_from_string(a.get("sampler"));
        if (r.sampler == engine::SamplerKind::Default && a.get("sampler") != "default") {
            throw std::invalid_argument("unknown --sampler '" + a.get("sampler") + "'");
        }
    }
    r.preview.enabled = false;  // no one looks at previews here
}

// Runs one request to completion on a fresh engine; returns the result or prints the error.
int run_request(const cli::ParsedArgs& a, engine::GenerationRequest request,
                std::shared_ptr<const engine::JobResult>& result_out) {
    if (a.has("verbose")) {
        engine::set_log_sink([](engine::LogLevel l, const std::string& m) {
            std::fprintf(stderr, "[%s] %s\n", engine::to_string(l), m.c_str());
        }, engine::LogLevel::Debug);
    }
    std::mutex mutex;
    std::condition_variable cv;
    bool done = false;
    engine::JobStatus final_status = engine::JobStatus::None;
    engine::Error error;
    cli::ProgressBar bar(!a.has("quiet") && isatty(STDERR_FILENO));

    engine::Callbacks cb;
    cb.on_progress = [&](const engine::ProgressEvent& e) {
        bar.update(engine::to_string(e.stage), e.step, e.num_steps, e.elapsed_s);
    };
    cb.on_status = [&](engine::JobId, engine::JobStatus s) {
        if (s == engine::JobStatus::Cancelled) {
            std::lock_guard<std::mutex> lock(mutex);
            final_status = s;
            done = true;
            cv.notify_all();
        }
    };
    cb.on_finished = [&](std::shared_ptr<const engine::JobResult> r) {
        std::lock_guard<std::mutex> lock(mutex);
        result_out = std::move(r);
        final_status = engine::JobStatus::Finished;
        done = true;
        cv.notify_all();
    };
    cb.on_failed = [&](engine::JobId, const engine::Error& e) {
        std::lock_guard<std::mutex> lock(mutex);
        error = e;
        final_status = engine::JobStatus::Failed;
        done = true;
        cv.notify_all();
    };

    auto made = engine::create_engine(engine_options(a), cb);
    if (!made) {
        std::fprintf(stderr, "error: %s\n", made.error().message.c_str());
        return kExitFailed;
    }
    std::unique_ptr<engine::Engine> eng = std::move(made).value();
    g_engine = eng.get();
    std::signal(SIGINT, on_sigint);
    auto id = eng->submit(std::move(request));
    if (!id) {
        g_engine = nullptr;
        std::fprintf(stderr, "error: %s\n", id.error().message.c_str());
        return kExitUsage;
    }
    {
        std::unique_lock<std::mutex> lock(mutex);
        cv.wait(lock, [&] { return done; });
    }
    g_engine = nullptr;
    eng.reset();
    bar.finish();
    if (final_status == engine::JobStatus::Cancelled) {
        std::fprintf(stderr, "cancelled\n");
        return kExitCancelled;
    }
    if (final_status == engine::JobStatus::Failed) {
        std::fprintf(stderr, "error (%s): %s\n", engine::to_string(error.code), error.message.c_str());
        return kExitFailed;
    }
    return kExitOk;
}

int command_t2i(int argc, char** argv) {
    cli::Parser p("t2i", "Text to image with Sana or Sana-Sprint (the pipeline folder decides which).");
    add_common_options(p)
        .option("width", "PX", "image width, a multiple of 32 (default: the model's)")
        .option("height", "PX", "image height, a multiple of 32 (default: the model's)")
        .option("flow-shift", "X", "Sana flow shift (default: the scheduler's)")
        .option("max-timestep", "X", "Sana-Sprint: first TrigFlow timestep (default 1.5708)")
        .option("intermediate-timestep", "X", "Sana-Sprint: middle timestep for 2 steps (default 1.3)")
        .flag("no-binning", "do not snap the size to the model's aspect-ratio bins")
        .flag("no-instruction", "do not prepend Sana's complex human instruction to the prompt");
    add_engine_options(p);
    cli::ParsedArgs a = p.parse(argc, argv, 2);
    if (a.has("help")) {
        std::fputs(p.help().c_str(), stdout);
        return kExitOk;
    }
    engine::TextToImageRequest r;
    fill_common(a, r);
    if (a.has("width")) r.width_px = checked_int(a, "width", 32, 4096);
    if (a.has("height")) r.height_px = checked_int(a, "height", 32, 4096);
    if (auto v = a.get_double("flow-shift")) r.flow_shift = *v;
    if (auto v = a.get_double("max-timestep")) r.max_timestep = *v;
    if (auto v = a.get_double("intermediate-timestep")) r.intermediate_timestep = *v;
    r.use_resolution_binning = !a.has("no-binning");
    r.use_complex_human_instruction = !a.has("no-instruction");

    std::shared_ptr<const engine::JobResult> result;
    const std::string out = a.get("out");
    if (int rc = run_request(a, r, result); rc != kExitOk) {
        return rc;
    }
    if (auto w = engine::write_png(out, result->image, result->parameters); !w) {
        std::fprintf(stderr, "error: %s\n", w.error().message.c_str());
        return kExitFailed;
    }
    std::fprintf(stderr, "wrote %s (%dx%d, seed %llu, %.1f s)\n", out.c_str(), result->image.width,
                 result->image.height, static_cast<unsigned long long>(result->seed), result->duration_s);
    return kExitOk;
}

// The video format: --format, else the extension; checked against this build before minutes of generation.
engine::VideoFormat video_format(const cli::ParsedArgs& a, const std::string& out) {
    engine::VideoFormat format = engine::VideoFormat::None;
    if (a.has("format")) {
        format = engine::video_format_from_string(a.get("format"));
        if (format == engine::VideoFormat::None) {
            throw std::invalid_argument("--format expects mp4, webm, gif or png (frames); got '" + a.get("format") +
                                        "'");
        }
    } else {
        format = engine::video_format_for_path(out);
        if (format == engine::VideoFormat::None) {
            throw std::invalid_argument("Cannot tell the video format of " + out +
                                        ": use .mp4, .webm or .gif, a name without extension for PNG frames, or "
                                        "--format.");
        }
    }
    const auto available = engine::available_video_formats();
    if (std::find(available.begin(), available.end(), format) == available.end()) {
        std::string names;
        for (auto f : available) names += std::string(names.empty() ? "" : ", ") + engine::to_string(f);
        const char* need = format == engine::VideoFormat::Mp4 ? "an H.264 encoder (libx264)" : "the VP9 encoder";
        throw std::runtime_error(std::string("Cannot write ") + engine::to_string(format) + ": this build's FFmpeg has no " +
                                 need + ". Available here: " + names +
                                 ". Choose one with --format or the file extension.");
    }
    return format;
}

// PNG frames go to a new folder (check_output_path has refused an existing folder already).
void check_frames_folder(const std::string& out) {
    std::error_code ec;
    if (std::filesystem::exists(out, ec)) {
        throw std::invalid_argument("Cannot write PNG frames to " + out + ": it exists. Choose a new folder name.");
    }
}

int command_video(int argc, char** argv, bool image_to_video) {
    cli::Parser p(image_to_video ? "i2v" : "t2v",
                  image_to_video ? "Animate a picture with DynamiCrafter or VideoCrafter-i2v (a model.ckpt file)."
                                 : "Text to video with VideoCrafter2 or VideoCrafter1 (a model.ckpt file).");
    add_common_options(p)
        .option("width", "PX", "video width (default: the model's)")
        .option("height", "PX", "video height (default: the model's)")
        .option("frames", "N", "number of frames (default: the model's, 16)")
        .option("fps", "N", "frames per second: the model's fps input and the playback rate")
        .option("eta", "X", "DDIM eta, 0 = deterministic (default 1)")
        .option("vocab", "PATH", "the CLIP vocabulary: a folder with vocab.json + merges.txt (default: next to the "
                                 "model, then the Hugging Face cache)")
        .option("format", "NAME", "mp4, webm, gif or png (frames into a folder); default: from --out's extension")
        .option("crf", "N", "MP4/WebM quality, lower is better (default: MP4 18, WebM 30)");
    if (image_to_video) {
        p.option("image", "FILE", "the picture to animate (required)")
            .option("frame-stride", "N", "DynamiCrafter frame stride (motion amount)")
            .option("guidance-rescale", "X", "guidance rescale (DynamiCrafter default 0.7)");
    }
    add_engine_options(p);
    cli::ParsedArgs a = p.parse(argc, argv, 2);
    if (a.has("help")) {
        std::fputs(p.help().c_str(), stdout);
        return kExitOk;
    }
    engine::ImageToVideoRequest r;
    fill_common(a, r);
    const std::string out = a.get("out");
    engine::VideoExportOptions export_options;
    export_options.format = video_format(a, out);
    if (export_options.format == engine::VideoFormat::PngSequence) check_frames_folder(out);
    if (a.has("crf")) export_options.crf = checked_int(a, "crf", 0, 63);
    if (a.has("width")) r.width_px = checked_int(a, "width", 8, 2048);
    if (a.has("height")) r.height_px = checked_int(a, "height", 8, 2048);
    if (a.has("frames")) r.num_frames = checked_int(a, "frames", 1, 256);
    if (auto v = a.get_double("fps")) r.fps = *v;
    if (auto v = a.get_double("eta")) r.eta = *v;
    r.tokenizer_path = a.get("vocab");
    engine::GenerationRequest request;
    if (image_to_video) {
        if (!a.has("image")) throw std::invalid_argument("--image is required (the picture to animate)");
        auto img = engine::read_image(a.get("image"));
        if (!img) {
            std::fprintf(stderr, "error: %s\n", img.error().message.c_str());
            return kExitFailed;
        }
        r.image = std::move(img).value();
        if (a.has("frame-stride")) r.frame_stride = checked_int(a, "frame-stride", 1, 100);
        if (auto v = a.get_double("guidance-rescale")) r.guidance_rescale = *v;
        request = r;
    } else {
        request = static_cast<engine::TextToVideoRequest>(r);
    }
    std::shared_ptr<const engine::JobResult> result;
    if (int rc = run_request(a, std::move(request), result); rc != kExitOk) {
        return rc;
    }
    export_options.parameters = result->parameters;
    if (auto w = engine::write_video(out, result->video, export_options); !w) {
        std::fprintf(stderr, "error: %s\n", w.error().message.c_str());
        return kExitFailed;
    }
    const auto& frames = result->video.frames;
    std::fprintf(stderr, "wrote %s (%s, %zu frames, %dx%d, %g fps, seed %llu, %.1f s)\n", out.c_str(),
                 engine::to_string(export_options.format), frames.size(), frames.empty() ? 0 : frames[0].width,
                 frames.empty() ? 0 : frames[0].height, result->video.fps,
                 static_cast<unsigned long long>(result->seed), result->duration_s);
    return kExitOk;
}

int command_info() {
    std::printf("kinora-cli %s\n", KINORA_CLI_VERSION);
    std::printf("image io: %s\n", engine::has_image_io() ? "OpenImageIO" : "PNG writer only (built without OpenImageIO)");
    auto made = engine::create_engine(engine::EngineOptions{}, engine::Callbacks{});
    if (made) {
        std::printf("engine: %s\n", made.value()->device_description().c_str());
    }
    engine::EngineOptions cuda;
    cuda.device = engine::DeviceKind::Cuda;
    auto gpu = engine::create_engine(cuda, engine::Callbacks{});
    std::printf("cuda: %s\n", gpu ? gpu.value()->device_description().c_str() : gpu.error().message.c_str());
    if (gpu) {
        // The engine refuses options it cannot run at start: FP8 (Ada / Hopper, a CUDA LibTorch >= 2.5) is the one
        // that depends on the card.
        engine::EngineOptions fp8 = cuda;
        fp8.quantization = engine::WeightQuantization::Fp8;
        auto with_fp8 = engine::create_engine(fp8, engine::Callbacks{});
        std::printf("fp8: %s\n", with_fp8 ? "available (--quantize fp8)" : with_fp8.error().message.c_str());
    }
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        print_usage();
        return argc < 2 ? kExitUsage : kExitOk;
    }
    const std::string command = argv[1];
    try {
        if (command == "--version") {
            std::printf("kinora-cli %s\n", KINORA_CLI_VERSION);
            return kExitOk;
        }
        if (command == "t2i") return command_t2i(argc, argv);
        if (command == "t2v") return command_video(argc, argv, false);
        if (command == "i2v") return command_video(argc, argv, true);
        if (command == "models") return cli::run_models_command(argc, argv, 2);
        if (command == "info") return command_info();
        std::fprintf(stderr, "error: unknown command '%s'\n\n", command.c_str());
        print_usage();
        return kExitUsage;
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return kExitUsage;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return kExitFailed;
    }
}
