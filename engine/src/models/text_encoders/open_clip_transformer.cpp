// Ref: mlfoundations/open_clip src/open_clip/transformer.py@v2.22.0 LayerNorm, LayerNormFp32, ResidualAttentionBlock,
//      Transformer; pytorch torch/nn/functional.py multi_head_attention_forward (in_proj / out_proj layout)
#include "models/text_encoders/open_clip_transformer.h"

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "core/torch_compat.h"
#include "models/common/json_config.h"

namespace engine::models {

void refuse_unsupported_block_options(const JsonConfigReader& r) {
    r.require_default("ls_init_value", nullptr, "LayerScale is not implemented");
    r.require_default("quick_gelu", false, "ViT-H-14 uses nn.GELU; QuickGELU is not implemented");
    for (const char* key : {"act_kwargs", "norm_kwargs"}) {
        if (const nlohmann::json* k = r.find(key); k != nullptr && !k->empty()) {
            r.fail(ErrorCode::UnsupportedModel, std::string(key) + " are not supported");
        }
    }
}

OpenCLIPMultiheadAttentionImpl::OpenCLIPMultiheadAttentionImpl(std::int64_t width, std::int64_t heads,
                                                               const at::TensorOptions& options)
    : heads_(heads) {
    in_proj_weight = register_parameter("in_proj_weight", at::empty({3 * width, width}, options), false);
    in_proj_bias = register_parameter("in_proj_bias", at::empty({3 * width}, options), false);
    out_proj = register_module("out_proj", PlainLinear(width, width, /*bias=*/true, options));
}

at::Tensor OpenCLIPMultiheadAttentionImpl::forward(const at::Tensor& x, const std::optional<at::Tensor>& mask) {
    const std::int64_t b = x.size(0), l = x.size(1), w = x.size(2);
    const std::int64_t d = w / heads_;
    const at::Tensor qkv = at::linear(x, in_proj_weight, in_proj_bias);  // [B, L, 3W]
    const auto parts = qkv.chunk(3, -1);                                 // q, k, v: [B, L, W] each
    auto heads = [&](const at::Tensor& t) { return t.reshape({b, l, heads_, d}).transpose(1, 2); };  // [B, H, L, D]
    // nn.MultiheadAttention scales by 1/sqrt(head_dim) (the default of the shim).
    const at::Tensor out = core::scaled_dot_product_attention(heads(parts[0]), heads(parts[1]), heads(parts[2]),
                                                              mask);  // [B, H, L, D]
    return out_proj->forward(out.transpose(1, 2).reshape({b, l, w}));
}

OpenCLIPResidualAttentionBlockImpl::OpenCLIPResidualAttentionBlockImpl(const OpenCLIPTransformerOptions& options,
                                                                       const at::TensorOptions& tensor_options) {
    const std::int64_t w = options.width;
    const auto mlp_width = static_cast<std::int64_t>(static_cast<double>(w) * options.mlp_ratio);  // int() truncates
    ln_1 = register_module("ln_1", PlainLayerNorm(w, options.layer_norm_eps, tensor_options));
    attn = register_module("attn", OpenCLIPMultiheadAttention(w, options.heads, tensor_options));
    ln_2 = register_module("ln_2", PlainLayerNorm(w, options.layer_norm_eps, tensor_options));
    mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
    c_fc = mlp->register_module("c_fc", PlainLinear(w, mlp_width, true, tensor_options));
    c_proj = mlp->register_module("c_proj", PlainLinear(mlp_width, w, true, tensor_options));
}

at::Tensor OpenCLIPResidualAttentionBlockImpl::forward(const at::Tensor& x, const std::optional<at::Tensor>& mask) {
    const at::Tensor h = x + attn->forward(ln_1->forward(x), mask);         // [B, L, W]
    return h + c_proj->forward(at::gelu(c_fc->forward(ln_2->forward(h))));  // nn.GELU: exact (erf)
}

OpenCLIPTransformerImpl::OpenCLIPTransformerImpl(const OpenCLIPTransformerOptions& opts,
                                                 const at::TensorOptions& tensor_options)
    : options(opts) {
    resblocks = register_module("resblocks", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < options.layers; ++i) {
        OpenCLIPResidualAttentionBlock block(options, tensor_options);
        resblocks->push_back(block);
        blocks_.push_back(block);
    }
}

at::Tensor OpenCLIPTransformerImpl::forward(at::Tensor x, const std::optional<at::Tensor>& mask,
                                            std::optional<std::int64_t> num_blocks) {
    const std::int64_t n = num_blocks.value_or(options.layers);
    TORCH_CHECK(n >= 0 && n <= options.layers, "OpenCLIPTransformer: ", n, " blocks asked for, the tower has ",
                options.layers);
    for (std::int64_t i = 0; i < n; ++i) {
        x = blocks_[static_cast<std::size_t>(i)]->forward(x, mask);
    }
    return x;
}

}  // namespace engine::models
