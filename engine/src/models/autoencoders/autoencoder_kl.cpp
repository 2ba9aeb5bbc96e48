// Ref: AILab-CVC/VideoCrafter@11bcd76 lvdm/models/autoencoder.py AutoencoderKL
// Ref: AILab-CVC/VideoCrafter@11bcd76 lvdm/modules/networks/ae_modules.py Encoder, Decoder, ResnetBlock, AttnBlock,
//      Downsample, Upsample
// Ref: AILab-CVC/VideoCrafter@11bcd76 lvdm/distributions.py DiagonalGaussianDistribution
// Ref: Doubiiu/DynamiCrafter@c453369 lvdm/models/ddpm3d.py LatentDiffusion.encode_first_stage / decode_core
#include "models/autoencoders/autoencoder_kl.h"

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <sstream>

#include "core/engine_error.h"
#include "core/torch_compat.h"
#include "io/state_dict.h"
#include "kernels/ops.h"
#include "models/common/memory_format.h"
#include "models/common/module_utils.h"

namespace engine::models {

using core::EngineError;

// ---------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------
namespace {

using nlohmann::json;

struct ConfigError {
    ErrorCode code;
    std::string message;
};

[[noreturn]] void bad(const std::string& key, const std::string& what) {
    throw ConfigError{ErrorCode::ModelLoadFailed, "AutoencoderKL config: '" + key + "' " + what};
}
[[noreturn]] void unsupported(const std::string& message) {
    throw ConfigError{ErrorCode::UnsupportedModel, "AutoencoderKL config: " + message};
}

const json& require_key(const json& j, const std::string& key, const std::string& where) {
    if (!j.contains(key)) {
        bad(key, "is missing from " + where + " (the LVDM Encoder/Decoder have no default for it)");
    }
    return j.at(key);
}

int64_t as_int(const json& v, const std::string& key) {
    if (!v.is_number_integer()) bad(key, "must be an integer, got " + v.dump());
    return v.get<int64_t>();
}

bool as_bool(const json& v, const std::string& key) {
    if (!v.is_boolean()) bad(key, "must be true or false, got " + v.dump());
    return v.get<bool>();
}

std::vector<int64_t> as_ints(const json& v, const std::string& key) {
    if (!v.is_array()) bad(key, "must be a list of integers, got " + v.dump());
    std::vector<int64_t> out;
    for (const auto& e : v) {
        if (!e.is_number_integer()) bad(key, "must be a list of integers, got " + v.dump());
        out.push_back(e.get<int64_t>());
    }
    return out;
}

std::string join(const std::vector<int64_t>& v) {
    std::ostringstream os;
    os << "[";
    for (std::size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
    os << "]";
    return os.str();
}

void parse_ddconfig(const json& dd, AutoencoderKLConfig& c) {
    if (!dd.is_object()) bad("ddconfig", "must be a mapping, got " + dd.dump());
    static const std::set<std::string> known = {
        "double_z", "z_channels",      "resolution",       "in_channels", "out_ch",           "ch",
        "ch_mult",  "num_res_blocks",  "attn_resolutions", "dropout",     "resamp_with_conv", "give_pre_end",
        "tanh_out", "use_linear_attn", "attn_type"};
    for (const auto& item : dd.items()) {
        if (!known.count(item.key())) {
            unsupported("unknown ddconfig key '" + item.key() + "' = " + item.value().dump() +
                        ": this autoencoder may compute differently from LVDM's AutoencoderKL, which Kinora "
                        "implements");
        }
    }
    const std::string where = "ddconfig";
    c.ch = as_int(require_key(dd, "ch", where), "ch");
    c.out_ch = as_int(require_key(dd, "out_ch", where), "out_ch");
    c.num_res_blocks = as_int(require_key(dd, "num_res_blocks", where), "num_res_blocks");
    c.attn_resolutions = as_ints(require_key(dd, "attn_resolutions", where), "attn_resolutions");
    c.in_channels = as_int(require_key(dd, "in_channels", where), "in_channels");
    c.resolution = as_int(require_key(dd, "resolution", where), "resolution");
    c.z_channels = as_int(require_key(dd, "z_channels", where), "z_channels");
    if (dd.contains("ch_mult")) c.ch_mult = as_ints(dd.at("ch_mult"), "ch_mult");
    if (dd.contains("double_z")) c.double_z = as_bool(dd.at("double_z"), "double_z");
    if (dd.contains("resamp_with_conv")) c.resamp_with_conv = as_bool(dd.at("resamp_with_conv"), "resamp_with_conv");
    if (dd.contains("give_pre_end")) c.give_pre_end = as_bool(dd.at("give_pre_end"), "give_pre_end");
    if (dd.contains("tanh_out")) c.tanh_out = as_bool(dd.at("tanh_out"), "tanh_out");
    if (dd.contains("dropout")) {
        // Dropout is inactive in inference; only its type is checked.
        if (!dd.at("dropout").is_number()) bad("dropout", "must be a number, got " + dd.at("dropout").dump());
    }
    if (dd.contains("use_linear_attn") && as_bool(dd.at("use_linear_attn"), "use_linear_attn")) {
        unsupported("use_linear_attn: true (LinAttnBlock) is not supported; LVDM's models use vanilla attention");
    }
    if (dd.contains("attn_type")) {
        const json& v = dd.at("attn_type");
        if (!v.is_string()) bad("attn_type", "must be a string, got " + v.dump());
        if (v.get<std::string>() != "vanilla") {
            unsupported("attn_type '" + v.get<std::string>() +
                        "' is not supported; Kinora implements the 'vanilla' AttnBlock LVDM's models use");
        }
    }
}

}  // namespace

Expected<AutoencoderKLConfig> AutoencoderKLConfig::from_ddconfig(const nlohmann::json& ddconfig, int64_t embed_dim) {
    try {
        AutoencoderKLConfig c;
        c.embed_dim = embed_dim;
        parse_ddconfig(ddconfig, c);
        auto ok = c.validate();
        if (!ok) return Unexpected{ok.error()};
        return c;
    } catch (const ConfigError& e) {
        return make_error(e.code, e.message);
    }
}

Expected<AutoencoderKLConfig> AutoencoderKLConfig::from_json(const nlohmann::json& j) {
    try {
        if (!j.is_object()) bad("first_stage_config", "must be a mapping, got " + j.dump());
        const json* params = &j;
        if (j.contains("target") || (j.contains("params") && !j.contains("ddconfig"))) {
            // The whole {target, params} node.
            if (j.contains("target")) {
                const json& t = j.at("target");
                if (!t.is_string()) bad("target", "must be a string, got " + t.dump());
                if (t.get<std::string>() != "lvdm.models.autoencoder.AutoencoderKL") {
                    unsupported("first stage '" + t.get<std::string>() +
                                "' is not supported; Kinora runs lvdm.models.autoencoder.AutoencoderKL");
                }
            }
            if (!j.contains("params")) bad("params", "is missing from first_stage_config");
            params = &j.at("params");
            if (!params->is_object()) bad("params", "must be a mapping, got " + params->dump());
        }
        // Keys of AutoencoderKL.__init__ that do not change inference.
        static const std::set<std::string> ignored = {"lossconfig", "monitor", "ckpt_path", "ignore_keys", "image_key",
                                                      "test",       "logdir",  "test_args", "input_dim"};
        for (const auto& item : params->items()) {
            const std::string& key = item.key();
            if (key == "embed_dim" || key == "ddconfig" || ignored.count(key)) continue;
            if (key == "colorize_nlabels") {
                if (item.value().is_null()) continue;
                unsupported("colorize_nlabels (a segmentation-map autoencoder) is not supported");
            }
            unsupported("unknown key '" + key + "' = " + item.value().dump() +
                        " in first_stage_config.params: this autoencoder may differ from LVDM's AutoencoderKL");
        }
        AutoencoderKLConfig c;
        c.embed_dim = as_int(require_key(*params, "embed_dim", "first_stage_config.params"), "embed_dim");
        parse_ddconfig(require_key(*params, "ddconfig", "first_stage_config.params"), c);
        auto ok = c.validate();
        if (!ok) return Unexpected{ok.error()};
        return c;
    } catch (const ConfigError& e) {
        return make_error(e.code, e.message);
    }
}

Expected<void> AutoencoderKLConfig::validate() const {
    auto fail = [](const std::string& m) {
        return make_error(ErrorCode::ModelLoadFailed, "AutoencoderKL config: " + m);
    };
    if (!double_z) {
        return make_error(ErrorCode::UnsupportedModel,
                          "AutoencoderKL config: double_z must be true (LVDM's AutoencoderKL asserts it)");
    }
    if (embed_dim < 1 || z_channels < 1 || in_channels < 1 || out_ch < 1) {
        return fail("embed_dim, z_channels, in_channels and out_ch must be positive");
    }
    if (ch < 32 || ch % 32 != 0) {
        return fail("ch = " + std::to_string(ch) + " must be a positive multiple of 32 (GroupNorm(32) on every level)");
    }
    if (ch_mult.empty()) return fail("ch_mult must not be empty");
    for (int64_t m : ch_mult) {
        if (m < 1) return fail("ch_mult " + join(ch_mult) + " must hold positive integers");
    }
    if (num_res_blocks < 1) return fail("num_res_blocks must be at least 1");
    if (resolution < 1) return fail("resolution must be positive");
    if (ch_mult.size() > 16) return fail("ch_mult " + join(ch_mult) + " has too many levels");
    return {};
}

int64_t AutoencoderKLConfig::downsample_factor() const {
    return int64_t{1} << (ch_mult.size() - 1);
}

// ---------------------------------------------------------------------------------------------------
// Modules
// ---------------------------------------------------------------------------------------------------
namespace detail {
namespace {

// Parameters are allocated uninitialised with `o` (dtype, device): loading fills them.
PlainGroupNorm make_norm(int64_t channels, const at::TensorOptions& o) {
    // ae_modules.Normalize: GroupNorm(32, C, eps=1e-6, affine=True).
    return PlainGroupNorm(32, channels, 1e-6, o);
}

PlainConv make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding,
                    const at::TensorOptions& o) {
    return PlainConv(in, out, conv2d_geometry(kernel, stride, padding, /*bias=*/true), o);
}

// swish(norm(x)) as LVDM computes it under autocast: GroupNorm and the activation in float32, one rounding to x's
// dtype at the end (kernels::group_norm; on CUDA one fused pass for channels-last maps).
at::Tensor norm_swish(PlainGroupNorm& norm, const at::Tensor& x) {
    return kernels::group_norm(x, norm->num_groups, norm->weight, norm->bias, norm->eps, /*silu=*/true);
}

}  // namespace

// ResnetBlock with temb_channels = 0 (the autoencoder has no timestep) and conv_shortcut = False.
class AEResnetBlockImpl : public torch::nn::Module {
public:
    AEResnetBlockImpl(int64_t in_channels, int64_t out_channels, const at::TensorOptions& o)
        : norm1_(make_norm(in_channels, o)),
          conv1_(make_conv(in_channels, out_channels, 3, 1, 1, o)),
          norm2_(make_norm(out_channels, o)),
          conv2_(make_conv(out_channels, out_channels, 3, 1, 1, o)) {
        register_module("norm1", norm1_);
        register_module("conv1", conv1_);
        register_module("norm2", norm2_);
        register_module("conv2", conv2_);
        if (in_channels != out_channels) {
            nin_shortcut_ = register_module("nin_shortcut", make_conv(in_channels, out_channels, 1, 1, 0, o));
        }
    }

    at::Tensor forward(const at::Tensor& x) {
        at::Tensor h = conv1_(norm_swish(norm1_, x));
        h = conv2_->forward_without_bias(norm_swish(norm2_, h));  // dropout: identity in inference
        // conv2's bias, then the shortcut: one pass on CUDA for channels-last maps.
        return kernels::add_channel_bias(h, conv2_->bias, nin_shortcut_ ? nin_shortcut_(x) : x);
    }

private:
    PlainGroupNorm norm1_;
    PlainConv conv1_;
    PlainGroupNorm norm2_;
    PlainConv conv2_;
    PlainConv nin_shortcut_{nullptr};
};
TORCH_MODULE(AEResnetBlock);

// Single-head softmax self-attention over the H·W positions with 1x1-conv projections.
class AEAttnBlockImpl : public torch::nn::Module {
public:
    AEAttnBlockImpl(int64_t channels, const at::TensorOptions& o)
        : norm_(make_norm(channels, o)),
          q_(make_conv(channels, channels, 1, 1, 0, o)),
          k_(make_conv(channels, channels, 1, 1, 0, o)),
          v_(make_conv(channels, channels, 1, 1, 0, o)),
          proj_out_(make_conv(channels, channels, 1, 1, 0, o)) {
        register_module("norm", norm_);
        register_module("q", q_);
        register_module("k", k_);
        register_module("v", v_);
        register_module("proj_out", proj_out_);
    }

    at::Tensor forward(const at::Tensor& x) {
        const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
        // Normalize (nn.GroupNorm): float32 under autocast, rounded once.
        at::Tensor hn = kernels::group_norm(x, norm_->num_groups, norm_->weight, norm_->bias, norm_->eps, false);
        // [B, C, H, W] → [B, 1, H·W, C]: one head of width C; scale C^-1/2 (SDPA's default).
        auto tokens = [&](const at::Tensor& t) { return t.reshape({b, c, h * w}).transpose(1, 2).unsqueeze(1); };
        at::Tensor out = core::scaled_dot_product_attention(tokens(q_(hn)), tokens(k_(hn)), tokens(v_(hn)));
        out = out.squeeze(1).transpose(1, 2).reshape({b, c, h, w});  // [B, C, H, W]
        return x + proj_out_(out);
    }

private:
    PlainGroupNorm norm_;
    PlainConv q_, k_, v_, proj_out_;
};
TORCH_MODULE(AEAttnBlock);

// Downsample(with_conv): pad (0, 1, 0, 1) then a 3x3 stride-2 conv without padding; else 2x2 average pooling.
class AEDownsampleImpl : public torch::nn::Module {
public:
    AEDownsampleImpl(int64_t channels, bool with_conv, const at::TensorOptions& o) {
        if (with_conv) conv_ = register_module("conv", make_conv(channels, channels, 3, 2, 0, o));
    }
    at::Tensor forward(const at::Tensor& x) {
        if (conv_) return conv_(at::constant_pad_nd(x, {0, 1, 0, 1}, 0.0));
        return at::avg_pool2d(x, {2, 2}, {2, 2});
    }

private:
    PlainConv conv_{nullptr};
};
TORCH_MODULE(AEDownsample);

// Upsample: nearest x2, then (with_conv) a 3x3 conv.
class AEUpsampleImpl : public torch::nn::Module {
public:
    AEUpsampleImpl(int64_t channels, bool with_conv, const at::TensorOptions& o) {
        if (with_conv) conv_ = register_module("conv", make_conv(channels, channels, 3, 1, 1, o));
    }
    at::Tensor forward(const at::Tensor& x) {
        const std::vector<int64_t> size = {x.size(2) * 2, x.size(3) * 2};
        at::Tensor up = at::upsample_nearest2d(x, at::IntArrayRef(size));  // [B, C, 2H, 2W]
        return conv_ ? conv_(up) : up;
    }

private:
    PlainConv conv_{nullptr};
};
TORCH_MODULE(AEUpsample);

// One resolution level: `block` (ResnetBlocks), `attn` (AttnBlocks after them, possibly none) and the
// optional resampler ("downsample" in the encoder, "upsample" in the decoder).
class AELevelImpl : public torch::nn::Module {
public:
    explicit AELevelImpl(const at::TensorOptions& o) : options_(o) {
        register_module("block", block_);
        register_module("attn", attn_);
    }
    void add_block(int64_t in, int64_t out, bool with_attn) {
        block_->push_back(AEResnetBlock(in, out, options_));
        if (with_attn) attn_->push_back(AEAttnBlock(out, options_));
    }
    void set_downsample(int64_t channels, bool with_conv) {
        downsample_ = register_module("downsample", AEDownsample(channels, with_conv, options_));
    }
    void set_upsample(int64_t channels, bool with_conv) {
        upsample_ = register_module("upsample", AEUpsample(channels, with_conv, options_));
    }
    // The blocks (each followed by its AttnBlock when the level has them).
    at::Tensor blocks(at::Tensor h) {
        const bool with_attn = !attn_->is_empty();
        for (std::size_t i = 0; i < block_->size(); ++i) {
            h = block_[i]->as<AEResnetBlock>()->forward(h);
            if (with_attn) h = attn_[i]->as<AEAttnBlock>()->forward(h);
        }
        return h;
    }
    at::Tensor resample(const at::Tensor& h) {
        if (downsample_) return downsample_(h);
        if (upsample_) return upsample_(h);
        return h;
    }

private:
    at::TensorOptions options_;
    torch::nn::ModuleList block_;
    torch::nn::ModuleList attn_;
    AEDownsample downsample_{nullptr};
    AEUpsample upsample_{nullptr};
};
TORCH_MODULE(AELevel);

// mid.block_1 → mid.attn_1 → mid.block_2 (kept even when attn_resolutions is empty).
class AEMidImpl : public torch::nn::Module {
public:
    AEMidImpl(int64_t channels, const at::TensorOptions& o)
        : block_1_(AEResnetBlock(channels, channels, o)),
          attn_1_(AEAttnBlock(channels, o)),
          block_2_(AEResnetBlock(channels, channels, o)) {
        register_module("block_1", block_1_);
        register_module("attn_1", attn_1_);
        register_module("block_2", block_2_);
    }
    at::Tensor forward(const at::Tensor& x) { return block_2_(attn_1_(block_1_(x))); }

private:
    AEResnetBlock block_1_;
    AEAttnBlock attn_1_;
    AEResnetBlock block_2_;
};
TORCH_MODULE(AEMid);

bool has_attention(const AutoencoderKLConfig& c, int64_t res) {
    return std::find(c.attn_resolutions.begin(), c.attn_resolutions.end(), res) != c.attn_resolutions.end();
}

class AEEncoderImpl : public torch::nn::Module {
public:
    AEEncoderImpl(const AutoencoderKLConfig& c, const at::TensorOptions& o) {
        const int64_t n = static_cast<int64_t>(c.ch_mult.size());
        conv_in_ = register_module("conv_in", make_conv(c.in_channels, c.ch, 3, 1, 1, o));
        int64_t res = c.resolution;
        int64_t block_in = c.ch;
        for (int64_t level = 0; level < n; ++level) {
            block_in = c.ch * (level == 0 ? 1 : c.ch_mult[level - 1]);
            const int64_t block_out = c.ch * c.ch_mult[level];
            AELevel l(o);
            for (int64_t i = 0; i < c.num_res_blocks; ++i) {
                l->add_block(block_in, block_out, has_attention(c, res));
                block_in = block_out;
            }
            if (level != n - 1) {
                l->set_downsample(block_in, c.resamp_with_conv);
                res /= 2;
            }
            down_->push_back(l);
        }
        register_module("down", down_);
        mid_ = register_module("mid", AEMid(block_in, o));
        norm_out_ = register_module("norm_out", make_norm(block_in, o));
        conv_out_ = register_module("conv_out", make_conv(block_in, 2 * c.z_channels, 3, 1, 1, o));
    }

    at::Tensor forward(const at::Tensor& x) {
        at::Tensor h = conv_in_(x);  // [B, ch, H, W]
        for (std::size_t level = 0; level < down_->size(); ++level) {
            auto l = down_[level]->as<AELevel>();
            h = l->resample(l->blocks(h));
        }
        h = mid_(h);                            // [B, ch·ch_mult[-1], H/f, W/f]
        return conv_out_(norm_swish(norm_out_, h));  // [B, 2·z_channels, H/f, W/f]
    }

private:
    PlainConv conv_in_{nullptr};
    torch::nn::ModuleList down_;
    AEMid mid_{nullptr};
    PlainGroupNorm norm_out_{nullptr};
    PlainConv conv_out_{nullptr};
};

class AEDecoderImpl : public torch::nn::Module {
public:
    AEDecoderImpl(const AutoencoderKLConfig& c, const at::TensorOptions& o)
        : give_pre_end_(c.give_pre_end), tanh_out_(c.tanh_out) {
        const int64_t n = static_cast<int64_t>(c.ch_mult.size());
        int64_t block_in = c.ch * c.ch_mult[n - 1];
        int64_t res = c.resolution >> (n - 1);
        conv_in_ = register_module("conv_in", make_conv(c.z_channels, block_in, 3, 1, 1, o));
        mid_ = register_module("mid", AEMid(block_in, o));
        // LVDM builds the levels from the lowest resolution up and prepends each, so up[i] is level i.
        std::vector<AELevel> levels(static_cast<std::size_t>(n), AELevel(nullptr));
        for (int64_t level = n - 1; level >= 0; --level) {
            const int64_t block_out = c.ch * c.ch_mult[level];
            AELevel l(o);
            for (int64_t i = 0; i < c.num_res_blocks + 1; ++i) {
                l->add_block(block_in, block_out, has_attention(c, res));
                block_in = block_out;
            }
            if (level != 0) {
                l->set_upsample(block_in, c.resamp_with_conv);
                res *= 2;
            }
            levels[static_cast<std::size_t>(level)] = l;
        }
        for (auto& l : levels) up_->push_back(l);
        register_module("up", up_);
        norm_out_ = register_module("norm_out", make_norm(block_in, o));
        conv_out_ = register_module("conv_out", make_conv(block_in, c.out_ch, 3, 1, 1, o));
    }

    at::Tensor forward(const at::Tensor& z) {
        at::Tensor h = mid_(conv_in_(z));  // [B, ch·ch_mult[-1], h, w]
        for (int64_t level = static_cast<int64_t>(up_->size()) - 1; level >= 0; --level) {
            auto l = up_[static_cast<std::size_t>(level)]->as<AELevel>();
            h = l->resample(l->blocks(h));
        }
        if (give_pre_end_) return h;
        h = conv_out_(norm_swish(norm_out_, h));  // [B, out_ch, h·f, w·f]
        return tanh_out_ ? at::tanh(h) : h;
    }

private:
    bool give_pre_end_;
    bool tanh_out_;
    PlainConv conv_in_{nullptr};
    AEMid mid_{nullptr};
    torch::nn::ModuleList up_;
    PlainGroupNorm norm_out_{nullptr};
    PlainConv conv_out_{nullptr};
};

}  // namespace detail

// ---------------------------------------------------------------------------------------------------
// AutoencoderKL
// ---------------------------------------------------------------------------------------------------
AutoencoderKLImpl::AutoencoderKLImpl(const AutoencoderKLConfig& cfg, const at::TensorOptions& options) : config(cfg) {
    core::unwrap(config.validate());
    encoder_ = register_module("encoder", std::make_shared<detail::AEEncoderImpl>(config, options));
    decoder_ = register_module("decoder", std::make_shared<detail::AEDecoderImpl>(config, options));
    quant_conv_ = register_module("quant_conv",
                                  detail::make_conv(2 * config.z_channels, 2 * config.embed_dim, 1, 1, 0, options));
    post_quant_conv_ =
        register_module("post_quant_conv", detail::make_conv(config.embed_dim, config.z_channels, 1, 1, 0, options));
}

at::ScalarType AutoencoderKLImpl::dtype() const {
    return quant_conv_->weight.scalar_type();
}

c10::Device AutoencoderKLImpl::device() const {
    return quant_conv_->weight.device();
}

void AutoencoderKLImpl::to_dtype_device(at::ScalarType dtype, c10::Device device) {
    convert_floating_tensors(*this, dtype, device);
}

namespace {

void require_nchw(const at::Tensor& x, int64_t channels, const std::string& what, const std::string& hint) {
    require_nchw_input(x, channels, "AutoencoderKL", what, hint);
}

}  // namespace

DiagonalGaussian AutoencoderKLImpl::encode(const at::Tensor& image) {
    require_nchw(image, config.in_channels, "image", "an RGB image in [-1, 1]");
    const int64_t f = config.downsample_factor();
    core::require(image.size(2) % f == 0 && image.size(3) % f == 0, ErrorCode::InvalidRequest,
                  "AutoencoderKL: image height and width must be multiples of " + std::to_string(f) + ", got " +
                      std::to_string(image.size(2)) + "x" + std::to_string(image.size(3)));
    at::Tensor moments = quant_conv_(encoder_->forward(channels_last_if(image.to(device(), dtype()), channels_last_)))
                             .contiguous();  // [B, 2·embed_dim, h, w]
    auto parts = moments.chunk(2, 1);
    DiagonalGaussian posterior;
    posterior.mean = parts[0];                       // [B, embed_dim, h, w]
    posterior.logvar = parts[1].clamp(-30.0, 20.0);  // [B, embed_dim, h, w]
    posterior.std = at::exp(0.5 * posterior.logvar);
    return posterior;
}

at::Tensor AutoencoderKLImpl::decode(const at::Tensor& latent) {
    require_nchw(latent, config.embed_dim, "latent", "a VideoCrafter/DynamiCrafter latent, divided by scale_factor");
    return decoder_->forward(post_quant_conv_(channels_last_if(latent.to(device(), dtype()), channels_last_)))
        .contiguous();
}

void AutoencoderKLImpl::set_channels_last(bool on) {
    set_conv_weights_channels_last(*this, on);
    channels_last_ = on;
}

at::Tensor DiagonalGaussian::sample(const at::Tensor& noise) const {
    core::require(noise.defined() && noise.sizes() == mean.sizes(), ErrorCode::InvalidRequest,
                  "AutoencoderKL: posterior noise must have the latent's shape " + c10::str(mean.sizes()) +
                      (noise.defined() ? ", got " + c10::str(noise.sizes()) : std::string(", got none")));
    return mean + std * noise.to(mean.options());
}

at::Tensor DiagonalGaussian::sample(std::optional<at::Generator> generator) const {
    // LVDM: torch.randn(self.mean.shape) — float32, CPU, then .to(device).
    const auto options = at::TensorOptions().dtype(at::kFloat).device(at::kCPU);
    at::Tensor noise = generator ? at::randn(mean.sizes(), *generator, options) : at::randn(mean.sizes(), options);
    return sample(noise);
}

// ---------------------------------------------------------------------------------------------------
// Video helpers
// ---------------------------------------------------------------------------------------------------
namespace {

void require_video(const at::Tensor& x, int64_t channels, const std::string& what) {
    core::require(x.defined() && x.dim() == 5, ErrorCode::InvalidRequest,
                  "AutoencoderKL: the " + what + " must be a [B, " + std::to_string(channels) + ", F, H, W] tensor" +
                      (x.defined() ? ", got " + c10::str(x.sizes()) : std::string(", got an undefined tensor")));
    core::require(x.size(1) == channels, ErrorCode::InvalidRequest,
                  "AutoencoderKL: the " + what + " has " + std::to_string(x.size(1)) + " channels, expected " +
                      std::to_string(channels));
    core::require(x.numel() > 0, ErrorCode::InvalidRequest,
                  "AutoencoderKL: the " + what + " is empty: " + c10::str(x.sizes()));
}

// [B, C, F, H, W] → [(B·F), C, H, W] with frame index b·F + f (LVDM's 'b c t h w -> (b t) c h w').
at::Tensor fold_frames(const at::Tensor& x) {
    return x.permute({0, 2, 1, 3, 4}).reshape({x.size(0) * x.size(2), x.size(1), x.size(3), x.size(4)});
}

// [(B·F), C, H, W] → [B, C, F, H, W].
at::Tensor unfold_frames(const at::Tensor& x, int64_t b, int64_t f) {
    return x.reshape({b, f, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4}).contiguous();
}

template <typename Fn>
at::Tensor map_frames(const at::Tensor& frames, const VideoCodingOptions& options, const Fn& fn) {
    core::require(
        options.frames_per_call >= 0, ErrorCode::InvalidRequest,
        "AutoencoderKL: frames_per_call must be 0 (all) or positive, got " + std::to_string(options.frames_per_call));
    const int64_t total = frames.size(0);
    const int64_t step = options.frames_per_call == 0 ? total : std::min(options.frames_per_call, total);
    std::vector<at::Tensor> outputs;
    outputs.reserve(static_cast<std::size_t>((total + step - 1) / step));
    for (int64_t start = 0; start < total; start += step) {
        const int64_t end = std::min(start + step, total);
        outputs.push_back(fn(frames.slice(0, start, end)));
        if (options.on_frames) options.on_frames(end, total);
    }
    return outputs.size() == 1 ? outputs[0] : at::cat(outputs, 0);
}

}  // namespace

at::Tensor decode_video(AutoencoderKLImpl& ae, const at::Tensor& latent, const VideoCodingOptions& options) {
    require_video(latent, ae.config.embed_dim, "video latent");
    const int64_t b = latent.size(0), f = latent.size(2);
    at::Tensor frames = fold_frames(latent);  // [(B·F), embed_dim, h, w]
    at::Tensor out = map_frames(frames, options, [&](const at::Tensor& chunk) { return ae.decode(chunk); });
    return unfold_frames(out, b, f);  // [B, out_ch, F, h·f, w·f]
}

at::Tensor encode_video(AutoencoderKLImpl& ae, const at::Tensor& video, LatentChoice choice,
                        const VideoCodingOptions& options, std::optional<at::Generator> generator) {
    require_video(video, ae.config.in_channels, "video");
    const int64_t b = video.size(0), f = video.size(2);
    at::Tensor frames = fold_frames(video);  // [(B·F), in_channels, H, W]
    at::Tensor out = map_frames(frames, options, [&](const at::Tensor& chunk) {
        DiagonalGaussian posterior = ae.encode(chunk);
        return choice == LatentChoice::Sample ? posterior.sample(generator) : posterior.mean;
    });
    return unfold_frames(out, b, f);  // [B, embed_dim, F, H/f, W/f]
}

// ---------------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------------
Expected<AutoencoderKL> load_autoencoder_kl(const AutoencoderKLConfig& config, const io::TensorMap& weights,
                                            at::ScalarType dtype, c10::Device device, const std::string& prefix,
                                            const std::string& what) {
    try {
        auto ok = config.validate();
        if (!ok) return Unexpected{ok.error()};
        AutoencoderKL model(config, at::TensorOptions().dtype(dtype).device(device));
        std::size_t expected = 0, present = 0;
        for (const auto& item : model->named_parameters(true)) {
            ++expected;
            present += weights.count(prefix + item.key());
        }
        if (present == 0) {
            const std::string first = weights.empty() ? std::string("(no tensors)") : weights.begin()->first;
            return make_error(ErrorCode::ModelLoadFailed,
                              what + ": none of the " + std::to_string(expected) + " AutoencoderKL tensors ('" +
                                  prefix + "encoder.*', '" + prefix + "decoder.*') are in these weights (first key: '" +
                                  first +
                                  "'); this is not a VideoCrafter/DynamiCrafter checkpoint, or its first stage is "
                                  "stored under another prefix.");
        }
        // Only keys under the prefix are read; the rest of the checkpoint belongs to other components.
        io::StateDictOptions options;
        options.prefix = prefix;
        auto report = io::load_state_dict(*model, weights, options, what);
        if (!report) return Unexpected{report.error()};
        model->eval();
        return model;
    } catch (const EngineError& e) {
        return make_error(e.code(), e.what());
    }
}

}  // namespace engine::models
