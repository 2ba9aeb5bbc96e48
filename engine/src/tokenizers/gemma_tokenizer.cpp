#include "tokenizers/gemma_tokenizer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/json.h"
#include "core/log.h"

namespace engine::tokenizers {
namespace {

namespace fs = std::filesystem;

// Special tokens in tokenizer_config.json are either "<bos>" or {"content": "<bos>", ...}.
bool read_token(const nlohmann::json& config, const char* key, std::string& out) {
    const auto it = config.find(key);
    if (it == config.end() || it->is_null()) {
        return false;
    }
    if (it->is_string()) {
        out = it->get<std::string>();
        return true;
    }
    if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) {
        out = (*it)["content"].get<std::string>();
        return true;
    }
    return false;
}

// Whitespace as str.isspace() sees it in ASCII; enough for the lstrip/rstrip of added tokens.
bool is_ascii_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// The sentencepiece model behind the tokenizer, through the backend asked for (see SpmBackendChoice).
using LoadedModel = std::variant<SpmModel, SpmBpeModel>;

Expected<LoadedModel> load_builtin(const std::string& model_path, const std::string& why) {
    auto model = SpmBpeModel::load(model_path);
    if (!model) {
        Error e = model.error();
        if (e.code == ErrorCode::UnsupportedModel && !why.empty()) {
            e.message += " (" + why + ")";
        }
        return Unexpected{std::move(e)};
    }
    LOG_INFO("Gemma tokenizer %s: Kinora's built-in sentencepiece BPE encoder (%s)", model_path.c_str(), why.c_str());
    return LoadedModel(std::in_place_index<1>, std::move(model).value());
}

Expected<LoadedModel> load_model(const std::string& model_path, SpmBackendChoice choice) {
    if (choice == SpmBackendChoice::Auto && builtin_spm_forced()) {
        return load_builtin(model_path, "KINORA_FORCE_BUILTIN_SPM is set");
    }
    if (choice == SpmBackendChoice::Builtin) {
        return load_builtin(model_path, "asked for");
    }
    auto library = SpmLibrary::open();
    if (!library && choice == SpmBackendChoice::Auto) {
        return load_builtin(model_path, "the sentencepiece bridge is unavailable: " + library.error().message);
    }
    if (!library) {
        return Unexpected{library.error()};
    }
    auto model = SpmModel::load(model_path, library.value());
    if (!model) {
        return Unexpected{model.error()};
    }
    LOG_INFO("Gemma tokenizer %s: sentencepiece through the bridge %s", model_path.c_str(),
             library.value()->path().c_str());
    return LoadedModel(std::in_place_index<0>, std::move(model).value());
}

}  // namespace

const char* to_string(SpmBackend backend) noexcept {
    return backend == SpmBackend::Bridge ? "sentencepiece bridge" : "built-in BPE encoder";
}

bool builtin_spm_forced() noexcept {
    const char* env = std::getenv("KINORA_FORCE_BUILTIN_SPM");
    return env != nullptr && *env != '\0' && std::strcmp(env, "0") != 0;
}

Expected<GemmaTokenizerConfig> GemmaTokenizerConfig::from_json(const nlohmann::json& config) {
    GemmaTokenizerConfig out;
    if (!config.is_object()) {
        return make_error(ErrorCode::ModelLoadFailed, "tokenizer_config.json is not a JSON object");
    }
    if (config.contains("add_bos_token") && config["add_bos_token"].is_boolean()) {
        out.add_bos_token = config["add_bos_token"].get<bool>();
    }
    if (config.contains("add_eos_token") && config["add_eos_token"].is_boolean()) {
        out.add_eos_token = config["add_eos_token"].get<bool>();
    }
    read_token(config, "bos_token", out.bos_token);
    read_token(config, "eos_token", out.eos_token);
    read_token(config, "unk_token", out.unk_token);
    if (config.contains("pad_token") && config["pad_token"].is_null()) {
        out.pad_token.clear();
    } else {
        read_token(config, "pad_token", out.pad_token);
    }
    return out;
}

GemmaTokenizer::GemmaTokenizer(Model model, GemmaTokenizerConfig config)
    : model_(std::move(model)), config_(std::move(config)) {}

std::int32_t GemmaTokenizer::vocab_size() const {
    return std::visit([](const auto& m) { return m.vocab_size(); }, model_);
}

const std::string& GemmaTokenizer::model_path() const {
    return std::visit([](const auto& m) -> const std::string& { return m.path(); }, model_);
}

Expected<std::vector<std::int32_t>> GemmaTokenizer::model_encode(std::string_view text) const {
    return std::visit([&](const auto& m) { return m.encode(text); }, model_);
}

Expected<std::int32_t> GemmaTokenizer::token_id(const std::string& token, const char* role) const {
    for (const auto& added : config_.added_tokens) {
        if (added.content == token) {
            return added.id;
        }
    }
    const std::int32_t id = std::visit([&](const auto& m) { return m.piece_to_id(token); }, model_);
    const std::int32_t unk = std::visit([](const auto& m) { return m.unk_id(); }, model_);
    if (id < 0 || (id == unk && token != config_.unk_token)) {
        return make_error(ErrorCode::ModelLoadFailed,
                          "The tokenizer's " + std::string(role) + " token '" + token + "' is not in " + model_path());
    }
    return id;
}

Expected<GemmaTokenizer> GemmaTokenizer::load(const std::string& path, SpmBackendChoice backend) {
    std::error_code ec;
    if (!fs::exists(path, ec)) {
        return make_error(ErrorCode::ModelNotFound, "Missing tokenizer: " + path);
    }
    GemmaTokenizerConfig config;
    std::string model_path = path;
    if (fs::is_directory(path, ec)) {
        const fs::path dir(path);
        model_path = (dir / "tokenizer.model").string();
        if (!fs::exists(model_path, ec)) {
            return make_error(ErrorCode::ModelNotFound,
                              "The tokenizer folder " + path +
                                  " has no tokenizer.model (the sentencepiece model Kinora uses for Gemma). "
                                  "Download it from the model's repository (tokenizer/tokenizer.model).");
        }
        const fs::path config_path = dir / "tokenizer_config.json";
        if (fs::exists(config_path, ec)) {
            auto json = core::read_json_file(config_path.string());
            if (!json) {
                return Unexpected{json.error()};
            }
            auto parsed = GemmaTokenizerConfig::from_json(json.value());
            if (!parsed) {
                return make_error(ErrorCode::ModelLoadFailed, config_path.string() + ": " + parsed.error().message);
            }
            config = std::move(parsed).value();
        }
        const fs::path tokenizer_json = dir / "tokenizer.json";
        if (fs::exists(tokenizer_json, ec)) {
            auto json = core::read_json_file(tokenizer_json.string());
            if (!json) {
                return Unexpected{json.error()};
            }
            const auto& j = json.value();
            if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
                for (const auto& t : j["added_tokens"]) {
                    if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["id"].is_number_integer() ||
                        !t["content"].is_string()) {
                        return make_error(ErrorCode::ModelLoadFailed,
                                          tokenizer_json.string() + ": malformed entry in added_tokens");
                    }
                    GemmaTokenizerConfig::AddedToken added;
                    added.id = t["id"].get<std::int32_t>();
                    added.content = t["content"].get<std::string>();
                    added.lstrip = t.value("lstrip", false);
                    added.rstrip = t.value("rstrip", false);
                    if (!added.content.empty()) {
                        config.added_tokens.push_back(std::move(added));
                    }
                }
            }
        }
    } else if (!fs::is_regular_file(path, ec)) {
        return make_error(ErrorCode::ModelLoadFailed, path + " is neither a tokenizer folder nor a .model file");
    }
    auto model = load_model(model_path, backend);
    if (!model) {
        return Unexpected{model.error()};
    }
    GemmaTokenizer tok(std::move(model).value(), std::move(config));
    auto bos = tok.token_id(tok.config_.bos_token, "bos");
    auto eos = tok.token_id(tok.config_.eos_token, "eos");
    if (!bos) {
        return Unexpected{bos.error()};
    }
    if (!eos) {
        return Unexpected{eos.error()};
    }
    tok.bos_id_ = bos.value();
    tok.eos_id_ = eos.value();
    if (!tok.config_.pad_token.empty()) {
        auto pad = tok.token_id(tok.config_.pad_token, "pad");
        if (!pad) {
            return Unexpected{pad.error()};
        }
        tok.pad_id_ = pad.value();
    }
    return tok;
}

Expected<std::vector<std::int32_t>> GemmaTokenizer::encode_pieces(std::string_view text) const {
    std::vector<std::int32_t> ids;
    // Split on added tokens (leftmost match, longest at a position), as the Hugging Face tokenizer
    // does before its model runs; each piece of text in between is encoded on its own.
    std::size_t segment_start = 0;
    std::size_t pos = 0;
    auto flush = [&](std::size_t end) -> Expected<void> {
        if (end > segment_start) {
            auto part = model_encode(text.substr(segment_start, end - segment_start));
            if (!part) {
                return Unexpected{part.error()};
            }
            ids.insert(ids.end(), part->begin(), part->end());
        }
        return {};
    };
    while (pos < text.size() && !config_.added_tokens.empty()) {
        const GemmaTokenizerConfig::AddedToken* best = nullptr;
        for (const auto& added : config_.added_tokens) {
            if (text.compare(pos, added.content.size(), added.content) == 0 &&
                (best == nullptr || added.content.size() > best->content.size())) {
                best = &added;
            }
        }
        if (best == nullptr) {
            ++pos;
            continue;
        }
        std::size_t match_begin = pos;
        std::size_t match_end = pos + best->content.size();
        if (best->lstrip) {
            while (match_begin > segment_start && is_ascii_space(text[match_begin - 1])) {
                --match_begin;
            }
        }
        if (best->rstrip) {
            while (match_end < text.size() && is_ascii_space(text[match_end])) {
                ++match_end;
            }
        }
        if (auto flushed = flush(match_begin); !flushed) {
            return Unexpected{flushed.error()};
        }
        ids.push_back(best->id);
        segment_start = match_end;
        pos = match_end;
    }
    if (auto flushed = flush(text.size()); !flushed) {
        return Unexpected{flushed.error()};
    }
    return ids;
}

Expected<std::vector<std::int32_t>> GemmaTokenizer::encode(std::string_view text) const {
    auto pieces = encode_pieces(text);
    if (!pieces) {
        return pieces;
    }
    std::vector<std::int32_t> ids;
    ids.reserve(pieces->size() + 2);
    if (config_.add_bos_token) {
        ids.push_back(bos_id_);
    }
    ids.insert(ids.end(), pieces->begin(), pieces->end());
    if (config_.add_eos_token) {
        ids.push_back(eos_id_);
    }
    return ids;
}

Expected<TokenBatch> GemmaTokenizer::encode_padded(const std::vector<std::string>& texts, std::int64_t max_length,
                                                   Truncation truncation) const {
    const std::int64_t num_special = (config_.add_bos_token ? 1 : 0) + (config_.add_eos_token ? 1 : 0);
    if (max_length < std::max<std::int64_t>(1, num_special)) {
        return make_error(ErrorCode::InvalidRequest,
                          "max_length " + std::to_string(max_length) + " leaves no room for the text tokens");
    }
    if (pad_id_ < 0) {
        return make_error(ErrorCode::ModelLoadFailed, "The tokenizer " + model_path() + " has no pad token");
    }
    TokenBatch batch;
    batch.batch_size = static_cast<std::int64_t>(texts.size());
    batch.sequence_length = max_length;
    batch.input_ids.assign(static_cast<std::size_t>(batch.batch_size * max_length), pad_id_);
    batch.attention_mask.assign(batch.input_ids.size(), 0);
    for (std::size_t b = 0; b < texts.size(); ++b) {
        auto pieces = encode_pieces(texts[b]);
        if (!pieces) {
            return Unexpected{pieces.error()};
        }
        std::vector<std::int32_t> content = std::move(pieces).value();
        const std::int64_t room = max_length - num_special;
        if (static_cast<std::int64_t>(content.size()) > room) {
            if (truncation == Truncation::Disabled) {
                return make_error(ErrorCode::InvalidRequest, "Prompt " + std::to_string(b) + " is " +
                                                                 std::to_string(content.size() + num_special) +
                                                                 " tokens long, more than the " +
                                                                 std::to_string(max_length) + " allowed.");
            }
            // Hugging Face truncates the text before adding the special tokens, so <eos> survives.
            content.resize(static_cast<std::size_t>(room));
        }
        std::vector<std::int32_t> ids;
        if (config_.add_bos_token) {
            ids.push_back(bos_id_);
        }
        ids.insert(ids.end(), content.begin(), content.end());
        if (config_.add_eos_token) {
            ids.push_back(eos_id_);
        }
        for (std::size_t t = 0; t < ids.size(); ++t) {
            const auto index = b * static_cast<std::size_t>(max_length) + t;
            batch.input_ids[index] = ids[t];
            batch.attention_mask[index] = 1;
        }
    }
    return batch;
}

Expected<std::string> GemmaTokenizer::decode(const std::vector<std::int32_t>& ids) const {
    std::vector<std::int32_t> kept;
    kept.reserve(ids.size());
    for (std::int32_t id : ids) {
        if (id != pad_id_ && id != bos_id_ && id != eos_id_) {
            kept.push_back(id);
        }
    }
    return std::visit([&](const auto& m) { return m.decode(kept); }, model_);
}

}  // namespace engine::tokenizers
