// Ref: huggingface/transformers src/transformers/models/gemma/tokenization_gemma_fast.py@15ea02a2 GemmaTokenizerFast
// Ref: google/sentencepiece src/sentencepiece_processor.h@27344904 SentencePieceProcessor
//
// The Gemma tokenizer as Sana's pipelines call it:
//     tokenizer(prompt, padding="max_length", max_length=N, truncation=True, add_special_tokens=True)
// i.e. sentencepiece pieces (BPE with byte fallback, no dummy prefix, whitespace kept) with <bos>
// prepended (no <eos>), padded on the right with <pad>, and an attention mask. Lower-casing and the
// complex-human-instruction prefix are the pipeline's business, not the tokenizer's.
//
// Sentencepiece runs in the bridge module (spm_library.h) when it loads; without it (builds with
// KINORA_WITH_SENTENCEPIECE=OFF, e.g. the GPU build) the built-in BPE encoder (spm_bpe_model.h) runs
// instead, with the same ids. KINORA_FORCE_BUILTIN_SPM=1 in the environment, or SpmBackendChoice::Builtin,
// forces the built-in encoder (tests, comparisons). Like the Hugging Face tokenizer, the
// added tokens listed in tokenizer.json (e.g. "<eos>", "<start_of_turn>") are recognised as whole
// tokens when they occur literally in the text; the text between them goes to sentencepiece.
//
//     auto tok = engine::tokenizers::GemmaTokenizer::load("Sana_1600M_1024px_diffusers/tokenizer");
//     if (!tok) { report(tok.error().message); return; }
//     auto n_chi = tok->encode(chi_prompt)->size();                  // includes <bos>
//     auto batch = tok->encode_padded({prompt}, 300, Truncation::Right);   // ids + mask, [1, 300]
//
// Thread safety: a loaded tokenizer is immutable; const calls from several threads are fine.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/error.h"
#include "tokenizers/spm_bpe_model.h"
#include "tokenizers/spm_library.h"
#include "tokenizers/token_batch.h"

namespace engine::tokenizers {

/// What tokenizer_config.json / tokenizer.json add to the sentencepiece model.
struct GemmaTokenizerConfig {
    bool add_bos_token = true;
    bool add_eos_token = false;
    std::string bos_token = "<bos>";
    std::string eos_token = "<eos>";
    std::string pad_token = "<pad>";
    std::string unk_token = "<unk>";

    struct AddedToken {
        std::int32_t id = 0;
        std::string content;
        bool lstrip = false;  // the match also swallows the whitespace on its left
        bool rstrip = false;  // ... and on its right
    };
    std::vector<AddedToken> added_tokens;  // from tokenizer.json

    /// Reads the keys above from a tokenizer_config.json object (unknown keys are ignored).
    static Expected<GemmaTokenizerConfig> from_json(const nlohmann::json& config);
};

/// Which sentencepiece implementation encodes.
enum class SpmBackend {
    Bridge,   // libsentencepiece through the bridge module
    Builtin,  // SpmBpeModel (BPE models only)
};
enum class SpmBackendChoice {
    Auto,     // the bridge when it loads, else the built-in encoder; KINORA_FORCE_BUILTIN_SPM=1 means Builtin
    Bridge,   // the bridge or an error
    Builtin,  // the built-in encoder
};
const char* to_string(SpmBackend backend) noexcept;

/// True when the environment asks for the built-in encoder (KINORA_FORCE_BUILTIN_SPM set, not "" or "0").
bool builtin_spm_forced() noexcept;

class GemmaTokenizer {
public:
    /// Loads from a diffusers/transformers tokenizer folder (tokenizer.model, plus tokenizer_config.json
    /// and tokenizer.json when present) or from a sentencepiece .model file (Gemma defaults). Logs which
    /// sentencepiece backend it uses.
    static Expected<GemmaTokenizer> load(const std::string& path, SpmBackendChoice backend = SpmBackendChoice::Auto);

    /// Token ids with the special tokens the config asks for (<bos> for Gemma).
    Expected<std::vector<std::int32_t>> encode(std::string_view text) const;
    /// Token ids without special tokens.
    Expected<std::vector<std::int32_t>> encode_pieces(std::string_view text) const;
    /// Tokenises each text, pads to max_length with the pad id on the right (always: Sana's pipelines
    /// force padding_side="right" whatever tokenizer_config.json says) and builds the attention mask.
    /// Longer texts are cut (Right: the special tokens survive, as in Hugging Face) or rejected.
    Expected<TokenBatch> encode_padded(const std::vector<std::string>& texts, std::int64_t max_length,
                                       Truncation truncation) const;
    /// Text of ids; padding, <bos> and <eos> are dropped.
    Expected<std::string> decode(const std::vector<std::int32_t>& ids) const;

    std::int32_t bos_id() const { return bos_id_; }
    std::int32_t eos_id() const { return eos_id_; }
    /// -1 when the tokenizer has no pad token (encode_padded then fails).
    std::int32_t pad_id() const { return pad_id_; }
    std::int32_t vocab_size() const;
    const GemmaTokenizerConfig& config() const { return config_; }
    SpmBackend backend() const { return model_.index() == 0 ? SpmBackend::Bridge : SpmBackend::Builtin; }

private:
    using Model = std::variant<SpmModel, SpmBpeModel>;
    GemmaTokenizer(Model model, GemmaTokenizerConfig config);
    Expected<std::int32_t> token_id(const std::string& token, const char* role) const;
    Expected<std::vector<std::int32_t>> model_encode(std::string_view text) const;
    const std::string& model_path() const;

    Model model_;
    GemmaTokenizerConfig config_;
    std::int32_t bos_id_ = -1;
    std::int32_t eos_id_ = -1;
    std::int32_t pad_id_ = -1;
};

}  // namespace engine::tokenizers
