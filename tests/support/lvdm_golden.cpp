#include "support/lvdm_golden.h"

#include <vector>

namespace test_support {

std::string clip_vocab_dir() {
    return (golden_dir() / "clip_tokenizer").string();
}

namespace {

// What both LVDM goldens' requests take from the case: checkpoint, config, vocabulary, prompt, steps, guidance.
template <typename Request>
void fill_from_golden(Request& r, const GoldenCase& gc, double eta) {
    r.model_path = gc.file("model.ckpt").string();
    r.config_path = gc.file("config.json").string();
    r.tokenizer_path = clip_vocab_dir();
    r.prompt = gc.meta().at("prompt").get<std::string>();
    r.num_inference_steps = gc.meta().at("steps").get<int>();
    r.guidance_scale = gc.meta().at("cfg").get<double>();
    r.eta = eta;
}

}  // namespace

engine::TextToVideoRequest vc2_request_from(const GoldenCase& gc, double eta) {
    engine::TextToVideoRequest r;
    fill_from_golden(r, gc, eta);
    r.fps = gc.meta().at("fps").get<double>();
    r.seed = kVC2GoldenSeed;
    return r;
}

engine::ImageToVideoRequest dc_request_from(const GoldenCase& gc, double eta) {
    const at::Tensor image = gc.io("image");  // [1, 3, H, W]
    engine::ImageToVideoRequest r;
    fill_from_golden(r, gc, eta);
    r.frame_stride = gc.meta().at("fs").get<int>();
    r.num_frames = gc.meta().at("frames").get<int>();
    r.seed = kDCGoldenSeed;
    r.image = {static_cast<int>(image.size(3)), static_cast<int>(image.size(2)), 3,
               std::vector<uint8_t>(static_cast<size_t>(image.size(2) * image.size(3) * 3), 128)};
    return r;
}

}  // namespace test_support
