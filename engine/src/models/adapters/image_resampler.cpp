// Ref: Doubiiu/DynamiCrafter lvdm/modules/encoders/resampler.py@c453369 Resampler, PerceiverAttention, FeedForward,
//      reshape_tensor
// Ref: AILab-CVC/VideoCrafter lvdm/modules/encoders/ip_resampler.py@11bcd76 Resampler
#include "models/adapters/image_resampler.h"

#include <ATen/ATen.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <sstream>

#include "core/engine_error.h"
#include "models/common/model_loading.h"
#include "core/torch_compat.h"
#include "io/state_dict.h"
#include "models/common/json_config.h"

namespace engine::models {

// ---------------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------------
namespace {

constexpr const char* kWhat = "Resampler config";

void check_config(const ImageResamplerConfig& c) {
    auto positive = [](std::int64_t v, const char* name) {
        if (v <= 0) {
            throw core::EngineError(ErrorCode::ModelLoadFailed,
                                    std::string(kWhat) + ": " + name + " must be positive, got " + std::to_string(v));
        }
    };
    positive(c.dim, "dim");
    positive(c.depth, "depth");
    positive(c.dim_head, "dim_head");
    positive(c.heads, "heads");
    positive(c.num_queries, "num_queries");
    positive(c.embedding_dim, "embedding_dim");
    positive(c.output_dim, "output_dim");
    positive(c.ff_mult, "ff_mult");
    if (c.video_length) positive(*c.video_length, "video_length");
    if (!(c.layer_norm_eps > 0.0)) {
        throw core::EngineError(ErrorCode::ModelLoadFailed, std::string(kWhat) + ": layer_norm_eps must be positive");
    }
}

}  // namespace

Expected<ImageResamplerConfig> ImageResamplerConfig::from_json(const nlohmann::json& params) {
    try {
        const JsonConfigReader r(params, kWhat);
        ImageResamplerConfig c;
        c.dim = r.positive_int("dim", c.dim);
        c.depth = r.positive_int("depth", c.depth);
        c.dim_head = r.positive_int("dim_head", c.dim_head);
        c.heads = r.positive_int("heads", c.heads);
        c.num_queries = r.positive_int("num_queries", c.num_queries);
        c.embedding_dim = r.positive_int("embedding_dim", c.embedding_dim);
        c.output_dim = r.positive_int("output_dim", c.output_dim);
        c.ff_mult = r.positive_int("ff_mult", c.ff_mult);
        c.video_length = r.optional_positive_int("video_length");
        check_config(c);
        return c;
    } catch (const core::EngineError& e) {
        return Unexpected{e.to_error()};
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::ModelLoadFailed, std::string(kWhat) + ": " + e.what());
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------------------------
PerceiverAttentionImpl::PerceiverAttentionImpl(const ImageResamplerConfig& c, const at::TensorOptions& options)
    : heads_(c.heads), dim_head_(c.dim_head) {
    const std::int64_t inner = c.inner_dim();
    norm1 = register_module("norm1", PlainLayerNorm(c.dim, c.layer_norm_eps, options));
    norm2 = register_module("norm2", PlainLayerNorm(c.dim, c.layer_norm_eps, options));
    to_q = register_module("to_q", PlainLinear(c.dim, inner, /*bias=*/false, options));
    to_kv = register_module("to_kv", PlainLinear(c.dim, 2 * inner, false, options));
    to_out = register_module("to_out", PlainLinear(inner, c.dim, false, options));
}

at::Tensor PerceiverAttentionImpl::forward(const at::Tensor& x, const at::Tensor& latents) {
    const at::Tensor xn = norm1->forward(x);        // [B, N, dim]
    const at::Tensor ln = norm2->forward(latents);  // [B, Q, dim]
    const std::int64_t b = ln.size(0), q_len = ln.size(1);
    const at::Tensor q = to_q->forward(ln);                             // [B, Q, inner]
    const auto kv = to_kv->forward(at::cat({xn, ln}, 1)).chunk(2, -1);  // k, v: [B, N + Q, inner]
    auto heads = [&](const at::Tensor& t) {  // reshape_tensor: [B, L, inner] -> [B, H, L, dim_head]
        return t.reshape({b, t.size(1), heads_, dim_head_}).transpose(1, 2);
    };
    // The reference scales q and k by dim_head^-1/4 each ("more stable with f16"): the same logits as one
    // 1/sqrt(dim_head) scale; its softmax runs in float32 (as the 1.13 shim does; the 2.x kernels accumulate
    // in float32).
    const double scale = 1.0 / std::sqrt(static_cast<double>(dim_head_));
    const at::Tensor out = core::scaled_dot_product_attention(heads(q), heads(kv[0]), heads(kv[1]), std::nullopt,
                                                              scale);                     // [B, H, Q, dim_head]
    return to_out->forward(out.transpose(1, 2).reshape({b, q_len, heads_ * dim_head_}));  // [B, Q, dim]
}

ResamplerFeedForwardImpl::ResamplerFeedForwardImpl(const ImageResamplerConfig& c, const at::TensorOptions& options) {
    const std::int64_t inner = c.dim * c.ff_mult;
    norm = register_module("0", PlainLayerNorm(c.dim, c.layer_norm_eps, options));
    fc1 = register_module("1", PlainLinear(c.dim, inner, /*bias=*/false, options));
    fc2 = register_module("3", PlainLinear(inner, c.dim, false, options));  // index 2 is the GELU
}

at::Tensor ResamplerFeedForwardImpl::forward(const at::Tensor& x) {
    return fc2->forward(at::gelu(fc1->forward(norm->forward(x))));  // nn.GELU: exact (erf)
}

ImageResamplerImpl::ImageResamplerImpl(const ImageResamplerConfig& cfg, const at::TensorOptions& options)
    : config(cfg) {
    check_config(config);
    const at::TensorOptions o = options.requires_grad(false);
    latents = register_parameter("latents", at::empty({1, config.num_latents(), config.dim}, o), false);
    proj_in = register_module("proj_in", PlainLinear(config.embedding_dim, config.dim, /*bias=*/true, o));
    proj_out = register_module("proj_out", PlainLinear(config.dim, config.output_dim, true, o));
    norm_out = register_module("norm_out", PlainLayerNorm(config.output_dim, config.layer_norm_eps, o));
    layers = register_module("layers", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < config.depth; ++i) {
        PerceiverAttention attn(config, o);
        ResamplerFeedForward ff(config, o);
        layers->push_back(torch::nn::ModuleList(attn, ff));
        attentions_.push_back(attn);
        feed_forwards_.push_back(ff);
    }
}

at::TensorOptions ImageResamplerImpl::options() const {
    return latents.options();
}

namespace {

std::string sizes_string(at::IntArrayRef s) {
    std::ostringstream os;
    os << s;
    return os.str();
}

}  // namespace

at::Tensor ImageResamplerImpl::forward(const at::Tensor& image_tokens) {
    if (!image_tokens.defined() || image_tokens.dim() != 3 || image_tokens.size(0) < 1 || image_tokens.size(1) < 1 ||
        image_tokens.size(2) != config.embedding_dim) {
        throw core::EngineError(
            ErrorCode::InvalidRequest,
            "image Resampler: expected CLIP image tokens [B, N, " + std::to_string(config.embedding_dim) + "], got " +
                (image_tokens.defined() ? sizes_string(image_tokens.sizes()) : std::string("none")) +
                " (is the image encoder the one this Resampler was trained with?)");
    }
    if (!at::isFloatingType(image_tokens.scalar_type())) {
        throw core::EngineError(ErrorCode::InvalidRequest, std::string("image Resampler: tokens must be floating "
                                                                       "point, got ") +
                                                               c10::toString(image_tokens.scalar_type()));
    }
    const at::TensorOptions opts = options();
    const at::Tensor tokens = image_tokens.to(opts.device(), opts.dtype().toScalarType());
    const std::int64_t b = tokens.size(0);
    at::Tensor lat = latents.expand({b, -1, -1});   // [B, Q, dim] (B (T L) C for the frame-wise version)
    const at::Tensor x = proj_in->forward(tokens);  // [B, N, dim]
    for (std::size_t i = 0; i < attentions_.size(); ++i) {
        lat = attentions_[i]->forward(x, lat) + lat;
        lat = feed_forwards_[i]->forward(lat) + lat;
    }
    return norm_out->forward(proj_out->forward(lat));  // [B, Q, output_dim]
}

// ---------------------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------------------
Expected<ImageResampler> load_image_resampler(const io::TensorMap& weights, const ImageResamplerConfig& config,
                                              const ImageResamplerLoadOptions& options, const std::string& prefix) {
    if (!at::isFloatingType(options.dtype)) {
        return make_error(ErrorCode::InvalidRequest, std::string("image Resampler: dtype ") +
                                                         c10::toString(options.dtype) + " is not a floating type");
    }
    return guarded_model_build("the image Resampler", [&]() -> Expected<ImageResampler> {
        ImageResampler model(config, at::TensorOptions().dtype(options.dtype).device(options.device));
        io::StateDictOptions load_options;
        load_options.prefix = prefix;
        auto report =
            io::load_state_dict(*model, weights, load_options, "image Resampler (keys " + load_options.prefix + "*)");
        if (!report) {
            return Unexpected{report.error()};
        }
        model->eval();
        return model;
    });
}

}  // namespace engine::models
