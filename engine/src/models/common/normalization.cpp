// Ref: huggingface/diffusers src/diffusers/models/normalization.py@58eb52c0803e (see normalization.h)
#include "models/common/normalization.h"

#include <ATen/ATen.h>

#include <vector>

#include "kernels/ops.h"

namespace engine::models {

RMSNormImpl::RMSNormImpl(const RMSNormOptions& opts, const at::TensorOptions& tensor_options) : options(opts) {
    TORCH_CHECK(options.dim > 0, "RMSNorm: dim must be positive, got ", options.dim);
    const at::TensorOptions o = tensor_options.requires_grad(false);
    if (options.elementwise_affine) {
        weight = register_parameter("weight", at::empty({options.dim}, o), /*requires_grad=*/false);
        if (options.bias) {
            bias = register_parameter("bias", at::empty({options.dim}, o), false);
        }
    }
}

at::Tensor RMSNormImpl::forward(const at::Tensor& x) {
    return kernels::rms_norm(x, weight, bias, options.eps);
}

at::Tensor layer_norm_no_affine(const at::Tensor& x, double eps) {
    return at::layer_norm(x, {x.size(-1)}, /*weight=*/{}, /*bias=*/{}, eps);
}

namespace {

bool is_low_precision(at::ScalarType t) {
    return t == at::kHalf || t == at::kBFloat16;
}

at::Tensor to_float_or_undefined(const at::Tensor& t) {
    return t.defined() ? t.to(at::kFloat) : t;
}

}  // namespace

at::Tensor group_norm_f32(const at::Tensor& x, int64_t num_groups, const at::Tensor& weight, const at::Tensor& bias,
                          double eps) {
    if (x.scalar_type() == at::kFloat && (!weight.defined() || weight.scalar_type() == at::kFloat)) {
        return at::group_norm(x, num_groups, weight, bias, eps);
    }
    return at::group_norm(x.to(at::kFloat), num_groups, to_float_or_undefined(weight), to_float_or_undefined(bias), eps)
        .to(x.scalar_type());
}

at::Tensor group_norm_silu_f32(const at::Tensor& x, int64_t num_groups, const at::Tensor& weight, const at::Tensor& bias,
                               double eps) {
    if (x.scalar_type() == at::kFloat) {
        at::Tensor y = group_norm_f32(x, num_groups, weight, bias, eps);
        return at::silu_(y);
    }
    at::Tensor y = at::group_norm(x.to(at::kFloat), num_groups, to_float_or_undefined(weight),
                                  to_float_or_undefined(bias), eps);
    return at::silu_(y).to(x.scalar_type());
}

at::Tensor group_norm_into(const at::Tensor& x, int64_t num_groups, const at::Tensor& weight, const at::Tensor& bias,
                           double eps, at::Tensor out) {
    TORCH_CHECK(x.dim() >= 2, "group_norm_into: x must be [N, C, ...], got ", x.sizes());
    TORCH_CHECK(out.sizes() == x.sizes(), "group_norm_into: out ", out.sizes(), " and x ", x.sizes(),
                " differ in shape");
    const int64_t n = x.size(0);
    const int64_t channels = x.size(1);
    TORCH_CHECK(num_groups > 0 && channels % num_groups == 0, "group_norm_into: ", channels,
                " channels are not divisible into ", num_groups, " groups");
    // [N, G, C/G, *]: splitting the channel dim is a view whatever the strides.
    std::vector<int64_t> grouped_shape = {n, num_groups, channels / num_groups};
    std::vector<int64_t> reduce_dims = {2};
    for (int64_t d = 2; d < x.dim(); ++d) {
        grouped_shape.push_back(x.size(d));
        reduce_dims.push_back(d + 1);
    }
    const at::Tensor xf = is_low_precision(x.scalar_type()) ? x.to(at::kFloat) : x;
    auto [var, mean] =
        at::var_mean(xf.view(grouped_shape), at::IntArrayRef(reduce_dims), /*unbiased=*/false, /*keepdim=*/true);
    // Per (n, channel) factors in float32: a = rstd · weight, b = bias - mean · a.  [N, G, C/G, 1, ...]
    at::Tensor a = at::rsqrt(var + eps).to(at::kFloat);
    at::Tensor b = -mean.to(at::kFloat) * a;
    std::vector<int64_t> affine_shape(grouped_shape.size(), 1);
    affine_shape[1] = num_groups;
    affine_shape[2] = channels / num_groups;
    if (weight.defined()) {
        a = a * weight.to(at::kFloat).view(affine_shape);
        b = b * weight.to(at::kFloat).view(affine_shape);
    }
    if (bias.defined()) {
        b = b + bias.to(at::kFloat).view(affine_shape);
    }
    std::vector<int64_t> channel_shape(static_cast<size_t>(x.dim()), 1);
    channel_shape[0] = n;
    channel_shape[1] = channels;
    std::vector<int64_t> per_channel(affine_shape);  // [1, G, C/G, 1, ...] → [N, G, C/G, 1, ...]
    per_channel[0] = n;
    a = a.expand(per_channel).reshape(channel_shape);
    b = b.expand(per_channel).reshape(channel_shape);
    if (xf.scalar_type() != at::kFloat) {  // float64
        a = a.to(xf.scalar_type());
        b = b.to(xf.scalar_type());
    }
    if (xf.scalar_type() == out.scalar_type()) {
        return at::addcmul_out(out, b, xf, a);  // one pass, written in out's layout
    }
    out.copy_(at::addcmul(b, xf, a));  // half/bfloat16: float32 arithmetic, one rounding
    return out;
}

at::Tensor layer_norm_f32(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, double eps) {
    if (!is_low_precision(x.scalar_type())) {
        return at::layer_norm(x, {x.size(-1)}, weight, bias, eps);
    }
    return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, to_float_or_undefined(weight), to_float_or_undefined(bias),
                          eps)
        .to(x.scalar_type());
}

AdaLayerNormSingleImpl::AdaLayerNormSingleImpl(int64_t embedding_dim, const at::TensorOptions& options) {
    emb = register_module("emb", PixArtAlphaCombinedTimestepSizeEmbeddings(embedding_dim, options));
    linear = register_module("linear", PlainLinear(embedding_dim, 6 * embedding_dim, true, options));
}

TimestepModulation AdaLayerNormSingleImpl::forward(const at::Tensor& timestep, at::ScalarType hidden_dtype) {
    at::Tensor embedded = emb->forward(timestep, hidden_dtype);  // [B, D]
    return {linear->forward(at::silu(embedded)), embedded};      // [B, 6D], [B, D]
}

}  // namespace engine::models
