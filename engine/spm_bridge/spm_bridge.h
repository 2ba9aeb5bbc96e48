// C ABI of the sentencepiece bridge module (libkinora_spm_bridge.so). The engine dlopen()s the module
// with RTLD_LOCAL | RTLD_DEEPBIND and resolves these symbols; nothing else crosses, so the protobuf
// that Debian's libsentencepiece bundles never meets the one LibTorch loads.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KINORA_SPM_BRIDGE_ABI 1

typedef struct kinora_spm kinora_spm;

/// ABI version of the module; the engine refuses a module whose version differs.
int kinora_spm_abi_version(void);
/// Loads a sentencepiece model file. On failure returns NULL and writes a message to err.
kinora_spm* kinora_spm_load(const char* path, char* err, size_t err_len);
/// Frees a loaded model (NULL is fine).
void kinora_spm_free(kinora_spm* model);
/// Encodes UTF-8 text (no BOS/EOS). Returns the number of ids; when that exceeds capacity only the
/// first `capacity` are written (call again with a larger buffer). Returns -1 on error (message in err).
long kinora_spm_encode(const kinora_spm* model, const char* text, size_t text_len, int32_t* ids, size_t capacity,
                       char* err, size_t err_len);
/// Decodes ids to UTF-8 text. Same size protocol as kinora_spm_encode (bytes, without a terminator).
long kinora_spm_decode(const kinora_spm* model, const int32_t* ids, size_t num_ids, char* text, size_t capacity,
                       char* err, size_t err_len);
/// Id of a piece, or the unknown id when absent.
int32_t kinora_spm_piece_to_id(const kinora_spm* model, const char* piece);
/// Vocabulary size and special ids (-1 when the model has none).
int32_t kinora_spm_vocab_size(const kinora_spm* model);
int32_t kinora_spm_bos_id(const kinora_spm* model);
int32_t kinora_spm_eos_id(const kinora_spm* model);
int32_t kinora_spm_pad_id(const kinora_spm* model);
int32_t kinora_spm_unk_id(const kinora_spm* model);

#ifdef __cplusplus
}
#endif
