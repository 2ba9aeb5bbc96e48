// Runs the real kinora-cli from a test: arguments are passed without a shell; stdout+stderr captured.
#pragma once

#include <string>
#include <vector>

namespace test_cli {

struct CliRun {
    int exit_code = -1;
    std::string output;  // stdout and stderr, interleaved
};

/// Path of the built kinora-cli (KINORA_TEST_BIN_DIR/kinora-cli); throws if missing.
std::string cli_path();
/// Runs kinora-cli with args and waits.
CliRun run_cli(const std::vector<std::string>& args);
/// Runs another program of this build (KINORA_TEST_BIN_DIR/<name>, e.g. kinora-bench) with args and waits.
CliRun run_program(const std::string& name, const std::vector<std::string>& args);
/// A fresh empty temporary folder.
std::string make_temp_dir(const std::string& tag);

}  // namespace test_cli
