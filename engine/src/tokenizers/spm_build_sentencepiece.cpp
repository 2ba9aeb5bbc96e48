// Built when KINORA_WITH_SENTENCEPIECE=ON (file-name variant rule, engine/CMakeLists.txt).
#include "tokenizers/spm_library.h"

namespace engine::tokenizers {

bool built_with_sentencepiece() noexcept {
    return true;
}

}  // namespace engine::tokenizers
