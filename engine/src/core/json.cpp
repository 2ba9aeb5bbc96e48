#include "core/json.h"

#include <fstream>
#include <sstream>

namespace engine::core {
namespace {

// Replaces the bare tokens NaN / Infinity / -Infinity outside strings.
std::string normalize_python_json(const std::string& in) {
    std::string out;
    out.reserve(in.size());
    bool in_string = false;
    for (size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (in_string) {
            out += c;
            if (c == '\\' && i + 1 < in.size()) {
                out += in[++i];
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
            out += c;
        } else if (in.compare(i, 9, "-Infinity") == 0) {
            out += "-1.0e308";
            i += 8;
        } else if (in.compare(i, 8, "Infinity") == 0) {
            out += "1.0e308";
            i += 7;
        } else if (in.compare(i, 3, "NaN") == 0) {
            out += "null";
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

Expected<nlohmann::json> parse_json_lenient(const std::string& text, const std::string& what) {
    try {
        return nlohmann::json::parse(normalize_python_json(text));
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::ModelLoadFailed, what + " is not valid JSON: " + e.what());
    }
}

Expected<nlohmann::json> read_json_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        return make_error(ErrorCode::ModelNotFound, "Missing file: " + path);
    }
    std::stringstream ss;
    ss << f.rdbuf();
    return parse_json_lenient(ss.str(), path);
}

}  // namespace engine::core
