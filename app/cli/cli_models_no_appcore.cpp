// Built without appcore (no Qt on this machine): the hub client is not available.
#include <cstdio>

#include "cli/cli_models.h"

namespace cli {

int run_models_command(int, char**, int) {
    std::fprintf(stderr,
                 "error: this kinora-cli was built without appcore (KINORA_BUILD_APPCORE=OFF), so it cannot download "
                 "models. Download them with a full build, or point --model at a folder you already have.\n");
    return 2;
}

}  // namespace cli
