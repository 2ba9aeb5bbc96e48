#include "tokenizers/spm_library.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <utility>

#include "../../spm_bridge/spm_bridge.h"

namespace engine::tokenizers {

struct SpmBridgeApi {
    void* handle = nullptr;
    decltype(&kinora_spm_abi_version) abi_version = nullptr;
    decltype(&kinora_spm_load) load = nullptr;
    decltype(&kinora_spm_free) free = nullptr;
    decltype(&kinora_spm_encode) encode = nullptr;
    decltype(&kinora_spm_decode) decode = nullptr;
    decltype(&kinora_spm_piece_to_id) piece_to_id = nullptr;
    decltype(&kinora_spm_vocab_size) vocab_size = nullptr;
    decltype(&kinora_spm_bos_id) bos_id = nullptr;
    decltype(&kinora_spm_eos_id) eos_id = nullptr;
    decltype(&kinora_spm_pad_id) pad_id = nullptr;
    decltype(&kinora_spm_unk_id) unk_id = nullptr;
};

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kErrorBufferSize = 1024;

std::string executable_dir() {
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (ec || exe.empty()) {
        return {};
    }
    return exe.parent_path().string();
}

std::string join_paths(const std::vector<std::string>& paths) {
    std::string out;
    for (const auto& p : paths) {
        out += (out.empty() ? "" : ", ") + p;
    }
    return out;
}

template <typename Fn>
bool resolve(void* handle, const char* name, Fn& fn, std::string& missing) {
    fn = reinterpret_cast<Fn>(dlsym(handle, name));
    if (fn == nullptr) {
        missing += (missing.empty() ? "" : ", ") + std::string(name);
        return false;
    }
    return true;
}

Error absent_bridge_error(const std::vector<std::string>& looked_at) {
    if (!built_with_sentencepiece()) {
        return Error{ErrorCode::UnsupportedModel,
                     "This build of Kinora has no sentencepiece support (configured with "
                     "KINORA_WITH_SENTENCEPIECE=OFF), so Gemma tokenizers (Sana, Sana-Sprint) cannot be loaded. "
                     "Rebuild with -DKINORA_WITH_SENTENCEPIECE=ON (Debian: apt install libsentencepiece-dev), or "
                     "set KINORA_SPM_BRIDGE to a " +
                         std::string(kSpmBridgeFileName) + " built for this version."};
    }
    return Error{ErrorCode::UnsupportedModel,
                 "The sentencepiece bridge " + std::string(kSpmBridgeFileName) +
                     " (needed for Gemma tokenizers) was not found; looked at: " + join_paths(looked_at) +
                     ". It is installed next to the executables or in lib/kinora/; reinstall Kinora or set "
                     "KINORA_SPM_BRIDGE to its path."};
}

}  // namespace

SpmLibrary::SpmLibrary(std::string path, std::unique_ptr<SpmBridgeApi> api)
    : path_(std::move(path)), api_(std::move(api)) {}

// The module is never unloaded: sentencepiece and its bundled protobuf keep static state, and a
// dlclose() of such a library at exit is a classic source of crashes. dlopen() refcounts anyway.
SpmLibrary::~SpmLibrary() = default;

std::vector<std::string> SpmLibrary::search_paths() {
    std::vector<std::string> paths;
    if (const char* env = std::getenv("KINORA_SPM_BRIDGE"); env != nullptr && *env != '\0') {
        std::error_code ec;
        fs::path p(env);
        if (fs::is_directory(p, ec)) {
            p /= kSpmBridgeFileName;
        }
        paths.push_back(p.string());
        return paths;
    }
    const std::string dir = executable_dir();
    if (!dir.empty()) {
        paths.push_back((fs::path(dir) / kSpmBridgeFileName).string());
        paths.push_back((fs::path(dir) / ".." / "lib" / "kinora" / kSpmBridgeFileName).lexically_normal().string());
    }
    return paths;
}

Expected<std::shared_ptr<const SpmLibrary>> SpmLibrary::open_at(const std::string& path) {
    std::error_code ec;
    if (!fs::is_regular_file(path, ec)) {
        return make_error(ErrorCode::UnsupportedModel, "The sentencepiece bridge " + path + " does not exist.");
    }
    // AddressSanitizer refuses RTLD_DEEPBIND (it aborts the process), and without it the protobuf of
    // Debian's libsentencepiece clashes with LibTorch's. Say so instead of crashing.
    if (dlsym(RTLD_DEFAULT, "__asan_init") != nullptr) {
        return make_error(ErrorCode::UnsupportedModel,
                          "The sentencepiece bridge cannot be loaded in an AddressSanitizer build (it needs "
                          "dlopen(RTLD_DEEPBIND), which the sanitizer does not support).");
    }
    dlerror();
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (handle == nullptr) {
        const char* why = dlerror();
        return make_error(ErrorCode::UnsupportedModel, "Cannot load the sentencepiece bridge " + path + ": " +
                                                           (why != nullptr ? why : "unknown dlopen error") +
                                                           ". Is libsentencepiece installed?");
    }
    auto api = std::make_unique<SpmBridgeApi>();
    api->handle = handle;
    std::string missing;
    resolve(handle, "kinora_spm_abi_version", api->abi_version, missing);
    if (api->abi_version != nullptr && api->abi_version() != KINORA_SPM_BRIDGE_ABI) {
        return make_error(ErrorCode::UnsupportedModel, "The sentencepiece bridge " + path + " has ABI version " +
                                                           std::to_string(api->abi_version()) + ", this Kinora needs " +
                                                           std::to_string(KINORA_SPM_BRIDGE_ABI) +
                                                           "; it belongs to another Kinora version. Reinstall Kinora.");
    }
    resolve(handle, "kinora_spm_load", api->load, missing);
    resolve(handle, "kinora_spm_free", api->free, missing);
    resolve(handle, "kinora_spm_encode", api->encode, missing);
    resolve(handle, "kinora_spm_decode", api->decode, missing);
    resolve(handle, "kinora_spm_piece_to_id", api->piece_to_id, missing);
    resolve(handle, "kinora_spm_vocab_size", api->vocab_size, missing);
    resolve(handle, "kinora_spm_bos_id", api->bos_id, missing);
    resolve(handle, "kinora_spm_eos_id", api->eos_id, missing);
    resolve(handle, "kinora_spm_pad_id", api->pad_id, missing);
    resolve(handle, "kinora_spm_unk_id", api->unk_id, missing);
    if (!missing.empty()) {
        return make_error(ErrorCode::UnsupportedModel,
                          path + " is not a Kinora sentencepiece bridge (missing symbols: " + missing + ").");
    }
    return std::shared_ptr<const SpmLibrary>(new SpmLibrary(path, std::move(api)));
}

Expected<std::shared_ptr<const SpmLibrary>> SpmLibrary::open() {
    static std::mutex mutex;
    static std::shared_ptr<const SpmLibrary> cached;
    std::lock_guard<std::mutex> lock(mutex);
    if (cached) {
        return cached;
    }
    const std::vector<std::string> paths = search_paths();
    std::vector<std::string> failures;
    for (const auto& p : paths) {
        std::error_code ec;
        if (!fs::exists(p, ec)) {
            continue;
        }
        auto lib = open_at(p);
        if (lib) {
            cached = lib.value();
            return cached;
        }
        failures.push_back(lib.error().message);
    }
    if (!failures.empty()) {
        std::string msg = failures.front();
        for (std::size_t i = 1; i < failures.size(); ++i) {
            msg += " Also: " + failures[i];
        }
        return make_error(ErrorCode::UnsupportedModel, msg);
    }
    return Unexpected{absent_bridge_error(paths)};
}

// ---- SpmModel --------------------------------------------------------------------------------

SpmModel::SpmModel(std::shared_ptr<const SpmLibrary> library, void* handle, std::string path)
    : library_(std::move(library)), handle_(handle), path_(std::move(path)) {}

SpmModel::SpmModel(SpmModel&& other) noexcept
    : library_(std::move(other.library_)),
      handle_(std::exchange(other.handle_, nullptr)),
      path_(std::move(other.path_)) {}

SpmModel& SpmModel::operator=(SpmModel&& other) noexcept {
    if (this != &other) {
        release();
        library_ = std::move(other.library_);
        handle_ = std::exchange(other.handle_, nullptr);
        path_ = std::move(other.path_);
    }
    return *this;
}

SpmModel::~SpmModel() {
    release();
}

void SpmModel::release() noexcept {
    if (handle_ != nullptr && library_) {
        library_->api().free(static_cast<kinora_spm*>(handle_));
    }
    handle_ = nullptr;
}

Expected<SpmModel> SpmModel::load(const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return make_error(ErrorCode::ModelNotFound, "Missing sentencepiece model: " + path);
    }
    auto library = SpmLibrary::open();
    if (!library) {
        return Unexpected{library.error()};
    }
    return load(path, library.value());
}

Expected<SpmModel> SpmModel::load(const std::string& path, std::shared_ptr<const SpmLibrary> library) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return make_error(ErrorCode::ModelNotFound, "Missing sentencepiece model: " + path);
    }
    if (!fs::is_regular_file(path, ec)) {
        return make_error(ErrorCode::ModelLoadFailed, path + " is not a file (expected a sentencepiece .model).");
    }
    const auto size = fs::file_size(path, ec);
    if (ec || size == 0) {
        return make_error(ErrorCode::ModelLoadFailed,
                          path + " is empty; it is not a sentencepiece model. Download the tokenizer again.");
    }
    char err[kErrorBufferSize] = {0};
    kinora_spm* handle = library->api().load(path.c_str(), err, sizeof(err));
    if (handle == nullptr) {
        return make_error(ErrorCode::ModelLoadFailed, path + " is not a valid sentencepiece model (" +
                                                          std::string(err[0] != '\0' ? err : "no details") +
                                                          "). Download the tokenizer again.");
    }
    SpmModel model(std::move(library), handle, path);
    if (model.vocab_size() <= 0) {
        return make_error(ErrorCode::ModelLoadFailed, path + " is not a valid sentencepiece model (no vocabulary).");
    }
    return model;
}

Expected<std::vector<std::int32_t>> SpmModel::encode(std::string_view text) const {
    const auto* model = static_cast<const kinora_spm*>(handle_);
    std::vector<std::int32_t> ids(text.size() + 16);
    char err[kErrorBufferSize] = {0};
    for (int attempt = 0; attempt < 2; ++attempt) {
        const long n =
            library_->api().encode(model, text.data(), text.size(), ids.data(), ids.size(), err, sizeof(err));
        if (n < 0) {
            return make_error(ErrorCode::InvalidRequest,
                              "sentencepiece could not encode the text: " + std::string(err));
        }
        if (static_cast<std::size_t>(n) <= ids.size()) {
            ids.resize(static_cast<std::size_t>(n));
            return ids;
        }
        ids.resize(static_cast<std::size_t>(n));
    }
    return make_error(ErrorCode::Internal, "sentencepiece returned an inconsistent number of ids");
}

Expected<std::string> SpmModel::decode(const std::vector<std::int32_t>& ids) const {
    const auto* model = static_cast<const kinora_spm*>(handle_);
    std::string text(ids.size() * 8 + 16, '\0');
    char err[kErrorBufferSize] = {0};
    for (int attempt = 0; attempt < 2; ++attempt) {
        const long n =
            library_->api().decode(model, ids.data(), ids.size(), text.data(), text.size(), err, sizeof(err));
        if (n < 0) {
            return make_error(ErrorCode::InvalidRequest, "sentencepiece could not decode the ids: " + std::string(err));
        }
        if (static_cast<std::size_t>(n) <= text.size()) {
            text.resize(static_cast<std::size_t>(n));
            return text;
        }
        text.resize(static_cast<std::size_t>(n));
    }
    return make_error(ErrorCode::Internal, "sentencepiece returned an inconsistent text length");
}

std::int32_t SpmModel::piece_to_id(const std::string& piece) const {
    return library_->api().piece_to_id(static_cast<const kinora_spm*>(handle_), piece.c_str());
}
std::int32_t SpmModel::vocab_size() const {
    return library_->api().vocab_size(static_cast<const kinora_spm*>(handle_));
}
std::int32_t SpmModel::bos_id() const {
    return library_->api().bos_id(static_cast<const kinora_spm*>(handle_));
}
std::int32_t SpmModel::eos_id() const {
    return library_->api().eos_id(static_cast<const kinora_spm*>(handle_));
}
std::int32_t SpmModel::pad_id() const {
    return library_->api().pad_id(static_cast<const kinora_spm*>(handle_));
}
std::int32_t SpmModel::unk_id() const {
    return library_->api().unk_id(static_cast<const kinora_spm*>(handle_));
}

}  // namespace engine::tokenizers
