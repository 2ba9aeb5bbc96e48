// Access to the reference cases in KINORA_GOLDEN_DIR (../shared/golden): config, weights, io tensors
// and INDEX.json metadata. A missing case, file or tensor throws, so the test fails — never passes.
//
//     auto gc = test_support::GoldenCase::load("dcae_tiny");
//     at::Tensor latent = gc.io("latent");
//     nlohmann::json cfg = gc.config();
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <string>

namespace test_support {

/// KINORA_GOLDEN_DIR; throws if unset or not a folder.
std::filesystem::path golden_dir();

class GoldenCase {
public:
    /// Loads io.safetensors (when the case has one) and the INDEX.json entry. Throws if missing.
    static GoldenCase load(const std::string& name);

    const std::string& name() const { return name_; }
    const std::filesystem::path& dir() const { return dir_; }
    /// Path of a file of the case; throws if it does not exist.
    std::filesystem::path file(const std::string& relative) const;
    /// An io tensor (CPU, as stored); throws with the list of names if absent.
    at::Tensor io(const std::string& tensor) const;
    bool has_io(const std::string& tensor) const { return io_.count(tensor) != 0; }
    const std::map<std::string, at::Tensor>& io_tensors() const { return io_; }
    /// INDEX.json "meta" of the case.
    const nlohmann::json& meta() const { return meta_; }
    /// A JSON file of the case (Python-style NaN/Infinity accepted), default config.json.
    nlohmann::json config(const std::string& relative = "config.json") const;

private:
    std::string name_;
    std::filesystem::path dir_;
    std::map<std::string, at::Tensor> io_;
    nlohmann::json meta_;
};

}  // namespace test_support
