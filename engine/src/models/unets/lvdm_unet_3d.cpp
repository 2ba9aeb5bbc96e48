// Ref: AILab-CVC/VideoCrafter lvdm/modules/networks/openaimodel3d.py@11bcd76; Doubiiu/DynamiCrafter
//      lvdm/modules/networks/openaimodel3d.py@c453369 (see lvdm_unet_3d.h)
#include "models/unets/lvdm_unet_3d.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/dropout.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <sstream>
#include <tuple>

#include "core/engine_error.h"
#include "models/common/model_loading.h"
#include "io/state_dict.h"
#include "models/common/embeddings.h"
#include "models/common/memory_format.h"
#include "models/common/normalization.h"
#include "kernels/ops.h"

namespace engine::models {
namespace {

constexpr int64_t kNumGroups = 32;
constexpr double kGroupNormEps = 1e-5;        // GroupNorm32 (normalization()) and TemporalConvBlock's nn.GroupNorm
constexpr int64_t kImageTokensPerFrame = 16;  // DynamiCrafter's hard-coded per-frame split
const char* const kWhat = "LVDM UNet config";
const char* const kUNetTarget = "lvdm.modules.networks.openaimodel3d.UNetModel";

Unexpected config_error(ErrorCode code, const std::string& message) {
    return make_error(code, std::string(kWhat) + ": " + message);
}

std::string shape_of(const at::Tensor& t) {
    if (!t.defined()) {
        return "an undefined tensor";
    }
    std::ostringstream os;
    os << t.sizes();
    return os.str();
}

void require_input(bool cond, const std::string& message) {
    core::require(cond, ErrorCode::InvalidRequest, "LVDM UNet: " + message);
}

// Keys only one of the two code bases' UNetModel accepts.
const std::set<std::string>& videocrafter_only_keys() {
    static const std::set<std::string> keys = {"use_image_attention", "fps_cond", "temporal_transformer_depth"};
    return keys;
}
const std::set<std::string>& dynamicrafter_only_keys() {
    static const std::set<std::string> keys = {"image_cross_attention", "image_cross_attention_scale_learnable",
                                               "default_fs", "fs_condition"};
    return keys;
}

// group_norm's float32 addend [N, C]: a convolution's bias (or undefined) plus a per-sample term [N, C] (or
// undefined), broadcast to `samples` rows.
at::Tensor channel_addend(const at::Tensor& conv_bias, const at::Tensor& per_sample, int64_t samples) {
    at::Tensor add = per_sample.defined() ? per_sample.to(at::kFloat) : at::Tensor();
    if (conv_bias.defined()) {
        const at::Tensor b = conv_bias.to(at::kFloat).unsqueeze(0);
        add = add.defined() ? add + b : b.expand({samples, conv_bias.size(0)}).contiguous();
    }
    return add;
}

}  // namespace

const char* to_string(LVDMVariant variant) noexcept {
    switch (variant) {
        case LVDMVariant::VideoCrafter:
            return "VideoCrafter";
        case LVDMVariant::DynamiCrafter:
            return "DynamiCrafter";
        case LVDMVariant::None:
            break;
    }
    return "none";
}

// ---------------------------------------------------------------------------------------------------------------
// Config

int64_t LVDMUNet3DConfig::spatial_divisor() const {
    return int64_t{1} << (channel_mult.empty() ? 0 : channel_mult.size() - 1);
}

Expected<LVDMUNet3DConfig> LVDMUNet3DConfig::from_json(const nlohmann::json& json) {
    const nlohmann::json* params = &json;
    if (json.is_object() && json.contains("target")) {
        const auto& target = json["target"];
        if (!target.is_string() || target.get<std::string>() != kUNetTarget) {
            return config_error(ErrorCode::UnsupportedModel,
                                "target is " + target.dump() + ", not \"" + kUNetTarget + "\": not an LVDM video UNet");
        }
        if (!json.contains("params")) {
            return config_error(ErrorCode::ModelLoadFailed, "the unet_config has a target but no params");
        }
        params = &json["params"];
    }
    if (!params->is_object()) {
        return config_error(ErrorCode::ModelLoadFailed, "expected a JSON object of UNetModel parameters");
    }

    LVDMUNet3DConfig c;
    // Which code base: by the keys only one of them accepts.
    std::string vc_key;
    std::string dc_key;
    for (const auto& item : params->items()) {
        if (videocrafter_only_keys().count(item.key()) != 0 && vc_key.empty()) {
            vc_key = item.key();
        }
        if (dynamicrafter_only_keys().count(item.key()) != 0 && dc_key.empty()) {
            dc_key = item.key();
        }
    }
    if (!vc_key.empty() && !dc_key.empty()) {
        return config_error(ErrorCode::ModelLoadFailed, "mixes VideoCrafter ('" + vc_key + "') and DynamiCrafter ('" +
                                                            dc_key + "') parameters; neither code base accepts both");
    }
    c.variant = dc_key.empty() ? LVDMVariant::VideoCrafter : LVDMVariant::DynamiCrafter;
    c.default_fps = c.variant == LVDMVariant::DynamiCrafter ? 4 : 16;  // default_fs=4 / forward(fps=16)

    std::optional<Unexpected> error;
    auto fail = [&](ErrorCode code, const std::string& message) {
        if (!error) {
            error = config_error(code, message);
        }
    };
    auto read_int = [&](const std::string& key, const nlohmann::json& v, int64_t& out) {
        if (!v.is_number_integer()) {
            fail(ErrorCode::ModelLoadFailed, "'" + key + "' must be an integer, got " + v.dump());
            return;
        }
        out = v.get<int64_t>();
    };
    auto read_bool = [&](const std::string& key, const nlohmann::json& v, bool& out) {
        if (!v.is_boolean()) {
            fail(ErrorCode::ModelLoadFailed, "'" + key + "' must be true or false, got " + v.dump());
            return;
        }
        out = v.get<bool>();
    };
    auto read_int_list = [&](const std::string& key, const nlohmann::json& v, std::vector<int64_t>& out) {
        if (!v.is_array()) {
            fail(ErrorCode::ModelLoadFailed, "'" + key + "' must be a list of integers, got " + v.dump());
            return;
        }
        out.clear();
        for (const auto& e : v) {
            if (!e.is_number_integer()) {
                fail(ErrorCode::ModelLoadFailed, "'" + key + "' must be a list of integers, got " + v.dump());
                return;
            }
            out.push_back(e.get<int64_t>());
        }
    };
    // A key whose only implemented value is `supported`: anything else changes the network.
    auto require_bool = [&](const std::string& key, const nlohmann::json& v, bool supported, const char* why) {
        bool value = supported;
        read_bool(key, v, value);
        if (value != supported) {
            fail(ErrorCode::UnsupportedModel, "'" + key + "' = " + v.dump() + " is not supported (" + why + ")");
        }
    };

    bool temporal_self_attention_only = true;
    bool seen_in = false, seen_out = false, seen_mc = false, seen_nrb = false, seen_attn = false;
    for (const auto& [key, v] : params->items()) {
        if (key == "in_channels") {
            read_int(key, v, c.in_channels);
            seen_in = true;
        } else if (key == "out_channels") {
            read_int(key, v, c.out_channels);
            seen_out = true;
        } else if (key == "model_channels") {
            read_int(key, v, c.model_channels);
            seen_mc = true;
        } else if (key == "num_res_blocks") {
            read_int(key, v, c.num_res_blocks);
            seen_nrb = true;
        } else if (key == "attention_resolutions") {
            read_int_list(key, v, c.attention_resolutions);
            seen_attn = true;
        } else if (key == "channel_mult") {
            read_int_list(key, v, c.channel_mult);
        } else if (key == "dropout") {
            if (!v.is_number()) {
                fail(ErrorCode::ModelLoadFailed, "'dropout' must be a number, got " + v.dump());
            } else {
                c.dropout = v.get<double>();  // training only
            }
        } else if (key == "conv_resample") {
            require_bool(key, v, true, "Kinora implements the convolutional down/upsampling every LVDM model uses");
        } else if (key == "dims") {
            int64_t dims = 2;
            read_int(key, v, dims);
            if (dims != 2) {
                fail(ErrorCode::UnsupportedModel,
                     "'dims' = " + v.dump() + " is not supported (the video UNet runs 2-D layers per frame)");
            }
        } else if (key == "context_dim") {
            if (v.is_null()) {
                fail(ErrorCode::UnsupportedModel,
                     "'context_dim' = null (a UNet without text conditioning) is not "
                     "supported");
            } else {
                read_int(key, v, c.context_dim);
            }
        } else if (key == "use_scale_shift_norm") {
            require_bool(key, v, false, "no released VideoCrafter/DynamiCrafter model uses FiLM ResBlocks");
        } else if (key == "resblock_updown") {
            require_bool(key, v, false, "no released VideoCrafter/DynamiCrafter model uses ResBlock resampling");
        } else if (key == "num_heads") {
            read_int(key, v, c.num_heads);
        } else if (key == "num_head_channels") {
            read_int(key, v, c.num_head_channels);
        } else if (key == "transformer_depth") {
            read_int(key, v, c.transformer_depth);
        } else if (key == "temporal_transformer_depth") {  // VideoCrafter
            read_int(key, v, c.temporal_transformer_depth);
        } else if (key == "use_linear") {
            read_bool(key, v, c.use_linear);
        } else if (key == "use_checkpoint") {
            bool ignored = false;
            read_bool(key, v, ignored);  // gradient checkpointing: training only
        } else if (key == "use_fp16") {
            bool ignored = false;
            read_bool(key, v, ignored);  // the activation dtype; Kinora's loader chooses it
        } else if (key == "temporal_conv") {
            read_bool(key, v, c.temporal_conv);
        } else if (key == "tempspatial_aware") {
            require_bool(key, v, false, "no released model uses the spatially aware temporal convolutions");
        } else if (key == "temporal_attention") {
            read_bool(key, v, c.temporal_attention);
        } else if (key == "temporal_selfatt_only") {
            read_bool(key, v, temporal_self_attention_only);
        } else if (key == "use_relative_position") {
            read_bool(key, v, c.use_relative_position);
        } else if (key == "use_causal_attention") {
            read_bool(key, v, c.use_causal_attention);
        } else if (key == "temporal_length") {
            if (v.is_null()) {
                c.temporal_length.reset();
            } else {
                int64_t length = 0;
                read_int(key, v, length);
                c.temporal_length = length;
            }
        } else if (key == "addition_attention") {
            read_bool(key, v, c.addition_attention);
        } else if (key == "use_image_attention" || key == "image_cross_attention") {
            read_bool(key, v, c.image_cross_attention);
        } else if (key == "image_cross_attention_scale_learnable") {
            read_bool(key, v, c.image_cross_attention_scale_learnable);
        } else if (key == "fps_cond" || key == "fs_condition") {
            read_bool(key, v, c.fps_condition);
        } else if (key == "default_fs") {
            read_int(key, v, c.default_fps);
        } else {
            fail(ErrorCode::UnsupportedModel,
                 "unknown key '" + key + "' (= " + v.dump() +
                     "): it may change the computation, so this model is refused. The config may come from a newer "
                     "VideoCrafter/DynamiCrafter version than Kinora knows");
        }
    }
    // Temporal cross-attention to the text: VideoCrafter's temporal transformers would use it; DynamiCrafter
    // forces self-attention there but passes the flag to init_attn.
    if (!temporal_self_attention_only && (c.variant == LVDMVariant::VideoCrafter || c.addition_attention)) {
        fail(ErrorCode::UnsupportedModel,
             "'temporal_selfatt_only' = false is not supported (temporal cross-attention to the text is not "
             "implemented; every released model uses temporal self-attention only)");
    }
    if (error) {
        return *error;
    }
    for (const auto& [seen, key] :
         {std::pair{seen_in, "in_channels"}, std::pair{seen_out, "out_channels"}, std::pair{seen_mc, "model_channels"},
          std::pair{seen_nrb, "num_res_blocks"}, std::pair{seen_attn, "attention_resolutions"}}) {
        if (!seen) {
            return config_error(ErrorCode::ModelLoadFailed,
                                std::string("'") + key + "' is missing (UNetModel has no default for it)");
        }
    }

    // Values that cannot describe a working model.
    auto positive = [&](const char* key, int64_t value) {
        if (value <= 0) {
            fail(ErrorCode::ModelLoadFailed,
                 std::string("'") + key + "' must be positive, got " + std::to_string(value));
        }
    };
    positive("in_channels", c.in_channels);
    positive("out_channels", c.out_channels);
    positive("model_channels", c.model_channels);
    positive("context_dim", c.context_dim);
    positive("transformer_depth", c.transformer_depth);
    positive("temporal_transformer_depth", c.temporal_transformer_depth);
    if (c.num_res_blocks < 0) {
        fail(ErrorCode::ModelLoadFailed, "'num_res_blocks' must not be negative");
    }
    if (c.channel_mult.empty()) {
        fail(ErrorCode::ModelLoadFailed, "'channel_mult' must not be empty");
    }
    for (int64_t m : c.channel_mult) {
        positive("channel_mult", m);
    }
    for (int64_t r : c.attention_resolutions) {
        positive("attention_resolutions", r);
    }
    if (error) {
        return *error;
    }
    if (c.model_channels % kNumGroups != 0) {
        return config_error(ErrorCode::ModelLoadFailed, "'model_channels' (" + std::to_string(c.model_channels) +
                                                            ") must be a multiple of 32 (GroupNorm with 32 groups)");
    }
    if (c.num_heads <= 0 && c.num_head_channels <= 0) {
        return config_error(ErrorCode::ModelLoadFailed, "either 'num_heads' or 'num_head_channels' must be set");
    }
    for (int64_t m : c.channel_mult) {
        const int64_t ch = m * c.model_channels;
        if (c.num_head_channels > 0 ? ch < c.num_head_channels : ch < c.num_heads) {
            return config_error(
                ErrorCode::ModelLoadFailed,
                std::to_string(ch) + " channels cannot hold " +
                    (c.num_head_channels > 0 ? "one head of num_head_channels = " + std::to_string(c.num_head_channels)
                                             : "num_heads = " + std::to_string(c.num_heads) + " heads"));
        }
    }
    if (c.addition_attention && c.num_head_channels <= 0) {
        return config_error(ErrorCode::ModelLoadFailed,
                            "'addition_attention' builds init_attn with 8 heads of num_head_channels channels, so "
                            "'num_head_channels' must be set");
    }
    const bool has_temporal_attention = c.temporal_attention || c.addition_attention;
    if (has_temporal_attention && (c.use_relative_position || c.use_causal_attention) &&
        (!c.temporal_length || *c.temporal_length <= 0)) {
        return config_error(
            ErrorCode::ModelLoadFailed,
            std::string(c.use_relative_position ? "'use_relative_position' (default true)" : "'use_causal_attention'") +
                " needs a positive 'temporal_length'");
    }
    if (c.image_cross_attention_scale_learnable && !c.image_cross_attention) {
        // DynamiCrafter creates alpha only inside the image cross-attention.
        c.image_cross_attention_scale_learnable = false;
    }
    return c;
}

// ---------------------------------------------------------------------------------------------------------------
// TemporalConvBlock

LVDMTemporalConvBlockImpl::LVDMTemporalConvBlockImpl(int64_t channels, const at::TensorOptions& options) {
    torch::nn::ModuleList* lists[4] = {&conv1, &conv2, &conv3, &conv4};
    const char* names[4] = {"conv1", "conv2", "conv3", "conv4"};
    const ConvGeometry temporal{{3, 1, 1}, {1}, {1, 0, 0}, 1, true};
    for (int i = 0; i < 4; ++i) {
        norms[i] = PlainGroupNorm(kNumGroups, channels, kGroupNormEps, options);
        convs[i] = PlainConv(channels, channels, temporal, options);
        // conv1 = (GroupNorm, SiLU, Conv3d); conv2..4 = (GroupNorm, SiLU, Dropout, Conv3d).
        *lists[i] = i == 0 ? torch::nn::ModuleList(norms[i], torch::nn::SiLU(), convs[i])
                           : torch::nn::ModuleList(norms[i], torch::nn::SiLU(), torch::nn::Dropout(0.0), convs[i]);
        register_module(names[i], *lists[i]);
    }
}

at::Tensor LVDMTemporalConvBlockImpl::forward(const at::Tensor& x, int64_t batch) {
    const int64_t n = x.size(0);
    const int64_t c = x.size(1);
    const int64_t height = x.size(2);
    const int64_t width = x.size(3);
    const int64_t frames = n / batch;
    const at::Tensor video = x.view({batch, frames, c, height, width});  // [B, F, C, H, W]
    const at::Tensor seq = video.permute({0, 2, 1, 3, 4});              // [B, C, F, H, W], a view

    // The Conv3d layout [B, C, F, H, W]: channels-last-3d when x is channels-last (the same memory order as x, so
    // no transpose anywhere in the block), else NCDHW. conv1's GroupNorm (over all frames) writes it directly.
    const bool channels_last = !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
    at::Tensor y = at::empty({batch, c, frames, height, width},
                             x.options().memory_format(channels_last ? at::MemoryFormat::ChannelsLast3d
                                                                     : at::MemoryFormat::Contiguous));
    kernels::group_norm(seq, kNumGroups, norms[0]->weight, norms[0]->bias, kGroupNormEps, /*silu=*/true, {}, y);
    y = convs[0]->forward_without_bias(y);
    for (int i = 1; i < 4; ++i) {
        // The previous conv's bias joins this norm's pass.
        y = kernels::group_norm(y, kNumGroups, norms[i]->weight, norms[i]->bias, kGroupNormEps, /*silu=*/true,
                                channel_addend(convs[i - 1]->bias, {}, batch));
        y = convs[i]->forward_without_bias(y);  // [B, C, F, H, W]
    }
    // conv4's bias and the residual in one pass, then back to frames [(B·F), C, H, W] (a view when channels-last).
    at::Tensor out = kernels::add_channel_bias(y, convs[3]->bias, seq);
    return out.permute({0, 2, 1, 3, 4}).reshape({n, c, height, width});
}

// ---------------------------------------------------------------------------------------------------------------
// ResBlock, Downsample, Upsample

LVDMResBlockImpl::LVDMResBlockImpl(int64_t channels, int64_t emb_channels, int64_t out_channels, bool temporal_conv,
                                   const at::TensorOptions& options) {
    auto group_norm = [&options](int64_t ch) { return PlainGroupNorm(kNumGroups, ch, kGroupNormEps, options); };
    in_norm = group_norm(channels);
    in_conv = PlainConv(channels, out_channels, conv2d_geometry(3, 1, 1), options);
    in_layers = register_module("in_layers", torch::nn::ModuleList(in_norm, torch::nn::SiLU(), in_conv));
    emb_linear = PlainLinear(emb_channels, out_channels, true, options);
    emb_layers = register_module("emb_layers", torch::nn::ModuleList(torch::nn::SiLU(), emb_linear));
    out_norm = group_norm(out_channels);
    out_conv = PlainConv(out_channels, out_channels, conv2d_geometry(3, 1, 1), options);
    out_layers = register_module("out_layers",
                                 torch::nn::ModuleList(out_norm, torch::nn::SiLU(), torch::nn::Dropout(0.0), out_conv));
    if (out_channels != channels) {
        skip_connection =
            register_module("skip_connection", PlainConv(channels, out_channels, conv2d_geometry(1), options));
    }
    if (temporal_conv) {
        temopral_conv = register_module("temopral_conv", LVDMTemporalConvBlock(out_channels, options));
    }
}

at::Tensor LVDMResBlockImpl::forward(const at::Tensor& x, const at::Tensor& emb, int64_t batch) {
    at::Tensor h = kernels::group_norm(x, kNumGroups, in_norm->weight, in_norm->bias, kGroupNormEps, /*silu=*/true);
    h = in_conv->forward_without_bias(h);  // [N, out, H, W]
    // in_conv's bias and the time embedding, added per (frame, channel) in float32 inside out_norm's pass.
    const at::Tensor emb_out = emb_linear->forward(at::silu(emb));  // [N, out]
    h = kernels::group_norm(h, kNumGroups, out_norm->weight, out_norm->bias, kGroupNormEps, /*silu=*/true,
                            channel_addend(in_conv->bias, emb_out, emb_out.size(0)));
    h = out_conv->forward_without_bias(h);
    // out_conv's bias and the residual in one pass.
    h = kernels::add_channel_bias(h, out_conv->bias, skip_connection.is_empty() ? x : skip_connection->forward(x));
    if (!temopral_conv.is_empty()) {
        h = temopral_conv->forward(h, batch);  // after the residual, with its own residual
    }
    return h;
}

LVDMDownsampleImpl::LVDMDownsampleImpl(int64_t channels, const at::TensorOptions& options) {
    op = register_module("op", PlainConv(channels, channels, conv2d_geometry(3, 2, 1), options));
}

at::Tensor LVDMDownsampleImpl::forward(const at::Tensor& x) {
    return op->forward(x);
}

LVDMUpsampleImpl::LVDMUpsampleImpl(int64_t channels, const at::TensorOptions& options) {
    conv = register_module("conv", PlainConv(channels, channels, conv2d_geometry(3, 1, 1), options));
}

at::Tensor LVDMUpsampleImpl::forward(const at::Tensor& x) {
    // F.interpolate(scale_factor=2, mode="nearest"): source index floor(dst / 2).
    at::Tensor up = at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2}, 2.0, 2.0);
    return conv->forward(up);
}

// ---------------------------------------------------------------------------------------------------------------
// UNetModel

LVDMUNet3DImpl::LVDMUNet3DImpl(const LVDMUNet3DConfig& cfg, const at::TensorOptions& options) : config(cfg) {
    const int64_t mc = config.model_channels;
    const int64_t emb_dim = config.time_embed_dim();
    const bool dc = config.variant == LVDMVariant::DynamiCrafter;

    time_embed_in_ = PlainLinear(mc, emb_dim, true, options);
    time_embed_out_ = PlainLinear(emb_dim, emb_dim, true, options);
    time_embed =
        register_module("time_embed", torch::nn::ModuleList(time_embed_in_, torch::nn::SiLU(), time_embed_out_));
    if (config.fps_condition) {
        fps_embed_in_ = PlainLinear(mc, emb_dim, true, options);
        fps_embed_out_ = PlainLinear(emb_dim, emb_dim, true, options);
        fps_embedding =
            register_module("fps_embedding", torch::nn::ModuleList(fps_embed_in_, torch::nn::SiLU(), fps_embed_out_));
    }

    // Heads of a transformer at `ch` channels: fixed head width (num_head_channels) or fixed head count.
    auto heads_of = [&](int64_t ch) {
        return config.num_head_channels > 0 ? std::pair{ch / config.num_head_channels, config.num_head_channels}
                                            : std::pair{config.num_heads, ch / config.num_heads};
    };
    const std::optional<int64_t> relative_position =
        config.use_relative_position ? config.temporal_length : std::optional<int64_t>{};
    const LVDMCausalMask causal = !config.use_causal_attention ? LVDMCausalMask::None
                                  : dc                         ? LVDMCausalMask::Sliced
                                                               : LVDMCausalMask::FullLength;
    auto spatial = [&](int64_t ch) {
        LVDMSpatialTransformerOptions o;
        o.in_channels = ch;
        std::tie(o.heads, o.dim_head) = heads_of(ch);
        o.depth = config.transformer_depth;
        o.context_dim = config.context_dim;
        o.use_linear = config.use_linear;
        o.image_cross_attention = config.image_cross_attention;
        o.image_scale_learnable = config.image_cross_attention_scale_learnable;
        o.text_only_context = dc && !config.image_cross_attention;
        return LVDMSpatialTransformer(o, options);
    };
    auto temporal = [&](int64_t ch) {
        LVDMTemporalTransformerOptions o;
        o.in_channels = ch;
        std::tie(o.heads, o.dim_head) = heads_of(ch);
        o.depth = dc ? config.transformer_depth : config.temporal_transformer_depth;
        o.use_linear = config.use_linear;
        o.relative_position = relative_position;
        o.causal = causal;
        o.temporal_length = config.temporal_length.value_or(0);
        return LVDMTemporalTransformer(o, options);
    };
    auto attention_at = [&](int64_t ds) {
        const auto& r = config.attention_resolutions;
        return std::find(r.begin(), r.end(), ds) != r.end();
    };

    input_blocks = register_module("input_blocks", torch::nn::ModuleList());
    input_blocks->push_back(torch::nn::ModuleList(PlainConv(config.in_channels, mc, conv2d_geometry(3, 1, 1), options)));
    if (config.addition_attention) {
        // 8 heads of num_head_channels, Conv1d projections, depth transformer_depth; DynamiCrafter never masks it.
        LVDMTemporalTransformerOptions t;
        t.in_channels = mc;
        t.heads = 8;
        t.dim_head = config.num_head_channels;
        t.depth = config.transformer_depth;
        t.use_linear = false;
        t.relative_position = relative_position;
        t.causal = dc ? LVDMCausalMask::None : causal;
        t.temporal_length = config.temporal_length.value_or(0);
        init_attn = register_module("init_attn", torch::nn::ModuleList(LVDMTemporalTransformer(t, options)));
    }

    std::vector<int64_t> skip_channels = {mc};
    int64_t ch = mc;
    int64_t ds = 1;
    const auto num_levels = static_cast<int64_t>(config.channel_mult.size());
    for (int64_t level = 0; level < num_levels; ++level) {
        const int64_t level_ch = config.channel_mult[static_cast<size_t>(level)] * mc;
        for (int64_t r = 0; r < config.num_res_blocks; ++r) {
            torch::nn::ModuleList layers(LVDMResBlock(ch, emb_dim, level_ch, config.temporal_conv, options));
            ch = level_ch;
            if (attention_at(ds)) {
                layers->push_back(spatial(ch));
                if (config.temporal_attention) {
                    layers->push_back(temporal(ch));
                }
            }
            input_blocks->push_back(layers);
            skip_channels.push_back(ch);
        }
        if (level != num_levels - 1) {
            input_blocks->push_back(torch::nn::ModuleList(LVDMDownsample(ch, options)));
            skip_channels.push_back(ch);
            ds *= 2;
        }
    }

    middle_block = register_module("middle_block", torch::nn::ModuleList());
    middle_block->push_back(LVDMResBlock(ch, emb_dim, ch, config.temporal_conv, options));
    middle_block->push_back(spatial(ch));
    if (config.temporal_attention) {
        middle_block->push_back(temporal(ch));
    }
    middle_block->push_back(LVDMResBlock(ch, emb_dim, ch, config.temporal_conv, options));

    output_blocks = register_module("output_blocks", torch::nn::ModuleList());
    for (int64_t level = num_levels - 1; level >= 0; --level) {
        const int64_t level_ch = config.channel_mult[static_cast<size_t>(level)] * mc;
        for (int64_t i = 0; i <= config.num_res_blocks; ++i) {
            const int64_t skip_ch = skip_channels.back();
            skip_channels.pop_back();
            torch::nn::ModuleList layers(LVDMResBlock(ch + skip_ch, emb_dim, level_ch, config.temporal_conv, options));
            ch = level_ch;
            if (attention_at(ds)) {
                layers->push_back(spatial(ch));
                if (config.temporal_attention) {
                    layers->push_back(temporal(ch));
                }
            }
            if (level != 0 && i == config.num_res_blocks) {
                layers->push_back(LVDMUpsample(ch, options));
                ds /= 2;
            }
            output_blocks->push_back(layers);
        }
    }

    out_norm_ = PlainGroupNorm(kNumGroups, ch, kGroupNormEps, options);
    out_conv_ = PlainConv(mc, config.out_channels, conv2d_geometry(3, 1, 1), options);
    out = register_module("out", torch::nn::ModuleList(out_norm_, torch::nn::SiLU(), out_conv_));
}

at::ScalarType LVDMUNet3DImpl::dtype() const {
    return time_embed_in_->weight.scalar_type();
}

c10::Device LVDMUNet3DImpl::device() const {
    return time_embed_in_->weight.device();
}

at::Tensor LVDMUNet3DImpl::embed_timesteps(PlainLinearImpl& linear_in, PlainLinearImpl& linear_out,
                                           const at::Tensor& values) {
    // LVDM timestep_embedding: half = C/2, freqs = exp(-ln(1e4) · i / half), [cos(t·f), sin(t·f)], in float32.
    at::Tensor sinusoid = timestep_embedding(values, config.model_channels, /*flip_sin_to_cos=*/true,
                                             /*downscale_freq_shift=*/0.0);
    return linear_out.forward(at::silu(linear_in.forward(sinusoid.to(dtype()))));  // [B, 4C]
}

at::Tensor LVDMUNet3DImpl::run_sequential(const torch::nn::ModuleListImpl& layers, at::Tensor h, const at::Tensor& emb,
                                          const at::Tensor& context, int64_t batch) {
    for (const auto& layer : layers) {
        if (auto* res = layer->as<LVDMResBlockImpl>()) {
            h = res->forward(h, emb, batch);
        } else if (auto* spatial = layer->as<LVDMSpatialTransformerImpl>()) {
            h = spatial->forward(h, context);
        } else if (auto* temporal = layer->as<LVDMTemporalTransformerImpl>()) {
            h = temporal->forward(h, batch);
        } else if (auto* down = layer->as<LVDMDownsampleImpl>()) {
            h = down->forward(h);
        } else if (auto* up = layer->as<LVDMUpsampleImpl>()) {
            h = up->forward(h);
        } else if (auto* conv = layer->as<PlainConvImpl>()) {
            h = conv->forward(h);
        } else {
            TORCH_CHECK(false, "LVDM UNet: unexpected layer ", layer->name());
        }
    }
    return h;
}

void LVDMUNet3DImpl::set_channels_last(bool on) {
    set_conv_weights_channels_last(*this, on);
    channels_last_ = on;
}

at::Tensor LVDMUNet3DImpl::forward(const at::Tensor& x, const at::Tensor& timesteps, const at::Tensor& context,
                                   const LVDMUNet3DConditioning& conditioning) {
    const bool dc = config.variant == LVDMVariant::DynamiCrafter;
    require_input(x.defined() && x.dim() == 5,
                  "x must be a video latent [B, C, F, H, W], got " + shape_of(x) +
                      (x.defined() && x.dim() == 4 ? " (a single image latent needs a frame axis)" : ""));
    const int64_t batch = x.size(0);
    const int64_t channels = x.size(1);
    const int64_t frames = x.size(2);
    const int64_t height = x.size(3);
    const int64_t width = x.size(4);
    require_input(batch > 0 && frames > 0, "x " + shape_of(x) + " has no videos or no frames");
    if (channels != config.in_channels) {
        std::string hint;
        if (dc && channels * 2 == config.in_channels) {
            hint =
                "; this DynamiCrafter UNet takes the noisy latent concatenated with the first-frame latent on "
                "the channel axis (hybrid conditioning)";
        } else if (!dc && channels == 2 * config.in_channels) {
            hint = "; VideoCrafter UNets take no concatenated image latent";
        }
        require_input(false, "x has " + std::to_string(channels) + " channels, the model expects " +
                                 std::to_string(config.in_channels) + hint);
    }
    const int64_t divisor = config.spatial_divisor();
    require_input(height > 0 && width > 0 && height % divisor == 0 && width % divisor == 0,
                  "the latent size " + std::to_string(height) + "x" + std::to_string(width) +
                      " must be a positive multiple of " + std::to_string(divisor) + " (" +
                      std::to_string(config.channel_mult.size() - 1) +
                      " downsamplings); choose a video size whose latent is divisible by it");
    require_input(timesteps.defined() && (timesteps.dim() == 0 || (timesteps.dim() == 1 && timesteps.size(0) == batch)),
                  "timesteps must be [B=" + std::to_string(batch) + "] or a scalar, got " + shape_of(timesteps));
    require_input(
        context.defined() && context.dim() == 3 && context.size(0) == batch && context.size(2) == config.context_dim,
        "context must be [B=" + std::to_string(batch) + ", L, " + std::to_string(config.context_dim) + "], got " +
            shape_of(context));
    const int64_t context_len = context.size(1);
    if (config.image_cross_attention) {
        require_input(context_len > kLVDMTextContextLength,
                      "this UNet attends to image tokens after the 77 text tokens (image cross-attention), but the "
                      "context has " +
                          std::to_string(context_len) +
                          " tokens; append the image embedding (the unconditional branch uses the embedding of a "
                          "blank image)");
    } else {
        require_input(context_len > 0, "context has no tokens");
    }

    const auto dtype = this->dtype();
    const auto dev = device();
    auto per_video = [&](const at::Tensor& t, const char* name) {
        require_input(t.defined() && (t.dim() == 0 || (t.dim() == 1 && t.size(0) == batch)),
                      std::string(name) + " must be [B=" + std::to_string(batch) + "] or a scalar, got " + shape_of(t));
        return t.dim() == 0 ? t.reshape({1}).expand({batch}).to(dev) : t.to(dev);
    };

    // 1. Time embedding (+ fps / frame-stride embedding), one per video: [B, 4C].
    at::Tensor emb = embed_timesteps(*time_embed_in_, *time_embed_out_, per_video(timesteps, "timesteps"));
    if (config.fps_condition) {
        const auto& given = dc ? conditioning.fs : conditioning.fps;
        const auto& other = dc ? conditioning.fps : conditioning.fs;
        require_input(!other.has_value(), dc ? "this is a DynamiCrafter UNet: pass the frame stride as fs, not fps"
                                             : "this is a VideoCrafter UNet: pass the frame rate as fps, not fs");
        at::Tensor values =
            given ? per_video(*given, dc ? "fs" : "fps")
                  : at::full({batch}, config.default_fps, at::TensorOptions().dtype(at::kLong).device(dev));
        emb = emb + embed_timesteps(*fps_embed_in_, *fps_embed_out_, values);
    }

    // 2. Everything runs per frame, frames of a video consecutive: [(B·F), ...].
    auto repeat_frames = [&](const at::Tensor& t) {  // [B, ...] → [(B·F), ...], as repeat_interleave(F, 0)
        std::vector<int64_t> expanded = t.sizes().vec();
        expanded.insert(expanded.begin() + 1, frames);
        std::vector<int64_t> merged = t.sizes().vec();
        merged[0] = batch * frames;
        return t.unsqueeze(1).expand(expanded).reshape(merged);
    };
    emb = repeat_frames(emb);  // [(B·F), 4C]
    at::Tensor ctx = context.to(dev, dtype);
    if (dc && context_len == kLVDMTextContextLength + kImageTokensPerFrame * frames) {
        // DynamiCrafter: 16 image tokens per frame ('b (t l) c -> (b t) l c'), the text repeated per frame.
        at::Tensor text = repeat_frames(ctx.narrow(1, 0, kLVDMTextContextLength));
        at::Tensor image = ctx.narrow(1, kLVDMTextContextLength, kImageTokensPerFrame * frames)
                               .reshape({batch * frames, kImageTokensPerFrame, config.context_dim});
        ctx = at::cat({text, image}, 1);  // [(B·F), 93, D]
    } else {
        ctx = repeat_frames(ctx);  // [(B·F), L, D]
    }
    at::Tensor h = x.to(dev, dtype).permute({0, 2, 1, 3, 4}).reshape({batch * frames, channels, height, width});
    h = channels_last_if(h, channels_last_);

    // 3. Encoder, middle, decoder with skip connections.
    std::vector<at::Tensor> skips;
    skips.reserve(input_blocks->size());
    for (size_t i = 0; i < input_blocks->size(); ++i) {
        h = run_sequential(*input_blocks[i]->as<torch::nn::ModuleList>(), h, emb, ctx, batch);
        if (i == 0 && !init_attn.is_empty()) {
            h = run_sequential(*init_attn, h, emb, ctx, batch);
        }
        skips.push_back(h);
    }
    h = run_sequential(*middle_block, h, emb, ctx, batch);
    for (const auto& block : *output_blocks) {
        h = at::cat({h, skips.back()}, 1);
        skips.pop_back();
        h = run_sequential(*block->as<torch::nn::ModuleList>(), h, emb, ctx, batch);
    }

    // 4. Output head: GroupNorm32, SiLU, conv; back to [B, C, F, H, W].
    h = kernels::group_norm(h, kNumGroups, out_norm_->weight, out_norm_->bias, kGroupNormEps, /*silu=*/true);
    h = out_conv_->forward(h);  // [(B·F), C_out, H, W]
    return h.view({batch, frames, config.out_channels, height, width}).permute({0, 2, 1, 3, 4}).contiguous();
}

// ---------------------------------------------------------------------------------------------------------------
// Loading

Expected<LVDMUNet3D> load_lvdm_unet_3d(const LVDMUNet3DConfig& config, const io::TensorMap& weights,
                                       const LVDMUNet3DLoadOptions& options) {
    return guarded_model_build("the LVDM UNet of " + options.source, [&]() -> Expected<LVDMUNet3D> {
        LVDMUNet3D model(config, at::TensorOptions().dtype(options.dtype).device(options.device));
        io::StateDictOptions state_options;
        state_options.prefix = options.prefix;
        state_options.renames = {{"framestride_embed.", "fps_embedding."}};  // DynamiCrafter-256's name
        auto report = io::load_state_dict(
            *model, weights, state_options,
            std::string(to_string(config.variant)) + " UNet (" + options.source + ", prefix '" + options.prefix + "')");
        if (!report) {
            return make_error(report.error().code, report.error().message);
        }
        model->eval();
        return model;
    });
}

}  // namespace engine::models
