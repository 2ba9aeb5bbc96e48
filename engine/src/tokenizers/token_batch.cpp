#include "tokenizers/token_batch.h"

namespace engine::tokenizers {

const char* to_string(Truncation truncation) noexcept {
    switch (truncation) {
        case Truncation::Disabled:
            return "disabled";
        case Truncation::Right:
            return "right";
    }
    return "disabled";
}

Expected<Truncation> truncation_from_string(const std::string& name) {
    if (name == "disabled") {
        return Truncation::Disabled;
    }
    if (name == "right") {
        return Truncation::Right;
    }
    return make_error(ErrorCode::InvalidRequest, "Unknown truncation '" + name + "' (expected disabled or right)");
}

std::vector<std::int64_t> TokenBatch::lengths() const {
    std::vector<std::int64_t> out(static_cast<std::size_t>(batch_size), 0);
    for (std::int64_t b = 0; b < batch_size; ++b) {
        for (std::int64_t t = 0; t < sequence_length; ++t) {
            out[static_cast<std::size_t>(b)] += attention_mask[static_cast<std::size_t>(b * sequence_length + t)];
        }
    }
    return out;
}

std::vector<std::int64_t> TokenBatch::row(std::int64_t b) const {
    const auto begin = input_ids.begin() + b * sequence_length;
    return std::vector<std::int64_t>(begin, begin + sequence_length);
}

}  // namespace engine::tokenizers
