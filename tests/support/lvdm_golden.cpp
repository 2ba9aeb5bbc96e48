#include "support/lvdm_golden.h"

#include <vector>

namespace test_support {

std::string clip_vocab_dir() {
    return (golden_dir() / "clip_tokenizer").string();
}

engine::TextToVideoRequest vc2_request_from(const GoldenCase& gc, double eta) {
    engine::TextToVideoRequest r;
    r.model_path = gc.file("model.ckpt").string();
    r.config_path = gc.file("config.json").string();
    r.tokenizer_path = clip_vocab_dir();
    r.prompt = gc.meta().at("prompt").get<std::string>();
    r.num_inference_steps = gc.meta().at("steps").get<int>();
    r.guidance_scale = gc.meta().at("cfg").get<double>();
    r.fps = gc.meta().at("fps").get<double>();
    r.eta = eta;
    r.seed = kVC2GoldenSeed;
    return r;
}

engine::ImageToVideoRequest dc_request_from(const GoldenCase& gc, double eta) {
    const at::Tensor image = gc.io("image");  // [1, 3, H, W]
    engine::ImageToVideoRequest r;
    r.model_path = gc.file("model.ckpt").string();
    r.config_path = gc.file("config.json").string();
    r.tokenizer_path = clip_vocab_dir();
    r.prompt = gc.meta().at("prompt").get<std::string>();
    r.num_inference_steps = gc.meta().at("steps").get<int>();
    r.guidance_scale = gc.meta().at("cfg").get<double>();
    r.frame_stride = gc.meta().at("fs").get<int>();
    r.num_frames = gc.meta().at("frames").get<int>();
    r.eta = eta;
    r.seed = kDCGoldenSeed;
    r.image = {static_cast<int>(image.size(3)), static_cast<int>(image.size(2)), 3,
               std::vector<uint8_t>(static_cast<size_t>(image.size(2) * image.size(3) * 3), 128)};
    return r;
}

}  // namespace test_support
