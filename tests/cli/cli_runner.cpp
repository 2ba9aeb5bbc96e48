#include "cli_runner.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace test_cli {

namespace {

std::string program_path(const std::string& name) {
    const char* bin = std::getenv("KINORA_TEST_BIN_DIR");
    if (bin == nullptr) throw std::runtime_error("KINORA_TEST_BIN_DIR is not set (run through ctest)");
    std::string p = std::string(bin) + "/" + name;
    if (!std::filesystem::exists(p)) throw std::runtime_error(p + " does not exist: build " + name);
    return p;
}

}  // namespace

std::string cli_path() { return program_path("kinora-cli"); }

CliRun run_cli(const std::vector<std::string>& args) { return run_program("kinora-cli", args); }

CliRun run_program(const std::string& name, const std::vector<std::string>& args) {
    const std::string exe = program_path(name);
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(exe.c_str()));
        for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        execv(exe.c_str(), argv.data());
        _exit(127);
    }
    close(fds[1]);
    CliRun run;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) run.output.append(buf, static_cast<size_t>(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return run;
}

std::string make_temp_dir(const std::string& tag) {
    std::string templ = (std::filesystem::temp_directory_path() / ("kinora-" + tag + "-XXXXXX")).string();
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    return templ;
}

}  // namespace test_cli
