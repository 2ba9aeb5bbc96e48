// Component folders downloaded with a diffusers weight variant (e.g. variant="bf16" for the 2K/4K Sana
// repos) load like plain ones; plain files win when both exist.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& tag) {
    fs::path d = fs::temp_directory_path() / ("kinora-variant-" + tag + "-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
}

}  // namespace

TEST_CASE("safetensors folder: bf16 variant files and sharded variant indexes load", "[io]") {
    const fs::path dir = fresh_dir("single");
    engine::io::TensorMap w = {{"a", torch::arange(6, torch::kFloat).reshape({2, 3}).to(torch::kBFloat16)}};
    REQUIRE(engine::io::save_safetensors((dir / "diffusion_pytorch_model.bf16.safetensors").string(), w, {}));
    auto got = engine::io::load_safetensors_folder(dir.string(), {"diffusion_pytorch_model"});
    REQUIRE(got.has_value());
    CHECK(got->at("a").equal(w.at("a")));

    // plain beats variant
    engine::io::TensorMap plain = {{"a", torch::zeros({2, 3}, torch::kBFloat16)}};
    REQUIRE(engine::io::save_safetensors((dir / "diffusion_pytorch_model.safetensors").string(), plain, {}));
    got = engine::io::load_safetensors_folder(dir.string(), {"diffusion_pytorch_model"});
    REQUIRE(got.has_value());
    CHECK(got->at("a").equal(plain.at("a")));
    fs::remove_all(dir);

    const fs::path sharded = fresh_dir("sharded");
    engine::io::TensorMap s1 = {{"x", torch::ones({2})}};
    engine::io::TensorMap s2 = {{"y", torch::full({3}, 2.0)}};
    REQUIRE(engine::io::save_safetensors((sharded / "model.bf16-00001-of-00002.safetensors").string(), s1, {}));
    REQUIRE(engine::io::save_safetensors((sharded / "model.bf16-00002-of-00002.safetensors").string(), s2, {}));
    std::ofstream(sharded / "model.safetensors.index.bf16.json")
        << R"({"metadata": {}, "weight_map": {"x": "model.bf16-00001-of-00002.safetensors",)"
        << R"( "y": "model.bf16-00002-of-00002.safetensors"}})";
    got = engine::io::load_safetensors_folder(sharded.string(), {"model"});
    REQUIRE(got.has_value());
    CHECK(got->size() == 2);
    CHECK(got->at("y").equal(s2.at("y")));

    auto none = engine::io::load_safetensors_folder(fresh_dir("empty").string(), {"model"});
    REQUIRE_FALSE(none.has_value());
    CHECK(none.error().code == engine::ErrorCode::ModelNotFound);
    CHECK_THAT(none.error().message, Catch::Contains("Model Manager"));
    fs::remove_all(sharded);
}
