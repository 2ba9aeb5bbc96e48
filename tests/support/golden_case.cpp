#include "support/golden_case.h"

#include <cstdlib>
#include <stdexcept>

#include "core/json.h"
#include "io/safetensors.h"

namespace test_support {

std::filesystem::path golden_dir() {
    const char* env = std::getenv("KINORA_GOLDEN_DIR");
    if (env == nullptr || *env == '\0') {
        throw std::runtime_error("KINORA_GOLDEN_DIR is not set: run the tests through ctest, or export it "
                                 "(normally <checkout>/../shared/golden)");
    }
    std::filesystem::path dir(env);
    if (!std::filesystem::is_directory(dir)) {
        throw std::runtime_error("KINORA_GOLDEN_DIR=" + dir.string() + " is not a folder: the golden cases are missing");
    }
    return dir;
}

GoldenCase GoldenCase::load(const std::string& name) {
    GoldenCase gc;
    gc.name_ = name;
    gc.dir_ = golden_dir() / name;
    if (!std::filesystem::is_directory(gc.dir_)) {
        throw std::runtime_error("golden case '" + name + "' is missing (" + gc.dir_.string() + ")");
    }
    auto index = engine::core::read_json_file((golden_dir() / "INDEX.json").string());
    if (!index) throw std::runtime_error(index.error().message);
    if (!index->contains(name)) throw std::runtime_error("INDEX.json has no entry for '" + name + "'");
    gc.meta_ = (*index)[name].value("meta", nlohmann::json::object());
    const auto io_path = gc.dir_ / "io.safetensors";
    if (std::filesystem::exists(io_path)) {
        auto io = engine::io::load_safetensors(io_path.string());
        if (!io) throw std::runtime_error(io.error().message);
        gc.io_ = std::move(io).value();
    }
    return gc;
}

std::filesystem::path GoldenCase::file(const std::string& relative) const {
    auto p = dir_ / relative;
    if (!std::filesystem::exists(p)) {
        throw std::runtime_error("golden case '" + name_ + "' has no file " + relative);
    }
    return p;
}

at::Tensor GoldenCase::io(const std::string& tensor) const {
    auto it = io_.find(tensor);
    if (it == io_.end()) {
        std::string names;
        for (const auto& [k, v] : io_) names += (names.empty() ? "" : ", ") + k;
        throw std::runtime_error("golden case '" + name_ + "' has no io tensor '" + tensor + "' (has: " + names + ")");
    }
    return it->second;
}

nlohmann::json GoldenCase::config(const std::string& relative) const {
    auto j = engine::core::read_json_file(file(relative).string());
    if (!j) throw std::runtime_error(j.error().message);
    return std::move(j).value();
}

}  // namespace test_support
