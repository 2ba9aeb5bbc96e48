// Ref: mlfoundations/open_clip src/open_clip/tokenizer.py@v2.22.0 (1f0b5bb6) SimpleTokenizer, tokenize
// Ref: huggingface/transformers src/transformers/models/clip/tokenization_clip.py CLIPTokenizer (vocab files)
//
// open_clip's tokenizer as VideoCrafter / DynamiCrafter use it (FrozenOpenCLIPEmbedder calls
// open_clip.tokenize(text), context 77):
//   1. clean: ftfy + html.unescape x2 + whitespace collapse + strip + lower-case (clip_text_clean.h);
//   2. split with  <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//      (case-insensitive; whitespace matches nothing and is dropped);
//   3. each piece: UTF-8 bytes -> the byte-to-unicode alphabet, last symbol + "</w>", byte-level BPE
//      (repeatedly merge every occurrence of the lowest-ranked adjacent pair);
//   4. [SOT=49406] + ids + [EOT=49407], cut to 77 keeping EOT last, zero padding.
//
// Both vocabulary forms are first-class and give the same ids:
//   - open_clip's bpe_simple_vocab_16e6.txt.gz (merges; the vocabulary is derived from them; needs zlib),
//   - Hugging Face's vocab.json + merges.txt (e.g. laion/CLIP-ViT-H-14-laion2B-s32B-b79K), which is
//     what the model manager downloads, since the real VideoCrafter checkpoints ship no vocabulary.
//
//     auto tok = engine::tokenizers::CLIPTokenizer::load("models/clip-vit-h-14");   // folder with either form
//     auto batch = tok->tokenize({"a photo of a cat"});   // [1, 77] ids, mask
//
// Thread safety: a loaded tokenizer is immutable; const calls from several threads are fine.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/error.h"
#include "tokenizers/token_batch.h"

namespace engine::tokenizers {

class CLIPTokenizer {
public:
    static constexpr std::int64_t kContextLength = 77;

    /// From a folder holding vocab.json + merges.txt (preferred) or bpe_simple_vocab_16e6.txt.gz, or
    /// from the path of a .gz vocabulary.
    static Expected<CLIPTokenizer> load(const std::string& path);
    /// open_clip's gzip-compressed merges file.
    static Expected<CLIPTokenizer> load_open_clip_vocab(const std::string& bpe_gz_path);
    /// Hugging Face's vocab.json + merges.txt.
    static Expected<CLIPTokenizer> load_hf_vocab(const std::string& vocab_json_path, const std::string& merges_path);

    /// BPE ids of the cleaned text, without SOT/EOT. InvalidRequest for text that is not UTF-8.
    Expected<std::vector<std::int32_t>> encode(std::string_view text) const;
    /// open_clip.tokenize: [B, context_length] with SOT/EOT, zero padding, cut keeping EOT last. The
    /// mask is 1 over SOT..EOT (open_clip itself returns no mask).
    Expected<TokenBatch> tokenize(const std::vector<std::string>& texts,
                                  std::int64_t context_length = kContextLength) const;
    /// Text of ids ("</w>" becomes a space), as open_clip's decode.
    std::string decode(const std::vector<std::int32_t>& ids) const;

    std::int32_t sot_id() const { return sot_id_; }
    std::int32_t eot_id() const { return eot_id_; }
    std::int32_t vocab_size() const { return static_cast<std::int32_t>(decoder_.size()); }
    std::size_t num_merges() const { return ranks_.size(); }
    /// Id of a vocabulary entry (byte-level form, e.g. "cat</w>"), or -1.
    std::int32_t token_to_id(const std::string& token) const;

private:
    CLIPTokenizer();
    static Expected<CLIPTokenizer> build(std::unordered_map<std::string, std::int32_t> encoder,
                                         const std::vector<std::pair<std::string, std::string>>& merges,
                                         const std::string& what);
    Expected<void> bpe(const std::string& token, std::vector<std::int32_t>& out) const;

    std::array<std::string, 256> byte_encoder_;  // byte -> its symbol (UTF-8)
    std::unordered_map<std::string, std::uint8_t> byte_decoder_;
    std::unordered_map<std::string, std::int32_t> encoder_;
    std::vector<std::string> decoder_;                     // id -> token
    std::unordered_map<std::string, std::int32_t> ranks_;  // "first second" -> merge rank
    std::int32_t sot_id_ = -1;
    std::int32_t eot_id_ = -1;
};

}  // namespace engine::tokenizers
