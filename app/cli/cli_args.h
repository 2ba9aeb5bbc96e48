// A small, strict command-line parser for kinora-cli: --name value / --name=value / --flag,
// every option declared with its help text, unknown options are errors.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cli {

struct OptionSpec {
    std::string name;       // without the leading dashes
    std::string value_name; // empty: a flag without value
    std::string help;
};

class ParsedArgs {
public:
    bool has(const std::string& name) const { return values_.count(name) != 0; }
    std::string get(const std::string& name, const std::string& fallback = "") const;
    /// Parses an integer option; throws std::invalid_argument with a readable message.
    std::optional<long long> get_int(const std::string& name) const;
    std::optional<double> get_double(const std::string& name) const;
    const std::vector<std::string>& positional() const { return positional_; }

private:
    friend class Parser;
    std::map<std::string, std::string> values_;
    std::vector<std::string> positional_;
};

class Parser {
public:
    Parser(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}
    Parser& option(const std::string& name, const std::string& value_name, const std::string& help);
    Parser& flag(const std::string& name, const std::string& help);
    /// Parses argv[begin..]; throws std::invalid_argument on unknown options or missing values.
    ParsedArgs parse(int argc, char** argv, int begin) const;
    std::string help() const;

private:
    const OptionSpec* find(const std::string& name) const;
    std::string command_;
    std::string summary_;
    std::vector<OptionSpec> specs_;
};

}  // namespace cli
