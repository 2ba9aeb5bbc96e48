// Parameter lists as text: A1111's "parameters" chunk and a JSON object.
#include <cstdio>
#include <string>

#include "engine/media_io.h"

namespace engine {
namespace {

// Our keys → the labels A1111-compatible readers (Civitai, sd-prompt-reader, ...) look for.
const char* a1111_label(const std::string& key) {
    if (key == "steps") return "Steps";
    if (key == "sampler") return "Sampler";
    if (key == "guidance_scale") return "CFG scale";
    if (key == "seed") return "Seed";
    if (key == "size") return "Size";
    if (key == "model") return "Model";
    if (key == "eta") return "Eta";
    return nullptr;
}

std::string title_case(const std::string& key) {
    std::string out;
    bool up = true;
    for (char c : key) {
        if (c == '_') {
            out += ' ';
            up = true;
        } else {
            out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
            up = false;
        }
    }
    return out;
}

// A1111 values may not contain the ", " separator unquoted.
std::string a1111_value(const std::string& v) {
    if (v.find(',') == std::string::npos && v.find('\n') == std::string::npos && v.find('"') == std::string::npos) {
        return v;
    }
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') out += '\\';
        out += c == '\n' ? ' ' : c;
    }
    return out + "\"";
}

void append_json_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

}  // namespace

std::string format_a1111_parameters(const ParameterList& parameters) {
    std::string prompt, negative, rest;
    for (const auto& [key, value] : parameters) {
        if (key == "prompt") {
            prompt = value;
        } else if (key == "negative_prompt") {
            negative = value;
        } else {
            const char* label = a1111_label(key);
            if (!rest.empty()) rest += ", ";
            rest += (label ? std::string(label) : title_case(key)) + ": " + a1111_value(value);
        }
    }
    std::string out = prompt;
    if (!negative.empty()) out += "\nNegative prompt: " + negative;
    if (!rest.empty()) out += "\n" + rest;
    return out;
}

std::string format_parameters_json(const ParameterList& parameters) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : parameters) {
        if (!first) out += ", ";
        first = false;
        append_json_string(out, key);
        out += ": ";
        append_json_string(out, value);
    }
    return out + "}";
}

}  // namespace engine
