// Sentencepiece through the bridge module (libkinora_spm_bridge.so, engine/spm_bridge/).
//
// Debian's libsentencepiece bundles protobuf 3.14 and crashes at load in a process that also has
// libprotobuf 3.21 (LibTorch, OpenImageIO). So the engine never links it: it dlopen()s the bridge
// with RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND and talks to its small C ABI only. The module is looked
// for, in order, at
//   1. $KINORA_SPM_BRIDGE (the module's path, or a folder holding it) — when set, only there;
//   2. the running executable's folder (/proc/self/exe);
//   3. <executable folder>/../lib/kinora/ (the installed layout).
// Once loaded, the module stays loaded for the life of the process (never dlclose()d).
//
//     auto model = engine::tokenizers::SpmModel::load("tokenizer/tokenizer.model");
//     if (!model) { report(model.error().message); return; }
//     auto ids = model->encode("a photo of a cat");   // Expected<std::vector<int32_t>>, no BOS/EOS
//
// Thread safety: SpmLibrary::open() may be called from any thread. A loaded SpmModel is immutable;
// encode/decode on one model from several threads is fine (sentencepiece's processor is const there).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"

namespace engine::tokenizers {

struct SpmBridgeApi;  // resolved C entry points (spm_library.cpp)

/// File name of the bridge module.
inline constexpr const char* kSpmBridgeFileName = "libkinora_spm_bridge.so";

/// True when this build configured the bridge (KINORA_WITH_SENTENCEPIECE=ON).
bool built_with_sentencepiece() noexcept;

/// The loaded bridge module.
class SpmLibrary {
public:
    /// The process-wide bridge, found on the search path above and loaded on first use. Failures are
    /// not cached: a later call searches again.
    static Expected<std::shared_ptr<const SpmLibrary>> open();
    /// Loads the module at an explicit path (tests, tools). Not cached; dlopen() shares the handle.
    static Expected<std::shared_ptr<const SpmLibrary>> open_at(const std::string& path);
    /// The folders/files open() looks at, in order (for messages and tests).
    static std::vector<std::string> search_paths();

    SpmLibrary(const SpmLibrary&) = delete;
    SpmLibrary& operator=(const SpmLibrary&) = delete;
    ~SpmLibrary();

    const std::string& path() const { return path_; }
    const SpmBridgeApi& api() const { return *api_; }

private:
    SpmLibrary(std::string path, std::unique_ptr<SpmBridgeApi> api);
    std::string path_;
    std::unique_ptr<SpmBridgeApi> api_;
};

/// A loaded sentencepiece model.
class SpmModel {
public:
    /// Loads a sentencepiece .model file through the process-wide bridge. ModelNotFound when the file
    /// is missing, ModelLoadFailed when it is not a sentencepiece model, UnsupportedModel when the
    /// bridge is absent (e.g. a build without sentencepiece).
    static Expected<SpmModel> load(const std::string& path);
    /// Same with an explicit bridge.
    static Expected<SpmModel> load(const std::string& path, std::shared_ptr<const SpmLibrary> library);

    SpmModel(SpmModel&& other) noexcept;
    SpmModel& operator=(SpmModel&& other) noexcept;
    SpmModel(const SpmModel&) = delete;
    SpmModel& operator=(const SpmModel&) = delete;
    ~SpmModel();

    /// Encodes UTF-8 text to piece ids (no BOS/EOS; the model's own normaliser applies).
    Expected<std::vector<std::int32_t>> encode(std::string_view text) const;
    /// Decodes ids to UTF-8 text.
    Expected<std::string> decode(const std::vector<std::int32_t>& ids) const;
    /// Id of a piece, or unk_id() when the model has no such piece.
    std::int32_t piece_to_id(const std::string& piece) const;
    std::int32_t vocab_size() const;
    /// Special ids from the model's trainer spec; -1 when the model has none.
    std::int32_t bos_id() const;
    std::int32_t eos_id() const;
    std::int32_t pad_id() const;
    std::int32_t unk_id() const;
    const std::string& path() const { return path_; }

private:
    SpmModel(std::shared_ptr<const SpmLibrary> library, void* handle, std::string path);
    void release() noexcept;

    std::shared_ptr<const SpmLibrary> library_;
    void* handle_ = nullptr;  // kinora_spm*
    std::string path_;
};

}  // namespace engine::tokenizers
