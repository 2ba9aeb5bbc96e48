// Strict state-dict loading: exact matches load, every kind of mismatch is reported by name.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "io/state_dict.h"

namespace {

struct TinyImpl : torch::nn::Module {
    TinyImpl() {
        proj = register_module("proj", torch::nn::Linear(4, 3));
        norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({3})));
        register_buffer("scale", torch::ones({1}));
    }
    torch::nn::Linear proj{nullptr};
    torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(Tiny);

engine::io::TensorMap full_weights(const std::string& prefix) {
    return {{prefix + "proj.weight", torch::full({3, 4}, 2.0)},
            {prefix + "proj.bias", torch::full({3}, 3.0)},
            {prefix + "norm.weight", torch::full({3}, 4.0)},
            {prefix + "norm.bias", torch::full({3}, 5.0)},
            {prefix + "scale", torch::full({1}, 6.0, torch::kDouble)}};
}

}  // namespace

TEST_CASE("state_dict: loads by name with prefix stripping and dtype conversion", "[io]") {
    Tiny m;
    engine::io::StateDictOptions o;
    o.prefix = "model.diffusion_model.";
    auto w = full_weights(o.prefix);
    w["first_stage_model.other"] = torch::zeros({1});  // other prefixes are not considered
    auto r = engine::io::load_state_dict(*m, w, o, "tiny");
    REQUIRE(r.has_value());
    CHECK(r->ok());
    CHECK(r->num_loaded == 5);
    CHECK(m->proj->weight.eq(2.0).all().item<bool>());
    CHECK(m->norm->bias.eq(5.0).all().item<bool>());
    CHECK(m->named_buffers()["scale"].scalar_type() == torch::kFloat);
    CHECK(m->named_buffers()["scale"].item<float>() == 6.0f);
}

TEST_CASE("state_dict: strict loading reports missing, unexpected and mis-shaped keys by name", "[io]") {
    Tiny m;
    auto w = full_weights("");
    w.erase("norm.bias");
    w["proj.weight"] = torch::zeros({4, 4});
    w["extra.weight"] = torch::zeros({2});
    auto r = engine::io::load_state_dict(*m, w, {}, "tiny");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == engine::ErrorCode::ModelLoadFailed);
    const std::string& msg = r.error().message;
    CHECK_THAT(msg, Catch::Contains("tiny"));
    CHECK_THAT(msg, Catch::Contains("missing from the checkpoint (1): norm.bias"));
    CHECK_THAT(msg, Catch::Contains("unexpected in the checkpoint (1): extra.weight"));
    CHECK_THAT(msg, Catch::Contains("proj.weight: checkpoint [4, 4] vs model [3, 4]"));

    engine::io::StateDictOptions lenient;
    lenient.strict = false;
    auto r2 = engine::io::load_state_dict(*m, w, lenient, "tiny");
    REQUIRE(r2.has_value());
    CHECK(r2->missing == std::vector<std::string>{"norm.bias"});
    CHECK(r2->unexpected == std::vector<std::string>{"extra.weight"});
    CHECK(r2->mismatched.size() == 1);
}

TEST_CASE("state_dict: renames and explicit ignore / allow-missing lists", "[io]") {
    Tiny m;
    auto w = full_weights("");
    w["projection.weight"] = w["proj.weight"];
    w["projection.bias"] = w["proj.bias"];
    w.erase("proj.weight");
    w.erase("proj.bias");
    w.erase("scale");
    w["logit_scale"] = torch::zeros({});
    engine::io::StateDictOptions o;
    o.renames = {{"projection.", "proj."}};
    o.ignore_unexpected = {"^logit_scale$"};
    o.allow_missing = {"^scale$"};
    auto r = engine::io::load_state_dict(*m, w, o, "tiny");
    REQUIRE(r.has_value());
    CHECK(r->ok());
    CHECK(r->num_loaded == 4);
}
