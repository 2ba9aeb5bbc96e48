// Ref: AILab-CVC/VideoCrafter lvdm/modules/encoders/condition.py@11bcd76 FrozenOpenCLIPImageEmbedderV2
// Ref: mlfoundations/open_clip src/open_clip/transformer.py@v2.22.0 VisionTransformer; model.py CLIPVisionCfg;
//      src/open_clip/model_configs/ViT-H-14.json
// Ref: kornia/kornia kornia/geometry/transform/affwarp.py@b4f5a78 resize; kornia/filters/gaussian.py gaussian_blur2d;
//      kornia/filters/kernels.py gaussian; kornia/filters/filter.py filter2d, filter2d_separable, _compute_padding;
//      kornia/enhance/normalize.py normalize
#include "models/text_encoders/clip_vision.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

#include "core/engine_error.h"
#include "io/state_dict.h"
#include "models/common/json_config.h"
#include "models/common/model_loading.h"
#include "models/text_encoders/open_clip_loading.h"

namespace engine::models {

// ---------------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------------
namespace {

constexpr const char* kWhat = "open_clip vision tower config";

void check_config(const CLIPVisionConfig& c) {
    auto fail = [](const std::string& m) {
        throw core::EngineError(ErrorCode::ModelLoadFailed, std::string(kWhat) + ": " + m);
    };
    auto positive = [&](std::int64_t v, const char* name) {
        if (v <= 0) fail(std::string(name) + " must be positive, got " + std::to_string(v));
    };
    positive(c.image_size, "image_size");
    positive(c.patch_size, "patch_size");
    positive(c.width, "width");
    positive(c.layers, "layers");
    positive(c.heads, "heads");
    if (c.image_size % c.patch_size != 0) {
        fail("image_size (" + std::to_string(c.image_size) + ") must be a multiple of patch_size (" +
             std::to_string(c.patch_size) + ")");
    }
    if (c.width % c.heads != 0) {
        fail("width (" + std::to_string(c.width) + ") must be a multiple of heads (" + std::to_string(c.heads) + ")");
    }
    if (!(c.mlp_ratio > 0.0) || static_cast<std::int64_t>(static_cast<double>(c.width) * c.mlp_ratio) <= 0) {
        fail("mlp_ratio must give a positive MLP width");
    }
    if (!(c.layer_norm_eps > 0.0)) fail("layer_norm_eps must be positive");
    for (double s : c.norm_std) {
        if (!(s > 0.0)) fail("the normalisation std must be positive");
    }
}

// open_clip accepts an int or an (h, w) pair for image_size / patch_size; only square ones are implemented.
std::int64_t read_square(const JsonConfigReader& r, const char* key, std::int64_t fallback) {
    const nlohmann::json* v = r.find(key);
    if (v != nullptr && v->is_array()) {
        if (v->size() != 2 || !(*v)[0].is_number_integer() || (*v)[0] != (*v)[1]) {
            r.fail(ErrorCode::UnsupportedModel,
                   std::string("key \"") + key + "\" = " + v->dump() + ": only square sizes are implemented");
        }
        const auto n = (*v)[0].get<std::int64_t>();
        if (n <= 0) r.fail(ErrorCode::ModelLoadFailed, std::string("key \"") + key + "\" must be positive");
        return n;
    }
    return r.positive_int(key, fallback);
}

}  // namespace

OpenCLIPTransformerOptions CLIPVisionConfig::transformer_options() const {
    return OpenCLIPTransformerOptions::of(*this);
}

CLIPVisionConfig CLIPVisionConfig::vit_h_14() {
    CLIPVisionConfig c;
    c.image_size = 224;
    c.patch_size = 14;
    c.width = 1280;
    c.layers = 32;
    c.heads = 1280 / 80;  // head_width 80
    c.mlp_ratio = 4.0;
    return c;
}

Expected<CLIPVisionConfig> CLIPVisionConfig::from_arch(const std::string& arch) {
    if (arch == "ViT-H-14") {
        return vit_h_14();
    }
    return make_error(ErrorCode::UnsupportedModel,
                      std::string(kWhat) + ": open_clip architecture \"" + arch +
                          "\" is not known; DynamiCrafter / VideoCrafter-i2v use \"ViT-H-14\" (give the tower "
                          "sizes explicitly for anything else)");
}

Expected<CLIPVisionConfig> CLIPVisionConfig::from_json(const nlohmann::json& tower) {
    return guarded_config_parse(kWhat, [&] {
        const JsonConfigReader r(tower, kWhat);
        CLIPVisionConfig c;
        c.image_size = read_square(r, "image_size", c.image_size);
        c.patch_size = read_square(r, "patch_size", c.patch_size);
        c.width = r.positive_int("width", c.width);
        c.layers = r.positive_int("layers", c.layers);
        if (r.has("heads")) {
            c.heads = r.positive_int("heads", std::nullopt);
        } else {
            const std::int64_t head_width = r.positive_int("head_width", 64);
            if (c.width % head_width != 0) {
                r.fail(ErrorCode::ModelLoadFailed, "width (" + std::to_string(c.width) +
                                                       ") must be a multiple of head_width (" +
                                                       std::to_string(head_width) + ")");
            }
            c.heads = c.width / head_width;
        }
        c.mlp_ratio = r.number("mlp_ratio", c.mlp_ratio);
        const std::string timm = r.string("timm_model_name", "");
        if (!timm.empty()) {
            r.fail(ErrorCode::UnsupportedModel, "a timm vision tower (timm_model_name \"" + timm +
                                                    "\") is not implemented; only open_clip's "
                                                    "own VisionTransformer is");
        }
        r.require_default("input_patchnorm", false, "dual patchnorm is not implemented (ViT-H-14 has none)");
        r.require_default("no_ln_pre", false, "the tower without ln_pre is not implemented");
        r.require_default("pos_embed_type", "learnable", "only learned positional embeddings are implemented");
        refuse_unsupported_block_options(r);
        check_config(c);
        return c;
    });
}

Expected<CLIPVisionConfig> CLIPVisionConfig::from_embedder_params(const nlohmann::json& params,
                                                                  const nlohmann::json* tower) {
    return guarded_config_parse(kWhat, [&] {
        const JsonConfigReader r(params, "FrozenOpenCLIPImageEmbedderV2 params");
        CLIPVisionConfig c =
            core::unwrap(tower != nullptr ? from_json(*tower) : from_arch(r.string("arch", "ViT-H-14")));
        // The class raises NotImplementedError for "penultimate" and ignores every other value (it always
        // returns all tokens of the last block).
        if (r.string("layer", "pooled") == "penultimate") {
            r.fail(ErrorCode::UnsupportedModel, "layer \"penultimate\" is not implemented (nor is it upstream)");
        }
        c.antialias = r.flag("antialias", true);
        check_config(c);
        return c;
    });
}

// ---------------------------------------------------------------------------------------------------------------
// Preprocessing (kornia)
// ---------------------------------------------------------------------------------------------------------------
namespace {

[[noreturn]] void input_fail(const std::string& message) {
    throw core::EngineError(ErrorCode::InvalidRequest, "CLIP image encoder: " + message);
}

std::string sizes_string(at::IntArrayRef s) {
    std::ostringstream os;
    os << s;
    return os.str();
}

// kornia.filters.kernels.gaussian(size, sigma) in float32: exp(-(i - size//2)² / (2σ²)), normalised to sum 1.
at::Tensor gaussian_taps(std::int64_t size, double sigma, const at::TensorOptions& f32) {
    const at::Tensor s = at::full({1}, sigma, f32);  // sigma as a float32 tensor, as kornia passes it
    const at::Tensor x = at::arange(size, f32) - static_cast<double>(size / 2);
    const at::Tensor g = at::exp(-x.pow(2) / (s.pow(2) * 2));
    return g / g.sum();  // [size]
}

// kornia.filters.filter2d with a 1-D kernel along `dim` (3 = x, 2 = y), border "reflect", padding "same":
// depthwise correlation (the taps are symmetric anyway). x: [B, C, H, W] float32.
at::Tensor filter_1d(const at::Tensor& x, const at::Tensor& taps, int dim) {
    const std::int64_t k = taps.size(0);
    const std::int64_t front = (k - 1) / 2, rear = (k - 1) - front;
    const std::int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const at::Tensor planes = x.reshape({b * c, 1, h, w});  // each channel on its own
    at::Tensor padded, kernel;
    if (dim == 3) {
        padded = at::reflection_pad2d(planes, {front, rear, 0, 0});  // [BC, 1, H, W + k - 1]
        kernel = taps.view({1, 1, 1, k});
    } else {
        padded = at::reflection_pad2d(planes, {0, 0, front, rear});  // [BC, 1, H + k - 1, W]
        kernel = taps.view({1, 1, k, 1});
    }
    return at::conv2d(padded, kernel).view({b, c, h, w});
}

}  // namespace

at::Tensor kornia_resize_bicubic(const at::Tensor& image, std::int64_t height, std::int64_t width, bool antialias) {
    TORCH_CHECK(image.dim() == 4 && image.size(2) >= 2 && image.size(3) >= 2,
                "kornia_resize_bicubic: expected [B, C, H, W] with H, W >= 2, got ", image.sizes());
    TORCH_CHECK(height > 0 && width > 0, "kornia_resize_bicubic: bad output size ", height, "x", width);
    at::Tensor x = image;
    const double factor_h = static_cast<double>(image.size(2)) / static_cast<double>(height);
    const double factor_w = static_cast<double>(image.size(3)) / static_cast<double>(width);
    if (antialias && std::max(factor_h, factor_w) > 1.0) {
        // Derivation (kornia, after skimage): σ = (f - 1) / 2 per axis (0.001 when not shrinking), kernel size
        // int(max(2·2σ, 3)) rounded up to odd, i.e. about ±2σ of support.
        const double sigma_h = std::max((factor_h - 1.0) / 2.0, 0.001);
        const double sigma_w = std::max((factor_w - 1.0) / 2.0, 0.001);
        auto kernel_size = [](double sigma) {
            const auto k = static_cast<std::int64_t>(std::max(2.0 * 2.0 * sigma, 3.0));  // int() truncates
            return k % 2 == 1 ? k : k + 1;
        };
        const at::TensorOptions opts = image.options();
        x = filter_1d(x, gaussian_taps(kernel_size(sigma_w), sigma_w, opts), 3);  // x first, then y
        x = filter_1d(x, gaussian_taps(kernel_size(sigma_h), sigma_h, opts), 2);
    }
    namespace F = torch::nn::functional;
    return F::interpolate(x, F::InterpolateFuncOptions()
                                 .size(std::vector<std::int64_t>{height, width})
                                 .mode(torch::kBicubic)
                                 .align_corners(true));  // [B, C, height, width]
}

// ---------------------------------------------------------------------------------------------------------------
// Module
// ---------------------------------------------------------------------------------------------------------------
CLIPVisionEncoderImpl::CLIPVisionEncoderImpl(const CLIPVisionConfig& cfg, const at::TensorOptions& options)
    : config(cfg) {
    check_config(config);
    const at::TensorOptions o = options.requires_grad(false);
    const std::int64_t w = config.width, p = config.patch_size;
    auto conv1 = register_module("conv1", std::make_shared<torch::nn::Module>());
    conv1_weight = conv1->register_parameter("weight", at::empty({w, 3, p, p}, o), false);
    class_embedding = register_parameter("class_embedding", at::empty({w}, o), false);
    positional_embedding = register_parameter("positional_embedding", at::empty({config.num_tokens(), w}, o), false);
    ln_pre = register_module("ln_pre", PlainLayerNorm(w, config.layer_norm_eps, o));
    transformer = register_module("transformer", OpenCLIPTransformer(config.transformer_options(), o));
}

at::TensorOptions CLIPVisionEncoderImpl::options() const {
    return positional_embedding.options();
}

at::Tensor CLIPVisionEncoderImpl::preprocess(const at::Tensor& image) const {
    if (!image.defined() || image.dim() != 4 || image.size(0) < 1) {
        input_fail("expected a batch of images [B, 3, H, W], got " +
                   (image.defined() ? sizes_string(image.sizes()) : std::string("none")));
    }
    if (image.size(1) != 3) {
        input_fail("expected RGB images with 3 channels [B, 3, H, W], got " + std::to_string(image.size(1)) +
                   " channels (" + sizes_string(image.sizes()) + "); convert grayscale / RGBA images to RGB first");
    }
    if (image.size(2) < 2 || image.size(3) < 2) {
        input_fail("the image is too small (" + sizes_string(image.sizes()) + "); it needs at least 2x2 pixels");
    }
    if (!at::isFloatingType(image.scalar_type())) {
        input_fail(std::string("expected a floating-point image in [-1, 1], got ") +
                   c10::toString(image.scalar_type()));
    }
    const at::TensorOptions f32 = at::TensorOptions().dtype(at::kFloat).device(options().device());
    const at::Tensor x = image.to(f32.device(), at::kFloat);
    const at::Tensor resized = kornia_resize_bicubic(x, config.image_size, config.image_size, config.antialias);
    const at::Tensor mean =
        at::tensor(std::vector<double>(config.norm_mean.begin(), config.norm_mean.end()), f32).view({1, 3, 1, 1});
    const at::Tensor stdev =
        at::tensor(std::vector<double>(config.norm_std.begin(), config.norm_std.end()), f32).view({1, 3, 1, 1});
    return ((resized + 1.0) / 2.0 - mean) / stdev;  // [B, 3, S, S]
}

at::Tensor CLIPVisionEncoderImpl::forward(const at::Tensor& pixel_values) {
    const std::int64_t s = config.image_size;
    if (!pixel_values.defined() || pixel_values.dim() != 4 || pixel_values.size(0) < 1 || pixel_values.size(1) != 3 ||
        pixel_values.size(2) != s || pixel_values.size(3) != s) {
        input_fail("expected preprocessed pixels [B, 3, " + std::to_string(s) + ", " + std::to_string(s) + "], got " +
                   (pixel_values.defined() ? sizes_string(pixel_values.sizes()) : std::string("none")) +
                   " (use encode() for raw images)");
    }
    if (!at::isFloatingType(pixel_values.scalar_type())) {
        input_fail(std::string("pixel values must be floating point, got ") +
                   c10::toString(pixel_values.scalar_type()));
    }
    const at::TensorOptions opts = options();
    const at::Tensor px = pixel_values.to(opts.device(), opts.dtype().toScalarType());
    const std::int64_t b = px.size(0), w = config.width;
    at::Tensor x = at::conv2d(px, conv1_weight, {}, config.patch_size);      // [B, W, g, g]
    x = x.reshape({b, w, -1}).permute({0, 2, 1});                            // [B, g², W]
    x = at::cat({class_embedding.view({1, 1, w}).expand({b, 1, w}), x}, 1);  // [B, g² + 1, W]
    x = x + positional_embedding;
    x = ln_pre->forward(x);                        // (patch_dropout is the identity at inference)
    return transformer->forward(x, std::nullopt);  // [B, g² + 1, W]
}

at::Tensor CLIPVisionEncoderImpl::encode(const at::Tensor& image) {
    return forward(preprocess(image));
}

// ---------------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------------
Expected<CLIPVisionEncoder> load_clip_vision_encoder(const io::TensorMap& weights, const CLIPVisionConfig& config,
                                                     const OpenCLIPLoadOptions& options, const std::string& prefix) {
    // ln_post and proj are in the checkpoint, unused by FrozenOpenCLIPImageEmbedderV2 (they serve the pooled CLIP
    // embedding).
    return load_open_clip_tower<CLIPVisionEncoder>(weights, config, options, prefix, "CLIP image encoder",
                                                   {"^ln_post\\.(weight|bias)$", "^proj$"});
}

}  // namespace engine::models
