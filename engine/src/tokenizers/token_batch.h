// The result of tokenising a batch of prompts to one fixed length, laid out for a [B, L] int64 tensor
// (row-major), e.g. torch::from_blob(batch.input_ids.data(), {batch.batch_size, batch.sequence_length},
// torch::kLong).clone().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"

namespace engine::tokenizers {

/// What encode_padded() does with a prompt longer than the requested length.
enum class Truncation {
    Disabled = 0,  // fail with InvalidRequest (a batch tensor cannot hold it)
    Right,         // keep the first max_length tokens (Hugging Face's truncation=True, truncation_side="right")
};

/// "disabled", "right".
const char* to_string(Truncation truncation) noexcept;
/// Parses to_string()'s names.
Expected<Truncation> truncation_from_string(const std::string& name);

struct TokenBatch {
    std::int64_t batch_size = 0;
    std::int64_t sequence_length = 0;
    std::vector<std::int64_t> input_ids;       // [B, L]
    std::vector<std::int64_t> attention_mask;  // [B, L], 1 for tokens, 0 for padding

    /// Number of non-padding tokens of each row (the row sums of attention_mask).
    std::vector<std::int64_t> lengths() const;
    /// Row b of input_ids.
    std::vector<std::int64_t> row(std::int64_t b) const;
};

}  // namespace engine::tokenizers
