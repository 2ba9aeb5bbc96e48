// `kinora-cli models ...`: list / pull / rm models through appcore's hub client.
#pragma once

namespace cli {

/// Runs `models <args>`; returns the process exit code.
int run_models_command(int argc, char** argv, int begin);

}  // namespace cli
