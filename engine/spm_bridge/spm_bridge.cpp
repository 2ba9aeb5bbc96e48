// The only translation unit that touches libsentencepiece. Exceptions never cross the C ABI.
#include "spm_bridge.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <string>
#include <vector>

struct kinora_spm {
    sentencepiece::SentencePieceProcessor processor;
};

namespace {

void write_error(char* err, size_t err_len, const std::string& message) {
    if (err == nullptr || err_len == 0) {
        return;
    }
    const size_t n = message.size() < err_len - 1 ? message.size() : err_len - 1;
    std::memcpy(err, message.data(), n);
    err[n] = '\0';
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int kinora_spm_abi_version(void) { return KINORA_SPM_BRIDGE_ABI; }

__attribute__((visibility("default"))) kinora_spm* kinora_spm_load(const char* path, char* err, size_t err_len) {
    try {
        auto* model = new kinora_spm();
        const auto status = model->processor.Load(path);
        if (!status.ok()) {
            write_error(err, err_len, status.ToString());
            delete model;
            return nullptr;
        }
        return model;
    } catch (const std::exception& e) {
        write_error(err, err_len, e.what());
    } catch (...) {
        write_error(err, err_len, "unknown error in sentencepiece");
    }
    return nullptr;
}

__attribute__((visibility("default"))) void kinora_spm_free(kinora_spm* model) { delete model; }

__attribute__((visibility("default"))) long kinora_spm_encode(const kinora_spm* model, const char* text,
                                                              size_t text_len, int32_t* ids, size_t capacity,
                                                              char* err, size_t err_len) {
    try {
        std::vector<int> out;
        const auto status = model->processor.Encode(std::string(text, text_len), &out);
        if (!status.ok()) {
            write_error(err, err_len, status.ToString());
            return -1;
        }
        for (size_t i = 0; i < out.size() && i < capacity; ++i) {
            ids[i] = static_cast<int32_t>(out[i]);
        }
        return static_cast<long>(out.size());
    } catch (const std::exception& e) {
        write_error(err, err_len, e.what());
    } catch (...) {
        write_error(err, err_len, "unknown error in sentencepiece");
    }
    return -1;
}

__attribute__((visibility("default"))) long kinora_spm_decode(const kinora_spm* model, const int32_t* ids,
                                                              size_t num_ids, char* text, size_t capacity,
                                                              char* err, size_t err_len) {
    try {
        std::vector<int> in(ids, ids + num_ids);
        std::string out;
        const auto status = model->processor.Decode(in, &out);
        if (!status.ok()) {
            write_error(err, err_len, status.ToString());
            return -1;
        }
        std::memcpy(text, out.data(), out.size() < capacity ? out.size() : capacity);
        return static_cast<long>(out.size());
    } catch (const std::exception& e) {
        write_error(err, err_len, e.what());
    } catch (...) {
        write_error(err, err_len, "unknown error in sentencepiece");
    }
    return -1;
}

__attribute__((visibility("default"))) int32_t kinora_spm_piece_to_id(const kinora_spm* model, const char* piece) {
    return static_cast<int32_t>(model->processor.PieceToId(piece));
}
__attribute__((visibility("default"))) int32_t kinora_spm_vocab_size(const kinora_spm* model) {
    return static_cast<int32_t>(model->processor.GetPieceSize());
}
__attribute__((visibility("default"))) int32_t kinora_spm_bos_id(const kinora_spm* model) {
    return static_cast<int32_t>(model->processor.bos_id());
}
__attribute__((visibility("default"))) int32_t kinora_spm_eos_id(const kinora_spm* model) {
    return static_cast<int32_t>(model->processor.eos_id());
}
__attribute__((visibility("default"))) int32_t kinora_spm_pad_id(const kinora_spm* model) {
    return static_cast<int32_t>(model->processor.pad_id());
}
__attribute__((visibility("default"))) int32_t kinora_spm_unk_id(const kinora_spm* model) {
    return static_cast<int32_t>(model->processor.unk_id());
}

}  // extern "C"
