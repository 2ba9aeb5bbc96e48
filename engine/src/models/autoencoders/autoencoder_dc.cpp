// Ref: huggingface/diffusers src/diffusers/models/autoencoders/autoencoder_dc.py AutoencoderDC
// Ref: huggingface/diffusers src/diffusers/models/attention_processor.py SanaMultiscaleLinearAttention
// Ref: huggingface/diffusers src/diffusers/models/transformers/sana_transformer.py GLUMBConv
// Ref: huggingface/diffusers src/diffusers/models/normalization.py RMSNorm
#include "models/autoencoders/autoencoder_dc.h"

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>

#include "core/engine_error.h"
#include "core/json.h"
#include "io/state_dict.h"
#include "kernels/ops.h"
#include "models/common/feed_forward.h"
#include "models/common/memory_format.h"
#include "models/common/module_utils.h"

namespace engine::models {

using core::EngineError;

// ---------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------
namespace {

using nlohmann::json;

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string join(const std::vector<int64_t>& v) {
    std::ostringstream os;
    os << "[";
    for (std::size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    os << "]";
    return os.str();
}

// Thrown inside from_json and turned into its Expected error.
struct ConfigError {
    ErrorCode code;
    std::string message;
};

[[noreturn]] void bad(const std::string& key, const std::string& what) {
    throw ConfigError{ErrorCode::ModelLoadFailed, "AutoencoderDC config: '" + key + "' " + what};
}
[[noreturn]] void unsupported(const std::string& message) {
    throw ConfigError{ErrorCode::UnsupportedModel, "AutoencoderDC config: " + message};
}

int64_t get_int(const json& j, const std::string& key, int64_t fallback) {
    if (!j.contains(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_number_integer()) bad(key, "must be an integer, got " + v.dump());
    return v.get<int64_t>();
}

bool get_bool(const json& j, const std::string& key, bool fallback) {
    if (!j.contains(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_boolean()) bad(key, "must be true or false, got " + v.dump());
    return v.get<bool>();
}

double get_number(const json& j, const std::string& key, double fallback) {
    if (!j.contains(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_number()) bad(key, "must be a number, got " + v.dump());
    return v.get<double>();
}

std::vector<int64_t> get_ints(const json& j, const std::string& key, std::vector<int64_t> fallback) {
    if (!j.contains(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_array()) bad(key, "must be a list of integers, got " + v.dump());
    std::vector<int64_t> out;
    for (const auto& e : v) {
        if (!e.is_number_integer()) bad(key, "must be a list of integers, got " + v.dump());
        out.push_back(e.get<int64_t>());
    }
    return out;
}

std::vector<std::vector<int64_t>> get_int_lists(const json& j, const std::string& key,
                                                std::vector<std::vector<int64_t>> fallback) {
    if (!j.contains(key)) return fallback;
    const json& v = j.at(key);
    if (!v.is_array()) bad(key, "must be a list of lists of kernel sizes, got " + v.dump());
    std::vector<std::vector<int64_t>> out;
    for (const auto& e : v) {
        if (!e.is_array()) bad(key, "must be a list of lists of kernel sizes, got " + v.dump());
        std::vector<int64_t> inner;
        for (const auto& k : e) {
            if (!k.is_number_integer()) bad(key, "must be a list of lists of kernel sizes, got " + v.dump());
            inner.push_back(k.get<int64_t>());
        }
        out.push_back(std::move(inner));
    }
    return out;
}

// A per-stage value given either once (a string, or null) or as a list with one entry per stage.
template <typename T, typename Parse>
std::vector<T> get_per_stage(const json& j, const std::string& key, std::size_t stages, std::vector<T> fallback,
                             Parse parse) {
    if (!j.contains(key)) {
        if (fallback.size() == 1) fallback.assign(stages, fallback[0]);
        return fallback;
    }
    const json& v = j.at(key);
    if (!v.is_array()) return std::vector<T>(stages, parse(v));
    if (v.size() != stages) {
        bad(key, "has " + std::to_string(v.size()) + " entries but the block_out_channels list has " +
                     std::to_string(stages) + " stages");
    }
    std::vector<T> out;
    for (const auto& e : v) out.push_back(parse(e));
    return out;
}

DCBlockType parse_block_type(const json& v, const std::string& key) {
    if (!v.is_string()) bad(key, "must name block types, got " + v.dump());
    const std::string s = v.get<std::string>();
    if (s == "ResBlock") return DCBlockType::ResBlock;
    if (s == "EfficientViTBlock") return DCBlockType::EfficientViTBlock;
    unsupported("block type '" + s + "' in '" + key +
                "' is not supported (Kinora runs ResBlock and EfficientViTBlock, as diffusers does)");
}

DCNormType parse_norm(const json& v, const std::string& key) {
    if (!v.is_string()) bad(key, "must name normalizations, got " + v.dump());
    const std::string s = v.get<std::string>();
    if (s == "rms_norm") return DCNormType::RmsNorm;
    if (s == "batch_norm") return DCNormType::BatchNorm;
    unsupported("normalization '" + s + "' in '" + key + "' is not supported (rms_norm, batch_norm)");
}

DCActivation parse_activation(const json& v, const std::string& key, bool allow_null) {
    if (v.is_null() && allow_null) return DCActivation::Identity;
    if (!v.is_string()) bad(key, "must name activation functions, got " + v.dump());
    const std::string s = lower(v.get<std::string>());  // diffusers get_activation lower-cases
    if (s == "silu" || s == "swish") return DCActivation::SiLU;
    if (s == "relu") return DCActivation::ReLU;
    if (s == "gelu") return DCActivation::GELU;
    if (s == "mish") return DCActivation::Mish;
    unsupported("activation '" + v.get<std::string>() + "' in '" + key +
                "' is not supported (silu, swish, relu, gelu, mish)");
}

const std::set<std::string>& known_keys() {
    static const std::set<std::string> keys = {
        "in_channels",
        "latent_channels",
        "attention_head_dim",
        "encoder_block_types",
        "decoder_block_types",
        "encoder_block_out_channels",
        "decoder_block_out_channels",
        "encoder_layers_per_block",
        "decoder_layers_per_block",
        "encoder_qkv_multiscales",
        "decoder_qkv_multiscales",
        "upsample_block_type",
        "downsample_block_type",
        "decoder_norm_types",
        "decoder_act_fns",
        "encoder_out_shortcut",
        "decoder_in_shortcut",
        "decoder_conv_act_fn",
        "scaling_factor",
    };
    return keys;
}

int64_t count_active_stages(const std::vector<int64_t>& layers) {
    // Stages that end (encoder) or begin (decoder) with a resampling block: i < n-1 with layers > 0.
    int64_t n = 0;
    for (std::size_t i = 0; i + 1 < layers.size(); ++i) n += layers[i] > 0 ? 1 : 0;
    return n;
}

}  // namespace

Expected<AutoencoderDCConfig> AutoencoderDCConfig::from_json(const nlohmann::json& j) {
    try {
        if (!j.is_object()) bad("config", "must be a JSON object");
        for (const auto& item : j.items()) {
            const std::string& key = item.key();
            if (!key.empty() && key[0] == '_') continue;  // _class_name, _diffusers_version, _name_or_path
            if (!known_keys().count(key)) {
                unsupported("unknown key '" + key + "' = " + item.value().dump() +
                            ": this AutoencoderDC variant may compute differently from the one Kinora implements "
                            "(diffusers' AutoencoderDC); update Kinora or use a supported DC-AE checkpoint");
            }
        }
        if (j.contains("_class_name")) {
            const json& cls = j.at("_class_name");
            if (!cls.is_string() || cls.get<std::string>() != "AutoencoderDC") {
                unsupported("_class_name is " + cls.dump() +
                            ", not \"AutoencoderDC\": this config belongs to another model");
            }
        }
        AutoencoderDCConfig c;
        c.in_channels = get_int(j, "in_channels", c.in_channels);
        c.latent_channels = get_int(j, "latent_channels", c.latent_channels);
        c.attention_head_dim = get_int(j, "attention_head_dim", c.attention_head_dim);
        c.encoder_block_out_channels = get_ints(j, "encoder_block_out_channels", c.encoder_block_out_channels);
        c.decoder_block_out_channels = get_ints(j, "decoder_block_out_channels", c.decoder_block_out_channels);
        const std::size_t ne = c.encoder_block_out_channels.size();
        const std::size_t nd = c.decoder_block_out_channels.size();
        c.encoder_layers_per_block = get_ints(j, "encoder_layers_per_block", c.encoder_layers_per_block);
        c.decoder_layers_per_block = get_ints(j, "decoder_layers_per_block", c.decoder_layers_per_block);
        c.encoder_qkv_multiscales = get_int_lists(j, "encoder_qkv_multiscales", c.encoder_qkv_multiscales);
        c.decoder_qkv_multiscales = get_int_lists(j, "decoder_qkv_multiscales", c.decoder_qkv_multiscales);
        c.encoder_block_types =
            get_per_stage<DCBlockType>(j, "encoder_block_types", ne, {DCBlockType::ResBlock},
                                       [](const json& v) { return parse_block_type(v, "encoder_block_types"); });
        c.decoder_block_types =
            get_per_stage<DCBlockType>(j, "decoder_block_types", nd, {DCBlockType::ResBlock},
                                       [](const json& v) { return parse_block_type(v, "decoder_block_types"); });
        c.decoder_norm_types =
            get_per_stage<DCNormType>(j, "decoder_norm_types", nd, {DCNormType::RmsNorm},
                                      [](const json& v) { return parse_norm(v, "decoder_norm_types"); });
        c.decoder_act_fns = get_per_stage<DCActivation>(
            j, "decoder_act_fns", nd, {DCActivation::SiLU},
            [](const json& v) { return parse_activation(v, "decoder_act_fns", /*allow_null=*/true); });
        if (j.contains("decoder_conv_act_fn")) {
            c.decoder_conv_act_fn = parse_activation(j.at("decoder_conv_act_fn"), "decoder_conv_act_fn", false);
        }
        if (j.contains("upsample_block_type")) {
            const json& v = j.at("upsample_block_type");
            if (!v.is_string()) bad("upsample_block_type", "must be a string, got " + v.dump());
            const std::string s = v.get<std::string>();
            if (s == "interpolate") {
                c.upsample_block_type = DCUpsampleType::Interpolate;
            } else if (s == "pixel_shuffle") {
                c.upsample_block_type = DCUpsampleType::PixelShuffle;
            } else {
                unsupported("upsample_block_type '" + s + "' is not supported (interpolate, pixel_shuffle)");
            }
        }
        if (j.contains("downsample_block_type")) {
            const json& v = j.at("downsample_block_type");
            if (!v.is_string()) bad("downsample_block_type", "must be a string, got " + v.dump());
            const std::string s = v.get<std::string>();
            if (s == "pixel_unshuffle") {
                c.downsample_block_type = DCDownsampleType::PixelUnshuffle;
            } else if (lower(s) == "conv") {  // the hub writes "Conv", the conversion script "conv"
                c.downsample_block_type = DCDownsampleType::Conv;
            } else {
                unsupported("downsample_block_type '" + s + "' is not supported (conv, pixel_unshuffle)");
            }
        }
        c.encoder_out_shortcut = get_bool(j, "encoder_out_shortcut", c.encoder_out_shortcut);
        c.decoder_in_shortcut = get_bool(j, "decoder_in_shortcut", c.decoder_in_shortcut);
        c.scaling_factor = get_number(j, "scaling_factor", c.scaling_factor);
        auto ok = c.validate();
        if (!ok) return Unexpected{ok.error()};
        return c;
    } catch (const ConfigError& e) {
        return make_error(e.code, e.message);
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::ModelLoadFailed, std::string("AutoencoderDC config: ") + e.what());
    }
}

Expected<void> AutoencoderDCConfig::validate() const {
    auto fail = [](const std::string& m) {
        return make_error(ErrorCode::ModelLoadFailed, "AutoencoderDC config is inconsistent: " + m);
    };
    if (in_channels <= 0 || latent_channels <= 0 || attention_head_dim <= 0) {
        return fail("in_channels, latent_channels and attention_head_dim must be positive");
    }
    if (!(scaling_factor > 0.0) || scaling_factor > 1e300) return fail("scaling_factor must be a positive number");
    struct Side {
        const char* name;
        const std::vector<int64_t>& channels;
        const std::vector<int64_t>& layers;
        const std::vector<std::vector<int64_t>>& multiscales;
        const std::vector<DCBlockType>& types;
    };
    const Side sides[2] = {
        {"encoder", encoder_block_out_channels, encoder_layers_per_block, encoder_qkv_multiscales, encoder_block_types},
        {"decoder", decoder_block_out_channels, decoder_layers_per_block, decoder_qkv_multiscales, decoder_block_types},
    };
    for (const Side& s : sides) {
        const std::string n = s.name;
        const std::size_t stages = s.channels.size();
        if (stages == 0) return fail(n + "_block_out_channels is empty");
        if (s.layers.size() != stages || s.multiscales.size() != stages || s.types.size() != stages) {
            return fail(n + "_block_out_channels, " + n + "_layers_per_block, " + n + "_qkv_multiscales and " + n +
                        "_block_types must all have one entry per stage (" + std::to_string(stages) + ")");
        }
        for (std::size_t i = 0; i < stages; ++i) {
            if (s.channels[i] <= 0 || s.layers[i] < 0) {
                return fail(n + " stage " + std::to_string(i) + " has non-positive channels or negative layers");
            }
            if (s.types[i] == DCBlockType::EfficientViTBlock && s.layers[i] > 0) {
                if (s.channels[i] < attention_head_dim) {
                    return fail(n + " stage " + std::to_string(i) + ": " + std::to_string(s.channels[i]) +
                                " channels is fewer than one attention head of " + std::to_string(attention_head_dim));
                }
                for (int64_t k : s.multiscales[i]) {
                    if (k <= 0 || k % 2 == 0) {
                        return fail(n + "_qkv_multiscales kernel sizes must be odd and positive, got " +
                                    join(s.multiscales[i]));
                    }
                }
            }
        }
        if (s.layers[0] == 0 && stages < 2) return fail(n + " stage 0 has no layers and there is no stage 1");
    }
    // Channel flow through the encoder (diffusers builds it without checks; a mismatch would fail at run time).
    {
        const auto& ch = encoder_block_out_channels;
        const auto& ly = encoder_layers_per_block;
        const std::size_t n = ch.size();
        const bool unshuffle = downsample_block_type == DCDownsampleType::PixelUnshuffle;
        int64_t cur = ly[0] > 0 ? ch[0] : ch[1];
        if (ly[0] == 0 && unshuffle && cur % 4 != 0)
            return fail("encoder conv_in pixel-unshuffle needs channels % 4 == 0");
        for (std::size_t i = 0; i < n; ++i) {
            if (ly[i] == 0) continue;
            if (cur != ch[i]) {
                return fail("encoder stage " + std::to_string(i) + " expects " + std::to_string(ch[i]) +
                            " channels but receives " + std::to_string(cur));
            }
            if (i + 1 < n) {
                if ((4 * ch[i]) % ch[i + 1] != 0 || (unshuffle && ch[i + 1] % 4 != 0)) {
                    return fail("encoder down block " + std::to_string(ch[i]) + " -> " + std::to_string(ch[i + 1]) +
                                " channels cannot average its pixel-unshuffle shortcut");
                }
                cur = ch[i + 1];
            }
        }
        if (cur != ch[n - 1]) return fail("encoder conv_out expects " + std::to_string(ch[n - 1]) + " channels");
        if (encoder_out_shortcut && ch[n - 1] % latent_channels != 0) {
            return fail("encoder_out_shortcut needs the last encoder channels (" + std::to_string(ch[n - 1]) +
                        ") to be a multiple of latent_channels (" + std::to_string(latent_channels) + ")");
        }
    }
    {
        const auto& ch = decoder_block_out_channels;
        const auto& ly = decoder_layers_per_block;
        const std::size_t n = ch.size();
        int64_t cur = ch[n - 1];
        if (decoder_in_shortcut && ch[n - 1] % latent_channels != 0) {
            return fail("decoder_in_shortcut needs the last decoder channels (" + std::to_string(ch[n - 1]) +
                        ") to be a multiple of latent_channels (" + std::to_string(latent_channels) + ")");
        }
        for (std::size_t r = 0; r < n; ++r) {
            const std::size_t i = n - 1 - r;
            if (ly[i] == 0) continue;
            if (i + 1 < n) {
                if (cur != ch[i + 1]) {
                    return fail("decoder up block of stage " + std::to_string(i) + " expects " +
                                std::to_string(ch[i + 1]) + " channels but receives " + std::to_string(cur));
                }
                if ((4 * ch[i]) % ch[i + 1] != 0) {
                    return fail("decoder up block " + std::to_string(ch[i + 1]) + " -> " + std::to_string(ch[i]) +
                                " channels cannot repeat its shortcut evenly");
                }
            } else if (cur != ch[i]) {
                return fail("decoder stage " + std::to_string(i) + " channel mismatch");
            }
            cur = ch[i];
        }
        const int64_t out_ch = ly[0] > 0 ? ch[0] : ch[1];
        if (cur != out_ch) return fail("decoder norm_out expects " + std::to_string(out_ch) + " channels");
    }
    return {};
}

int64_t AutoencoderDCConfig::spatial_compression_ratio() const {
    return int64_t{1} << (encoder_block_out_channels.size() - 1);
}

int64_t AutoencoderDCConfig::encoder_downsample_factor() const {
    const int64_t first = encoder_layers_per_block.at(0) == 0 ? 2 : 1;
    return first << count_active_stages(encoder_layers_per_block);
}

int64_t AutoencoderDCConfig::decoder_upsample_factor() const {
    const int64_t last = decoder_layers_per_block.at(0) == 0 ? 2 : 1;
    return last << count_active_stages(decoder_layers_per_block);
}

// ---------------------------------------------------------------------------------------------------
// LiteMLA attention math
// ---------------------------------------------------------------------------------------------------

at::Tensor dc_relu_linear_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    // kernels::relu_linear_attention works on [B, H, N, D]; ours are [B, G, D, N]: transposed views.
    at::Tensor out = kernels::relu_linear_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2),
                                                    eps);  // [B, G, N, Dv]
    return out.transpose(-1, -2);                          // [B, G, Dv, N]
}

at::Tensor dc_relu_quadratic_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double eps) {
    TORCH_CHECK(q.dim() == 4 && q.sizes() == k.sizes() && v.dim() == 4, "dc_relu_quadratic_attention: bad shapes ",
                q.sizes(), ", ", k.sizes(), ", ", v.sizes());
    at::Tensor scores = at::matmul(at::relu(k).transpose(-1, -2), at::relu(q));  // [B, G, N, N]
    scores = scores.to(at::kFloat);
    scores = scores / (scores.sum(2, /*keepdim=*/true) + eps);
    return at::matmul(v, scores.to(v.scalar_type()));  // [B, G, Dv, N]
}

// ---------------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------------
namespace detail {
namespace {

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, bool bias, int64_t groups = 1) {
    return torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(bias).groups(groups));
}

int64_t conv_reach(const torch::nn::Conv2d& conv) {  // pixels a stride-1 "same" conv reads on each side
    return (*conv->options.kernel_size())[0] / 2;
}

int64_t ceil_half(int64_t x) { return (x + 1) / 2; }

torch::nn::Linear make_linear(int64_t in, int64_t out) {
    return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(false));
}

at::Tensor activate(const at::Tensor& x, DCActivation a) {
    switch (a) {
        case DCActivation::Identity:
            return x;
        case DCActivation::SiLU:
            return at::silu(x);
        case DCActivation::ReLU:
            return at::relu(x);
        case DCActivation::GELU:
            return at::gelu(x);
        case DCActivation::Mish:
            return at::mish(x);
    }
    return x;
}

// A [B, C, H, W] view whose memory is [B, H, W, C] (channels-last), on any device.
bool is_channels_last_strided(const at::Tensor& x) {
    return x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
}

// Whether a per-pixel layer runs on the [B, H, W, C] view of x: channels-last maps on CUDA, where the fused kernels
// read them in place. (On the CPU the LiteMLA output is channels-last-strided too, but there the NCHW ops are the
// measured path, and the golden tests pin it.)
bool runs_nhwc(const at::Tensor& x) {
    return x.is_cuda() && is_channels_last_strided(x);
}

// A bias-free 1x1 convolution with `groups` groups on a channels-last map, as one strided batched GEMM over the
// groups: group g multiplies the pixels' channel block g by its own weight block, out[t, g, :] = x[t, g, :] · W_gᵀ.
// cuDNN runs a grouped 1x1 convolution on an NHWC map as a channel slice and a GEMM per group (160 kernels for one of
// the DC-AE's multiscale projections); the batched GEMM reads and writes the maps where they lie.
//   x: [B, C, H, W] channels-last; weight: [Cout, C / groups, 1, 1] → [B, Cout, H, W], channels-last.
at::Tensor grouped_pointwise_conv_nhwc(const at::Tensor& x, const at::Tensor& weight, int64_t groups) {
    const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), cout = weight.size(0);
    const int64_t cin_g = c / groups, cout_g = cout / groups, tokens = b * h * w;
    const at::Tensor xg = x.permute({0, 2, 3, 1}).reshape({tokens, groups, cin_g}).transpose(0, 1);  // [G, T, cin_g]
    const at::Tensor wg = weight.reshape({groups, cout_g, cin_g}).transpose(1, 2);               // [G, cin_g, cout_g]
    at::Tensor out = at::empty({b, h, w, cout}, x.options());
    at::Tensor out_groups = out.view({tokens, groups, cout_g}).transpose(0, 1);  // [G, T, cout_g], strided
    at::bmm_out(out_groups, xg, wg);
    return out.permute({0, 3, 1, 2});
}

// Per-channel normalization of an NCHW tensor, registered as diffusers names it: RMSNorm over the
// channels (diffusers moves them last; here the mean runs over dim 1) with weight + bias, eps 1e-5, or
// BatchNorm2d in inference mode (weight, bias, running_mean, running_var, num_batches_tracked).
class ChannelNormImpl : public torch::nn::Module {
public:
    ChannelNormImpl(DCNormType type, int64_t channels, double eps = 1e-5) : type_(type), eps_(eps) {
        weight = register_parameter("weight", torch::ones({channels}));
        bias = register_parameter("bias", torch::zeros({channels}));
        if (type == DCNormType::BatchNorm) {
            running_mean = register_buffer("running_mean", torch::zeros({channels}));
            running_var = register_buffer("running_var", torch::ones({channels}));
            register_buffer("num_batches_tracked", torch::zeros({}, torch::kLong));
        }
    }

    at::Tensor forward(const at::Tensor& x) {  // [B, C, H, W]
        if (type_ == DCNormType::BatchNorm) {
            return at::batch_norm(x, weight, bias, running_mean, running_var, /*training=*/false, 0.1, eps_,
                                  /*cudnn_enabled=*/true);
        }
        if (runs_nhwc(x)) {
            // Channels-last on CUDA: the channels are the rows of kernels::rms_norm as the map lies in memory.
            return forward_nhwc(x.movedim(1, -1)).movedim(-1, 1);
        }
        // diffusers RMSNorm: statistics in float32; x * rsqrt promotes to float32; back to a half
        // weight's dtype before the affine part.
        at::Tensor variance = x.to(at::kFloat).pow(2).mean(1, /*keepdim=*/true);  // [B, 1, H, W]
        at::Tensor h = x * at::rsqrt(variance + eps_);
        if (weight.scalar_type() == at::kHalf || weight.scalar_type() == at::kBFloat16) {
            h = h.to(weight.scalar_type());
        }
        return h * weight.view({1, -1, 1, 1}) + bias.view({1, -1, 1, 1});
    }

    // The same on [..., C] (channels last in the shape): kernels::rms_norm, whose CPU reference is diffusers' ops;
    // plus `residual` ([..., C] like x) when given, in the same pass on CUDA (the blocks' x + norm(h)).
    at::Tensor forward_nhwc(const at::Tensor& x, const at::Tensor& residual = {}) {
        if (type_ == DCNormType::BatchNorm) {
            const at::Tensor y = forward(x.movedim(-1, 1)).movedim(1, -1);
            return residual.defined() ? y + residual : y;
        }
        return kernels::rms_norm(x, weight, bias, eps_, std::nullopt, residual);
    }

    at::Tensor weight, bias, running_mean, running_var;

private:
    DCNormType type_;
    double eps_;
};
TORCH_MODULE(ChannelNorm);

// A layer of a stage: ResBlock, EfficientViTBlock, DCDownBlock2d or DCUpBlock2d.
class DCLayer : public torch::nn::Module {
public:
    virtual at::Tensor forward(const at::Tensor& x) = 0;
    // For a layer whose output pixels depend only on a neighbourhood of input pixels (at the same or a
    // coarser grid): how many input pixels of context on each side an output window with `output_halo`
    // pixels of context needs, assuming window edges on the input grid. nullopt for layers that sum over
    // the whole map (the LiteMLA attention), and for the encoder's down blocks (never tiled).
    virtual std::optional<int64_t> input_halo(int64_t /*output_halo*/) const { return std::nullopt; }
    // How much the layer enlarges H and W.
    virtual int64_t upscale() const { return 1; }
};

// ResBlock: x + norm(conv2(act(conv1(x)))).
class ResBlock : public DCLayer {
public:
    ResBlock(int64_t channels, DCNormType norm_type, DCActivation act) : act_(act) {
        conv1 = register_module("conv1", make_conv(channels, channels, 3, 1, true));
        conv2 = register_module("conv2", make_conv(channels, channels, 3, 1, false));
        norm = register_module("norm", ChannelNorm(norm_type, channels));
    }
    at::Tensor forward(const at::Tensor& x) override {  // [B, C, H, W]
        if (act_ == DCActivation::SiLU && is_channels_last_strided(x)) {
            return forward_nhwc(x);
        }
        at::Tensor h = activate(conv1->forward(x), act_);
        h = norm->forward(conv2->forward(h));
        return h + x;
    }
    // Two convolutions; the norm (per pixel over channels, or batch norm with running statistics), the
    // activation and the residual are per pixel.
    std::optional<int64_t> input_halo(int64_t h) const override { return h + conv_reach(conv1) + conv_reach(conv2); }

private:
    // The same on a channels-last map, with two full-resolution passes fewer: conv1 runs without its bias, which
    // joins the SiLU in one pass (kernels::bias_silu), and the residual joins the norm's pass.
    // One map variable, reassigned: each full-resolution intermediate is freed as soon as the next exists (the peak
    // of a 1024 px decode is here).
    at::Tensor forward_nhwc(const at::Tensor& x) {
        const int64_t pad = conv_reach(conv1);
        at::Tensor h = at::conv2d(x, conv1->weight, at::Tensor(), {1, 1}, {pad, pad})
                           .contiguous(at::MemoryFormat::ChannelsLast);
        h = kernels::bias_silu(h.permute({0, 2, 3, 1}), conv1->bias).permute({0, 3, 1, 2});
        h = conv2->forward(h).contiguous(at::MemoryFormat::ChannelsLast);
        return norm->forward_nhwc(h.permute({0, 2, 3, 1}), x.permute({0, 2, 3, 1})).permute({0, 3, 1, 2});
    }

    DCActivation act_;
    torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
    ChannelNorm norm{nullptr};
};

// SanaMultiscaleAttentionProjection: depthwise k x k conv, then a 1x1 conv grouped per head of q, k, v.
class MultiscaleProjectionImpl : public torch::nn::Module {
public:
    MultiscaleProjectionImpl(int64_t inner, int64_t heads, int64_t kernel) {
        const int64_t c = 3 * inner;
        proj_in = register_module("proj_in", make_conv(c, c, kernel, 1, false, /*groups=*/c));
        proj_out = register_module("proj_out", make_conv(c, c, 1, 1, false, /*groups=*/3 * heads));
    }
    at::Tensor forward(const at::Tensor& x) {
        const at::Tensor h = proj_in->forward(x);
        if (is_channels_last_strided(h)) {
            return grouped_pointwise_conv_nhwc(h, proj_out->weight, proj_out->options.groups());
        }
        return proj_out->forward(h);
    }

private:
    torch::nn::Conv2d proj_in{nullptr}, proj_out{nullptr};
};
TORCH_MODULE(MultiscaleProjection);

// SanaMultiscaleLinearAttention with SanaMultiscaleAttnProcessor2_0 (residual_connection=True, mult=1).
class LiteMLAImpl : public torch::nn::Module {
public:
    LiteMLAImpl(int64_t channels, int64_t head_dim, const std::vector<int64_t>& kernel_sizes, DCNormType norm_type)
        : head_dim_(head_dim) {
        const int64_t heads = channels / head_dim;
        const int64_t inner = heads * head_dim;
        to_q = register_module("to_q", make_linear(channels, inner));
        to_k = register_module("to_k", make_linear(channels, inner));
        to_v = register_module("to_v", make_linear(channels, inner));
        to_qkv_multiscale = register_module("to_qkv_multiscale", torch::nn::ModuleList());
        for (int64_t k : kernel_sizes) {
            auto p = MultiscaleProjection(inner, heads, k);
            to_qkv_multiscale->push_back(p);
            projections_.push_back(p);
        }
        to_out =
            register_module("to_out", make_linear(inner * (1 + static_cast<int64_t>(kernel_sizes.size())), channels));
        norm_out = register_module("norm_out", ChannelNorm(norm_type, channels));
    }

    at::Tensor forward(const at::Tensor& x) {  // [B, C, H, W]
        const int64_t b = x.size(0), height = x.size(2), width = x.size(3);
        const auto original_dtype = x.scalar_type();
        // diffusers uses the quadratic form only for feature maps of at most head_dim pixels.
        const bool use_linear = height * width > head_dim_;

        at::Tensor hs = x.movedim(1, -1);  // [B, H, W, C]
        // q, k and v in one GEMM: the three weights stacked (a small copy) instead of three GEMMs and a concatenation.
        at::Tensor qkv = at::linear(hs, at::cat({to_q->weight, to_k->weight, to_v->weight}, 0)).movedim(-1, 1);
        // qkv: [B, 3I, H, W]
        std::vector<at::Tensor> scales{qkv};
        for (auto& p : projections_) scales.push_back(p->forward(qkv));
        hs = at::cat(scales, 1);  // [B, 3I(1+S), H, W]
        // The quirk of the original EfficientViT layout: the head groups are consecutive 3*head_dim
        // channel blocks of the concatenated [q | k | v] tensor, each split into its own q, k, v.
        hs = hs.reshape({b, -1, 3 * head_dim_, height * width});  // [B, G, 3D, N]
        auto parts = hs.chunk(3, 2);                              // each [B, G, D, N]
        at::Tensor out;
        if (use_linear) {
            // diffusers upcasts q, k, v to float32 before the ReLU; the attention does the same inside.
            out = dc_relu_linear_attention(parts[0], parts[1], parts[2], eps_).to(original_dtype);
        } else {
            out = dc_relu_quadratic_attention(parts[0], parts[1], parts[2], eps_);
        }
        out = out.reshape({b, -1, height, width});                 // [B, I(1+S), H, W]
        out = to_out->forward(out.movedim(1, -1)).movedim(-1, 1);  // [B, C, H, W]
        if (is_channels_last_strided(out) && is_channels_last_strided(x)) {
            // x + norm(out) in one pass on the maps as they lie.
            return norm_out->forward_nhwc(out.permute({0, 2, 3, 1}), x.permute({0, 2, 3, 1})).permute({0, 3, 1, 2});
        }
        out = norm_out->forward(out);
        return out + x;
    }

private:
    int64_t head_dim_;
    double eps_ = 1e-15;
    torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr}, to_out{nullptr};
    torch::nn::ModuleList to_qkv_multiscale{nullptr};
    std::vector<MultiscaleProjection> projections_;
    ChannelNorm norm_out{nullptr};
};
TORCH_MODULE(LiteMLA);

// GLUMBConv (expand 4, rms_norm, residual): 1x1 up to 8C, SiLU, depthwise 3x3, gated halves, 1x1 down.
class GLUMBConvImpl : public torch::nn::Module {
public:
    explicit GLUMBConvImpl(int64_t channels) {
        const int64_t hidden = 4 * channels;
        conv_inverted = register_module("conv_inverted", make_conv(channels, 2 * hidden, 1, 1, true));
        conv_depth = register_module("conv_depth", make_conv(2 * hidden, 2 * hidden, 3, 1, true, 2 * hidden));
        conv_point = register_module("conv_point", make_conv(hidden, channels, 1, 1, false));
        norm = register_module("norm", ChannelNorm(DCNormType::RmsNorm, channels));
    }
    at::Tensor forward(const at::Tensor& x) {  // [B, C, H, W]
        if (runs_nhwc(x)) {
            // Channels-last on CUDA: the token layout [B, H, W, C] as it lies in memory (models::glumbconv_nhwc),
            // the RMSNorm in place: no NCHW round trip.
            const at::Tensor xt = x.permute({0, 2, 3, 1});
            at::Tensor h = glumbconv_nhwc(xt, conv_inverted->weight, conv_inverted->bias, conv_depth->weight,
                                          conv_depth->bias, conv_point->weight, conv_point->bias, nullptr, nullptr,
                                          depth_taps_.get(conv_depth->weight, conv_depth->bias));
            h = norm->forward_nhwc(h, xt);
            return h.permute({0, 3, 1, 2});  // [B, C, H, W], channels-last strides
        }
        at::Tensor h = at::silu(conv_inverted->forward(x));  // [B, 8C, H, W]
        // conv_depth, then value · SiLU(gate) of its two channel halves (one fused kernel on CUDA): [B, 4C, H, W]
        h = kernels::depthwise_conv3x3_silu_gate(h, conv_depth->weight, conv_depth->bias);
        h = norm->forward(conv_point->forward(h));
        return h + x;
    }

private:
    torch::nn::Conv2d conv_inverted{nullptr}, conv_depth{nullptr}, conv_point{nullptr};
    ChannelNorm norm{nullptr};
    DepthwiseTapsCache depth_taps_;
};
TORCH_MODULE(GLUMBConv);

class EfficientViTBlock : public DCLayer {
public:
    EfficientViTBlock(int64_t channels, int64_t head_dim, const std::vector<int64_t>& kernel_sizes,
                      DCNormType norm_type) {
        attn = register_module("attn", LiteMLA(channels, head_dim, kernel_sizes, norm_type));
        conv_out = register_module("conv_out", GLUMBConv(channels));
    }
    at::Tensor forward(const at::Tensor& x) override { return conv_out->forward(attn->forward(x)); }

private:
    LiteMLA attn{nullptr};
    GLUMBConv conv_out{nullptr};
};

// DCDownBlock2d: stride-2 conv (or conv + pixel unshuffle), plus the channel-averaged pixel-unshuffle shortcut.
class DCDownBlock2d : public DCLayer {
public:
    DCDownBlock2d(int64_t in, int64_t out, bool pixel_unshuffle, bool shortcut)
        : pixel_unshuffle_(pixel_unshuffle), shortcut_(shortcut), group_size_(in * 4 / out) {
        conv =
            register_module("conv", make_conv(in, pixel_unshuffle ? out / 4 : out, 3, pixel_unshuffle ? 1 : 2, true));
    }
    at::Tensor forward(const at::Tensor& h) override {  // [B, Cin, H, W] -> [B, Cout, H/2, W/2]
        at::Tensor x = conv->forward(h);
        if (pixel_unshuffle_) x = at::pixel_unshuffle(x, 2);
        if (!shortcut_) return x;
        at::Tensor y = at::pixel_unshuffle(h, 2);  // [B, 4Cin, H/2, W/2]
        y = y.reshape({y.size(0), -1, group_size_, y.size(2), y.size(3)}).mean(2);
        return x + y;
    }

private:
    bool pixel_unshuffle_, shortcut_;
    int64_t group_size_;
    torch::nn::Conv2d conv{nullptr};
};

// DCUpBlock2d: nearest x2 + conv (or conv + pixel shuffle), plus the channel-repeated pixel-shuffle shortcut.
class DCUpBlock2d : public DCLayer {
public:
    DCUpBlock2d(int64_t in, int64_t out, bool interpolate, bool shortcut)
        : interpolate_(interpolate), shortcut_(shortcut), repeats_(out * 4 / in) {
        conv = register_module("conv", make_conv(in, interpolate ? out : out * 4, 3, 1, true));
    }
    at::Tensor forward(const at::Tensor& h) override {  // [B, Cin, H, W] -> [B, Cout, 2H, 2W]
        if (interpolate_ && is_channels_last_strided(h) && (!shortcut_ || repeats_ == 1 || repeats_ == 2 ||
                                                             repeats_ == 4)) {
            return forward_nhwc(h);
        }
        at::Tensor x;
        if (interpolate_) {
            x = conv->forward(torch::nn::functional::interpolate(h, torch::nn::functional::InterpolateFuncOptions()
                                                                        .scale_factor(std::vector<double>{2.0, 2.0})
                                                                        .mode(torch::kNearest)));
        } else {
            x = at::pixel_shuffle(conv->forward(h), 2);
        }
        if (!shortcut_) return x;
        at::Tensor y = at::pixel_shuffle(h.repeat_interleave(repeats_, 1), 2);
        return x + y;
    }
    // Output pixel (2i + a) comes from input pixel i (nearest, pixel shuffle and the shortcut alike), so
    // h output pixels of context need ceil(h/2) input pixels; the conv reads its reach more pixels on
    // the grid it runs on (after the nearest upsampling, or before the pixel shuffle).
    std::optional<int64_t> input_halo(int64_t h) const override {
        return interpolate_ ? ceil_half(h + conv_reach(conv)) : ceil_half(h) + conv_reach(conv);
    }
    int64_t upscale() const override { return 2; }

private:
    // The same on a channels-last map, with the full-resolution passes cut to the two that must be there (the
    // upsampled input, the conv): the nearest upsampling is a broadcast copy, and the shortcut
    // y[b, c, 2i + a, 2j + e] = h[b, (4c + 2a + e) / r, i, j] (r = repeats_, what the pixel shuffle of the repeated
    // channels holds) is a broadcast view of h added into the conv's output in place, with the conv's bias folded into
    // it: no repeated or shuffled copy of h, no separate bias pass.
    at::Tensor forward_nhwc(const at::Tensor& h) {
        const int64_t b = h.size(0), c = h.size(1), height = h.size(2), width = h.size(3);
        const at::Tensor ht = h.permute({0, 2, 3, 1});  // [B, H, W, C], contiguous
        const at::Tensor up = ht.view({b, height, 1, width, 1, c})
                                  .expand({b, height, 2, width, 2, c})
                                  .reshape({b, 2 * height, 2 * width, c})
                                  .permute({0, 3, 1, 2});  // nearest x2, channels-last
        const int64_t pad = conv_reach(conv);
        at::Tensor x = at::conv2d(up, conv->weight, shortcut_ ? at::Tensor() : conv->bias, {1, 1}, {pad, pad})
                           .contiguous(at::MemoryFormat::ChannelsLast);  // [B, Cout, 2H, 2W]
        if (!shortcut_) return x;
        const int64_t co = x.size(1);
        at::Tensor y;  // broadcastable to [B, H, 2 (a), W, 2 (e), Cout]
        if (repeats_ == 4) {
            y = ht.view({b, height, 1, width, 1, co});
        } else if (repeats_ == 2) {
            y = ht.view({b, height, width, co, 2}).permute({0, 1, 4, 2, 3}).unsqueeze(4);
        } else {
            y = ht.view({b, height, width, co, 2, 2}).permute({0, 1, 4, 2, 5, 3});
        }
        if (conv->bias.defined()) y = y + conv->bias;
        x.permute({0, 2, 3, 1}).view({b, height, 2, width, 2, co}).add_(y);
        return x;
    }

    bool interpolate_, shortcut_;
    int64_t repeats_;
    torch::nn::Conv2d conv{nullptr};
};

std::shared_ptr<DCLayer> make_block(DCBlockType type, int64_t channels, int64_t head_dim, DCNormType norm,
                                    DCActivation act, const std::vector<int64_t>& kernel_sizes) {
    if (type == DCBlockType::ResBlock) return std::make_shared<ResBlock>(channels, norm, act);
    return std::make_shared<EfficientViTBlock>(channels, head_dim, kernel_sizes, norm);
}

// A stage's layers: a ModuleList for the names ("down_blocks.3.1.attn..."), the typed pointers to run them.
struct Stage {
    torch::nn::ModuleList list;
    std::vector<std::shared_ptr<DCLayer>> layers;
    void add(const std::shared_ptr<DCLayer>& l) {
        list->push_back(l);
        layers.push_back(l);
    }
    at::Tensor forward(at::Tensor x) const {
        for (const auto& l : layers) x = l->forward(x);
        return x;
    }
    bool is_local() const {
        for (const auto& l : layers) {
            if (!l->input_halo(0)) return false;
        }
        return true;
    }
};

}  // namespace

class DCEncoderImpl : public torch::nn::Module {
public:
    explicit DCEncoderImpl(const AutoencoderDCConfig& c) : out_shortcut_(c.encoder_out_shortcut) {
        const auto& ch = c.encoder_block_out_channels;
        const auto& ly = c.encoder_layers_per_block;
        const std::size_t n = ch.size();
        const bool unshuffle = c.downsample_block_type == DCDownsampleType::PixelUnshuffle;
        if (ly[0] > 0) {
            conv_in_ = register_module("conv_in", make_conv(c.in_channels, ch[0], 3, 1, true));
        } else {
            conv_in_block_ = register_module("conv_in", std::make_shared<DCDownBlock2d>(c.in_channels, ch[1], unshuffle,
                                                                                        /*shortcut=*/false));
        }
        down_blocks_ = register_module("down_blocks", torch::nn::ModuleList());
        for (std::size_t i = 0; i < n; ++i) {
            Stage s;
            for (int64_t l = 0; l < ly[i]; ++l) {
                s.add(make_block(c.encoder_block_types[i], ch[i], c.attention_head_dim, DCNormType::RmsNorm,
                                 DCActivation::SiLU, c.encoder_qkv_multiscales[i]));
            }
            if (i + 1 < n && ly[i] > 0) s.add(std::make_shared<DCDownBlock2d>(ch[i], ch[i + 1], unshuffle, true));
            down_blocks_->push_back(s.list);
            stages_.push_back(std::move(s));
        }
        conv_out_ = register_module("conv_out", make_conv(ch[n - 1], c.latent_channels, 3, 1, true));
        group_ = ch[n - 1] / c.latent_channels;
    }

    at::Tensor forward(const at::Tensor& image) {  // [B, in, H, W] -> [B, latent, H/f, W/f]
        at::Tensor h = conv_in_ ? conv_in_->forward(image) : conv_in_block_->forward(image);
        for (const auto& s : stages_) h = s.forward(h);
        at::Tensor out = conv_out_->forward(h);
        if (out_shortcut_) {
            out = out + h.reshape({h.size(0), -1, group_, h.size(2), h.size(3)}).mean(2);
        }
        return out;
    }

private:
    bool out_shortcut_;
    int64_t group_ = 1;
    torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
    std::shared_ptr<DCDownBlock2d> conv_in_block_;
    torch::nn::ModuleList down_blocks_{nullptr};
    std::vector<Stage> stages_;
};

class DCDecoderImpl : public torch::nn::Module {
public:
    explicit DCDecoderImpl(const AutoencoderDCConfig& c)
        : in_shortcut_(c.decoder_in_shortcut), conv_act_(c.decoder_conv_act_fn) {
        const auto& ch = c.decoder_block_out_channels;
        const auto& ly = c.decoder_layers_per_block;
        const std::size_t n = ch.size();
        const bool interpolate = c.upsample_block_type == DCUpsampleType::Interpolate;
        conv_in_ = register_module("conv_in", make_conv(c.latent_channels, ch[n - 1], 3, 1, true));
        repeats_ = ch[n - 1] / c.latent_channels;
        up_blocks_ = register_module("up_blocks", torch::nn::ModuleList());
        for (std::size_t i = 0; i < n; ++i) {  // up_blocks[i] is stage i; forward runs them from n-1 down to 0
            Stage s;
            if (i + 1 < n && ly[i] > 0) s.add(std::make_shared<DCUpBlock2d>(ch[i + 1], ch[i], interpolate, true));
            for (int64_t l = 0; l < ly[i]; ++l) {
                s.add(make_block(c.decoder_block_types[i], ch[i], c.attention_head_dim, c.decoder_norm_types[i],
                                 c.decoder_act_fns[i], c.decoder_qkv_multiscales[i]));
            }
            up_blocks_->push_back(s.list);
            stages_.push_back(std::move(s));
        }
        while (split_ < n && stages_[split_].is_local()) ++split_;
        const int64_t channels = ly[0] > 0 ? ch[0] : ch[1];
        norm_out_ = register_module("norm_out", ChannelNorm(DCNormType::RmsNorm, channels));
        if (ly[0] > 0) {
            conv_out_ = register_module("conv_out", make_conv(channels, c.in_channels, 3, 1, true));
        } else {
            conv_out_block_ = register_module(
                "conv_out", std::make_shared<DCUpBlock2d>(channels, c.in_channels, interpolate, /*shortcut=*/false));
        }
    }

    at::Tensor forward(const at::Tensor& z) {  // [B, latent, h, w] -> [B, in, h*f, w*f]
        return forward_local(forward_global(z));
    }

    // The decoder in two parts, for exact tiling. Stages run from n-1 down to 0; the local part is the
    // longest run of final stages (0 .. split-1) made only of layers with a finite receptive field,
    // plus the output head; the global part (conv_in, the stem shortcut, stages n-1 .. split) holds
    // every LiteMLA attention.
    at::Tensor forward_global(const at::Tensor& z) {  // [B, latent, h, w] -> [B, C_split, h*g, w*g]
        at::Tensor h = conv_in_->forward(z);          // [B, C_last, h, w]
        if (in_shortcut_) h = h + z.repeat_interleave(repeats_, 1);
        for (std::size_t i = stages_.size(); i-- > split_;) h = stages_[i].forward(h);
        return h;
    }
    at::Tensor forward_local(at::Tensor h) {  // [B, C_split, H, W] -> [B, in, H*s, W*s]
        for (std::size_t i = split_; i-- > 0;) h = stages_[i].forward(h);
        h = activate(norm_out_->forward(h), conv_act_);  // per pixel
        return conv_out_ ? conv_out_->forward(h) : conv_out_block_->forward(h);
    }

    DCTiledDecodePlan plan() const {
        DCTiledDecodePlan p;
        p.split_stage = static_cast<int64_t>(split_);
        // Receptive field of the local part, walked back from the output.
        int64_t halo = conv_out_ ? conv_reach(conv_out_) : *conv_out_block_->input_halo(0);
        int64_t local_scale = conv_out_ ? 1 : conv_out_block_->upscale();
        for (std::size_t i = 0; i < split_; ++i) {
            const auto& layers = stages_[i].layers;
            for (auto it = layers.rbegin(); it != layers.rend(); ++it) {
                halo = *(*it)->input_halo(halo);
                local_scale *= (*it)->upscale();
            }
        }
        int64_t global_scale = 1;
        for (std::size_t i = split_; i < stages_.size(); ++i) {
            for (const auto& l : stages_[i].layers) global_scale *= l->upscale();
        }
        p.halo = halo;
        p.local_scale = local_scale;
        p.global_scale = global_scale;
        return p;
    }

private:
    bool in_shortcut_;
    DCActivation conv_act_;
    int64_t repeats_ = 1;
    std::size_t split_ = 0;  // stages [0, split_) and the head are local
    torch::nn::Conv2d conv_in_{nullptr}, conv_out_{nullptr};
    std::shared_ptr<DCUpBlock2d> conv_out_block_;
    torch::nn::ModuleList up_blocks_{nullptr};
    std::vector<Stage> stages_;
    ChannelNorm norm_out_{nullptr};
};

// ---------------------------------------------------------------------------------------------------
// Tiling
// ---------------------------------------------------------------------------------------------------

std::vector<int64_t> split_evenly(int64_t length, int64_t max_part) {
    TORCH_CHECK(length >= 1 && max_part >= 1, "split_evenly: bad length ", length, " / part ", max_part);
    const int64_t parts = (length + max_part - 1) / max_part;
    std::vector<int64_t> bounds;
    for (int64_t i = 0; i <= parts; ++i) bounds.push_back(i * length / parts);
    return bounds;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// AutoencoderDC
// ---------------------------------------------------------------------------------------------------

AutoencoderDCImpl::AutoencoderDCImpl(const AutoencoderDCConfig& cfg) : config(cfg) {
    core::unwrap(config.validate());
    encoder_ = register_module("encoder", std::make_shared<detail::DCEncoderImpl>(config));
    decoder_ = register_module("decoder", std::make_shared<detail::DCDecoderImpl>(config));
    eval();
}

at::ScalarType AutoencoderDCImpl::dtype() const {
    return decoder_->parameters().front().scalar_type();
}

c10::Device AutoencoderDCImpl::device() const {
    return decoder_->parameters().front().device();
}

void AutoencoderDCImpl::to_dtype_device(at::ScalarType dtype, c10::Device device) {
    convert_floating_tensors(*this, dtype, device);
}

namespace {

void require_nchw(const at::Tensor& x, int64_t channels, const std::string& what, const std::string& hint) {
    require_nchw_input(x, channels, "AutoencoderDC", what, hint);
}

}  // namespace

at::Tensor AutoencoderDCImpl::encode(const at::Tensor& image) {
    require_nchw(image, config.in_channels, "image", "an RGB image for Sana's DC-AE");
    const int64_t f = config.encoder_downsample_factor();
    core::require(image.size(2) % f == 0 && image.size(3) % f == 0, ErrorCode::InvalidRequest,
                  "AutoencoderDC: the image is " + std::to_string(image.size(3)) + "x" + std::to_string(image.size(2)) +
                      "; width and height must be multiples of " + std::to_string(f) + " (resize or crop it first)");
    torch::NoGradGuard no_grad;
    return encoder_->forward(channels_last_if(image.to(device(), dtype()), channels_last_)).contiguous();
}

void AutoencoderDCImpl::set_channels_last(bool on) {
    set_conv_weights_channels_last(*this, on);
    channels_last_ = on;
}

at::Tensor AutoencoderDCImpl::decode(const at::Tensor& latent) {
    require_nchw(latent, config.latent_channels, "latent", "is this latent from a model with a different autoencoder?");
    torch::NoGradGuard no_grad;
    return decoder_->forward(channels_last_if(latent.to(device(), dtype()), channels_last_)).contiguous();
}

DCTiledDecodePlan AutoencoderDCImpl::tiled_decode_plan() const { return decoder_->plan(); }

at::Tensor AutoencoderDCImpl::decode_global(const at::Tensor& latent) {
    require_nchw(latent, config.latent_channels, "latent", "is this latent from a model with a different autoencoder?");
    torch::NoGradGuard no_grad;
    // An intermediate for decode_local: its layout is left as decode() would pass it on.
    return decoder_->forward_global(channels_last_if(latent.to(device(), dtype()), channels_last_));
}

at::Tensor AutoencoderDCImpl::decode_local(const at::Tensor& base) {
    const auto plan = decoder_->plan();
    const auto& ch = config.decoder_block_out_channels;
    const int64_t channels = static_cast<std::size_t>(plan.split_stage) < ch.size() ? ch[plan.split_stage]
                                                                                   : ch.back();
    require_nchw(base, channels, "decoder feature map", "the output of decode_global");
    torch::NoGradGuard no_grad;
    return decoder_->forward_local(channels_last_if(base.to(device(), dtype()), channels_last_)).contiguous();
}

at::Tensor AutoencoderDCImpl::decode_tiled(const at::Tensor& latent, int64_t tile_latent_size,
                                           const std::function<void(int64_t, int64_t)>& on_tile) {
    return decode_tiled_with_halo(latent, tile_latent_size, decoder_->plan().halo, on_tile);
}

at::Tensor AutoencoderDCImpl::decode_tiled_with_halo(const at::Tensor& latent, int64_t tile_latent_size, int64_t halo,
                                                     const std::function<void(int64_t, int64_t)>& on_tile) {
    require_nchw(latent, config.latent_channels, "latent", "is this latent from a model with a different autoencoder?");
    core::require(tile_latent_size >= 1, ErrorCode::InvalidRequest,
                  "AutoencoderDC: the decode tile size must be at least 1 latent pixel, got " +
                      std::to_string(tile_latent_size));
    core::require(halo >= 0, ErrorCode::InvalidRequest,
                  "AutoencoderDC: the tile halo cannot be negative, got " + std::to_string(halo));
    torch::NoGradGuard no_grad;
    const DCTiledDecodePlan plan = decoder_->plan();
    const int64_t g = plan.global_scale, s = plan.local_scale;
    // The global part on the whole latent: [B, C_split, h*g, w*g].
    const at::Tensor base = decoder_->forward_global(channels_last_if(latent.to(device(), dtype()), channels_last_));
    const int64_t height = base.size(2), width = base.size(3);
    // Non-overlapping cores (whole latent pixels), each decoded from a window that adds `halo` base pixels
    // of context on every side that has a neighbour; only the core of each decoded window is kept.
    const auto ys = detail::split_evenly(latent.size(2), tile_latent_size);
    const auto xs = detail::split_evenly(latent.size(3), tile_latent_size);
    const auto total = static_cast<int64_t>((ys.size() - 1) * (xs.size() - 1));
    at::Tensor out;  // [B, in, H*s, W*s], allocated with the first tile
    int64_t done = 0;
    for (std::size_t iy = 0; iy + 1 < ys.size(); ++iy) {
        const int64_t y0 = ys[iy] * g, y1 = ys[iy + 1] * g;
        const int64_t wy0 = std::max<int64_t>(0, y0 - halo), wy1 = std::min(height, y1 + halo);
        for (std::size_t ix = 0; ix + 1 < xs.size(); ++ix) {
            const int64_t x0 = xs[ix] * g, x1 = xs[ix + 1] * g;
            const int64_t wx0 = std::max<int64_t>(0, x0 - halo), wx1 = std::min(width, x1 + halo);
            at::Tensor window = base.slice(2, wy0, wy1).slice(3, wx0, wx1);
            if (total > 1) {
                window =
                    window.contiguous(channels_last_ ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous);
            }
            at::Tensor piece = decoder_->forward_local(window);  // [B, in, (wy1-wy0)*s, (wx1-wx0)*s]
            if (total == 1) {  // the whole map in one window: exactly decode()
                if (on_tile) on_tile(1, 1);
                return piece.contiguous();
            }
            if (!out.defined()) {
                out = at::empty({base.size(0), piece.size(1), height * s, width * s}, piece.options());
            }
            out.slice(2, y0 * s, y1 * s)
                .slice(3, x0 * s, x1 * s)
                .copy_(piece.slice(2, (y0 - wy0) * s, (y1 - wy0) * s).slice(3, (x0 - wx0) * s, (x1 - wx0) * s));
            ++done;
            if (on_tile) on_tile(done, total);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------

Expected<AutoencoderDC> load_autoencoder_dc(const AutoencoderDCConfig& config, const io::TensorMap& weights,
                                            at::ScalarType dtype, c10::Device device, const std::string& what) {
    try {
        auto ok = config.validate();
        if (!ok) return Unexpected{ok.error()};
        AutoencoderDC model(config);
        // A checkpoint sharing no key with the model is another model's (or not a diffusers VAE at all).
        std::size_t expected = 0, present = 0;
        for (const auto& item : model->named_parameters(true)) {
            ++expected;
            present += weights.count(item.key());
        }
        if (present == 0) {
            std::string first = weights.empty() ? std::string("(no tensors)") : weights.begin()->first;
            return make_error(ErrorCode::ModelLoadFailed,
                              what + ": none of the " + std::to_string(expected) +
                                  " AutoencoderDC tensors (encoder.*, decoder.*) are in these weights (first key: '" +
                                  first +
                                  "'); they belong to another model. Point the VAE at the "
                                  "pipeline's vae/ folder.");
        }
        model->to_dtype_device(dtype, device);
        auto report = io::load_state_dict(*model, weights, io::StateDictOptions{}, what);
        if (!report) return Unexpected{report.error()};
        return model;
    } catch (const EngineError& e) {
        return make_error(e.code(), e.what());
    }
}

Expected<AutoencoderDC> load_autoencoder_dc(const std::string& dir, at::ScalarType dtype, c10::Device device) {
    const std::string config_path = (std::filesystem::path(dir) / "config.json").string();
    auto j = core::read_json_file(config_path);
    if (!j) return Unexpected{j.error()};
    auto config = AutoencoderDCConfig::from_json(*j);
    if (!config) {
        return make_error(config.error().code, config.error().message + " (" + config_path + ")");
    }
    auto weights = io::load_safetensors_folder(dir, {"diffusion_pytorch_model"});
    if (!weights) return Unexpected{weights.error()};
    return load_autoencoder_dc(*config, *weights, dtype, device, "AutoencoderDC (" + dir + ")");
}

}  // namespace engine::models
