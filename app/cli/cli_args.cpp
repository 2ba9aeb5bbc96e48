#include "cli/cli_args.h"

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace cli {

std::string ParsedArgs::get(const std::string& name, const std::string& fallback) const {
    auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
}

std::optional<long long> ParsedArgs::get_int(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
        return std::nullopt;
    }
    const std::string& s = it->second;
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || errno == ERANGE) {
        throw std::invalid_argument("--" + name + " expects a whole number, got '" + s + "'");
    }
    return v;
}

std::optional<double> ParsedArgs::get_double(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) {
        return std::nullopt;
    }
    const std::string& s = it->second;
    char* end = nullptr;
    errno = 0;
    double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0' || errno == ERANGE) {
        throw std::invalid_argument("--" + name + " expects a number, got '" + s + "'");
    }
    return v;
}

Parser& Parser::option(const std::string& name, const std::string& value_name, const std::string& help) {
    specs_.push_back(OptionSpec{name, value_name, help});
    return *this;
}

Parser& Parser::flag(const std::string& name, const std::string& help) {
    specs_.push_back(OptionSpec{name, "", help});
    return *this;
}

const OptionSpec* Parser::find(const std::string& name) const {
    for (const auto& s : specs_) {
        if (s.name == name) {
            return &s;
        }
    }
    return nullptr;
}

ParsedArgs Parser::parse(int argc, char** argv, int begin) const {
    ParsedArgs out;
    for (int i = begin; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
            std::string name = arg.substr(2);
            std::optional<std::string> inline_value;
            if (auto eq = name.find('='); eq != std::string::npos) {
                inline_value = name.substr(eq + 1);
                name = name.substr(0, eq);
            }
            const OptionSpec* spec = find(name);
            if (spec == nullptr) {
                throw std::invalid_argument("unknown option --" + name + " for '" + command_ + "' (see --help)");
            }
            if (spec->value_name.empty()) {
                if (inline_value) {
                    throw std::invalid_argument("--" + name + " takes no value");
                }
                out.values_[name] = "1";
            } else if (inline_value) {
                out.values_[name] = *inline_value;
            } else {
                if (i + 1 >= argc) {
                    throw std::invalid_argument("--" + name + " needs a value (" + spec->value_name + ")");
                }
                out.values_[name] = argv[++i];
            }
        } else {
            out.positional_.push_back(arg);
        }
    }
    return out;
}

std::string Parser::help() const {
    std::ostringstream os;
    os << "usage: kinora-cli " << command_ << " [options]\n" << summary_ << "\n\noptions:\n";
    for (const auto& s : specs_) {
        std::string left = "  --" + s.name + (s.value_name.empty() ? "" : " " + s.value_name);
        os << left;
        if (left.size() < 28) {
            os << std::string(28 - left.size(), ' ');
        } else {
            os << "\n" << std::string(28, ' ');
        }
        os << s.help << "\n";
    }
    return os.str();
}

}  // namespace cli
