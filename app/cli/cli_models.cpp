// `kinora-cli models`: the model manager on the command line (issue #8 fills in the hub client).
#include <cstdio>
#include <string>

#include "cli/cli_models.h"

namespace cli {

int run_models_command(int argc, char** argv, int begin) {
    const std::string sub = begin < argc ? argv[begin] : "";
    std::fprintf(stderr, "error: 'models %s' is not available yet in this version of kinora-cli.\n", sub.c_str());
    return 2;
}

}  // namespace cli
