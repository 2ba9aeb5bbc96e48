// Every tensor of every golden weight file reads back with the right name, dtype, shape and bytes, compared
// with tests/tools/golden_manifest.py, which parses the same files with Python's standard library only.
#include <catch2/catch.hpp>

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "io/checkpoint.h"
#include "io/torch_ckpt.h"
#include "io_test_util.h"
#include "support/golden_case.h"

namespace eio = engine::io;

namespace {

void check_golden_ckpt(const std::string& case_name) {
    const auto gc = test_support::GoldenCase::load(case_name);
    const std::string path = gc.file("model.ckpt").string();
    const auto manifest = io_test::python_manifest({path}).at(0);

    auto ckpt = eio::read_torch_checkpoint(path);
    REQUIRE(ckpt.has_value());
    const std::size_t n = io_test::check_manifest(manifest, ckpt->tensors);
    CHECK(n == manifest.at("tensors").size());
    CHECK(n > 1000);
    CHECK(ckpt->state_dict_key == manifest.at("state_dict_key").get<std::string>());
    CHECK(ckpt->metadata == manifest.at("metadata").get<std::map<std::string, std::string>>());
    CHECK(ckpt->bytes_copied == 0);  // torch's 64-byte aligned records: all zero-copy views
    // float16 weights, float32 schedule buffers (as the golden README describes the file).
    std::size_t f16 = 0, f32 = 0;
    for (const auto& [name, t] : ckpt->tensors) {
        f16 += t.scalar_type() == at::kHalf;
        f32 += t.scalar_type() == at::kFloat;
    }
    CHECK(f16 > 1000);
    CHECK(f32 >= 12);
    CHECK(ckpt->tensors.at("alphas_cumprod").scalar_type() == at::kFloat);
    CHECK(ckpt->tensors.at("model.diffusion_model.out.2.weight").scalar_type() == at::kHalf);

    // The content-picked entry point returns the same tensors.
    CHECK(eio::detect_checkpoint_format(path) == eio::CheckpointFormat::TorchZip);
    auto via = eio::load_checkpoint(path);
    REQUIRE(via.has_value());
    REQUIRE(via->size() == ckpt->tensors.size());
    for (const auto& [name, t] : ckpt->tensors) CHECK(at::equal(via->at(name), t));
}

std::vector<std::string> golden_safetensors() {
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(test_support::golden_dir())) {
        if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path().string());
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace

TEST_CASE("golden: vc2_pipeline_tiny/model.ckpt reads back tensor for tensor", "[io]") {
    check_golden_ckpt("vc2_pipeline_tiny");
}

TEST_CASE("golden: dc_pipeline_tiny/model.ckpt reads back tensor for tensor", "[io]") {
    check_golden_ckpt("dc_pipeline_tiny");
}

// The golden safetensors files, split into parts of about equal size (the Python hashing dominates the run
// time, and ctest runs the parts in parallel). Together the parts cover every file.
static void check_golden_safetensors(std::size_t part, std::size_t num_parts) {
    const auto all = golden_safetensors();
    REQUIRE(all.size() >= 30);
    std::vector<std::pair<std::uintmax_t, std::string>> by_size;
    for (const auto& f : all) by_size.emplace_back(std::filesystem::file_size(f), f);
    std::sort(by_size.rbegin(), by_size.rend());
    std::vector<std::uintmax_t> load(num_parts, 0);
    std::vector<std::string> files;
    for (const auto& [size, f] : by_size) {
        const auto k = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
        load[k] += size;
        if (k == part) files.push_back(f);
    }
    REQUIRE_FALSE(files.empty());
    const auto manifests = io_test::python_manifest(files);
    REQUIRE(manifests.size() == files.size());
    for (std::size_t i = 0; i < files.size(); ++i) {
        INFO(files[i]);
        auto f = eio::SafetensorsFile::open(files[i]);
        REQUIRE(f.has_value());
        auto tensors = f.value()->tensors();
        REQUIRE(tensors.has_value());
        CHECK(io_test::check_manifest(manifests[i], tensors.value()) > 0);
        CHECK(f.value()->metadata() == manifests[i].at("metadata").get<std::map<std::string, std::string>>());
        CHECK(eio::detect_checkpoint_format(files[i]) == eio::CheckpointFormat::Safetensors);
    }
}

TEST_CASE("golden: every *.safetensors file reads back tensor for tensor (part 1 of 3)", "[io]") {
    check_golden_safetensors(0, 3);
}

TEST_CASE("golden: every *.safetensors file reads back tensor for tensor (part 2 of 3)", "[io]") {
    check_golden_safetensors(1, 3);
}

TEST_CASE("golden: every *.safetensors file reads back tensor for tensor (part 3 of 3)", "[io]") {
    check_golden_safetensors(2, 3);
}

TEST_CASE("golden: the ckpt and safetensors readers agree where the same tensors exist in both forms", "[io]") {
    // Pairs are found by the independent manifest (same SHA-1 of the bytes, dtype and shape) over every golden
    // safetensors file, then our two readers' tensors are compared. (The pipeline cases' io.safetensors repeat
    // the checkpoints' schedule buffers.)
    const std::vector<std::string> ckpts = {
        test_support::GoldenCase::load("vc2_pipeline_tiny").file("model.ckpt").string(),
        test_support::GoldenCase::load("dc_pipeline_tiny").file("model.ckpt").string()};
    const std::vector<std::string> sts = golden_safetensors();
    std::vector<std::string> all = ckpts;
    all.insert(all.end(), sts.begin(), sts.end());
    const auto manifests = io_test::python_manifest(all, /*fnv=*/false);

    std::map<std::string, std::pair<std::string, std::string>> by_hash;  // hash|dtype|shape → (ckpt, tensor)
    auto key = [](const nlohmann::json& t) {
        return t.at("sha1").get<std::string>() + "|" + t.at("dtype").get<std::string>() + "|" + t.at("shape").dump();
    };
    for (std::size_t i = 0; i < ckpts.size(); ++i) {
        for (const auto& t : manifests[i].at("tensors")) by_hash.emplace(key(t), std::pair{ckpts[i], t.at("name")});
    }
    std::map<std::string, eio::TensorMap> loaded;
    auto load = [&](const std::string& path) -> const eio::TensorMap& {
        auto it = loaded.find(path);
        if (it == loaded.end()) {
            auto t = eio::load_checkpoint(path);
            REQUIRE(t.has_value());
            it = loaded.emplace(path, std::move(t).value()).first;
        }
        return it->second;
    };
    std::size_t pairs = 0;
    for (std::size_t i = ckpts.size(); i < all.size(); ++i) {
        for (const auto& t : manifests[i].at("tensors")) {
            auto hit = by_hash.find(key(t));
            if (hit == by_hash.end() || t.at("numel").get<std::int64_t>() < 16) continue;
            const std::string name = t.at("name");
            INFO(all[i] << " '" << name << "' vs " << hit->second.first << " '" << hit->second.second << "'");
            const at::Tensor& a = load(all[i]).at(name);
            const at::Tensor& b = load(hit->second.first).at(hit->second.second);
            CHECK(a.scalar_type() == b.scalar_type());
            CHECK(at::equal(a, b));
            ++pairs;
        }
    }
    INFO("pairs found: " << pairs);
    CHECK(pairs >= 2);
}
