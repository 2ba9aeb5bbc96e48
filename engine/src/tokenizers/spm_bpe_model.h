// Ref: google/sentencepiece src/bpe_model.cc@v0.1.97 bpe::Model::SampleEncode
// Ref: google/sentencepiece src/normalizer.cc@v0.1.97 Normalizer::Normalize, PrefixMatcher
// Ref: google/sentencepiece src/model_interface.cc@v0.1.97 ModelInterface::InitializePieces
// Ref: google/sentencepiece src/sentencepiece_processor.cc@v0.1.97 Encode, PopulateSentencePieceText, Decode
// Ref: google/sentencepiece src/sentencepiece_model.proto ModelProto
//
// Kinora's own sentencepiece BPE encoder: the fallback for builds and machines without the sentencepiece
// bridge (spm_library.h), e.g. the GPU build (pip torch, no libsentencepiece). The bridge stays the primary
// path; this reproduces what sentencepiece does for BPE models like Gemma's, id for id:
//   - a minimal protobuf wire-format reader for the .model file (ModelProto: pieces, trainer_spec,
//     normalizer_spec, denormalizer_spec, self_test_data);
//   - the normaliser without a precompiled character map (Gemma's "identity"): user-defined symbols kept
//     whole, malformed UTF-8 bytes become U+FFFD, the add_dummy_prefix / remove_extra_whitespaces /
//     escape_whitespaces / treat_whitespace_as_suffix flags;
//   - BPE: characters (or user-defined symbols, which never merge) are merged pair by pair, the pair whose
//     merged piece has the highest score first, the leftmost on ties; UNUSED pieces are split again;
//   - unknown pieces become <0xXX> byte pieces with byte_fallback, else one <unk> per run;
//   - decoding as sentencepiece does it (▁ -> space, byte pieces -> UTF-8 with U+FFFD for bad bytes).
// Models it does not implement are refused with UnsupportedModel: non-BPE models, normalisers with a
// precompiled character map (nmt_nfkc, ...), denormalisers.
//
//     auto model = engine::tokenizers::SpmBpeModel::load("tokenizer/tokenizer.model");
//     if (!model) { report(model.error().message); return; }
//     auto ids = model->encode("a photo of a cat");   // Expected<std::vector<int32_t>>, no BOS/EOS
//
// Thread safety: a loaded model is immutable; encode/decode from several threads are fine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"

namespace engine::tokenizers {

/// The parts of sentencepiece's ModelProto the BPE encoder needs, with proto2 defaults.
struct SpmModelProto {
    enum class PieceType : int { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };
    enum class ModelType : int { Unigram = 1, Bpe = 2, Word = 3, Char = 4 };

    struct Piece {
        std::string piece;
        float score = 0.0f;
        PieceType type = PieceType::Normal;
    };
    struct Trainer {
        int model_type = 1;  // ModelType; kept as read (unknown values stay visible for messages)
        bool byte_fallback = false;
        bool treat_whitespace_as_suffix = false;
        std::string unk_piece = "<unk>";
        std::string bos_piece = "<s>";
        std::string eos_piece = "</s>";
        std::string pad_piece = "<pad>";
        bool has_unk_surface = false;
        std::string unk_surface = " \xE2\x81\x87 ";
    };
    struct Normalizer {
        bool present = false;
        std::string name;
        std::string precompiled_charsmap;
        bool add_dummy_prefix = true;
        bool remove_extra_whitespaces = true;
        bool escape_whitespaces = true;
    };
    struct SelfTestSample {
        std::string input;
        std::string expected;
    };

    std::vector<Piece> pieces;
    Trainer trainer;
    Normalizer normalizer;
    Normalizer denormalizer;
    std::vector<SelfTestSample> self_test;

    /// Parses a serialized ModelProto. The message says what is malformed (no file name).
    static Expected<SpmModelProto> parse(std::string_view bytes);
};

class SpmBpeModel {
public:
    /// Reads a sentencepiece .model file. ModelNotFound when missing, ModelLoadFailed when it is not a valid
    /// sentencepiece model, UnsupportedModel when it is one this encoder does not implement (see above).
    static Expected<SpmBpeModel> load(const std::string& path);
    /// Same from the file's bytes; `path` is only used in messages.
    static Expected<SpmBpeModel> from_serialized(std::string_view bytes, const std::string& path);

    SpmBpeModel(SpmBpeModel&&) noexcept;
    SpmBpeModel& operator=(SpmBpeModel&&) noexcept;
    SpmBpeModel(const SpmBpeModel&) = delete;
    SpmBpeModel& operator=(const SpmBpeModel&) = delete;
    ~SpmBpeModel();

    /// Encodes UTF-8 text (any bytes) to piece ids (no BOS/EOS), as SentencePieceProcessor::Encode.
    Expected<std::vector<std::int32_t>> encode(std::string_view text) const;
    /// The pieces sentencepiece reports for the text (byte pieces as "<0xXX>", a run of unknown
    /// characters as one piece when there is no byte fallback).
    Expected<std::vector<std::string>> encode_as_pieces(std::string_view text) const;
    /// Decodes ids to UTF-8 text, as SentencePieceProcessor::Decode.
    Expected<std::string> decode(const std::vector<std::int32_t>& ids) const;
    /// Id of a piece, or unk_id() when the model has no such piece.
    std::int32_t piece_to_id(std::string_view piece) const;
    std::int32_t vocab_size() const;
    /// Special ids as sentencepiece reports them (the trainer spec's pieces); -1 when the model has none.
    std::int32_t bos_id() const;
    std::int32_t eos_id() const;
    std::int32_t pad_id() const;
    std::int32_t unk_id() const;
    const std::string& path() const;

private:
    struct Impl;
    explicit SpmBpeModel(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace engine::tokenizers
