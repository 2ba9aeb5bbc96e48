// Typed reads of config keys (YAML params turned JSON, open_clip model configs) with messages that name the config
// and the key. Failures throw core::EngineError; a from_json catches it and returns it as an Expected.
//
//     JsonConfigReader r(json, "Resampler config");
//     c.dim = r.positive_int("dim", 1024);            // absent or null -> 1024
//     c.video_length = r.optional_positive_int("video_length");   // null / absent -> nullopt
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include "core/engine_error.h"

namespace engine::models {

class JsonConfigReader {
public:
    /// How integers are read: YAML-born configs write 16.0 for 16 (accepted); diffusers' config.json files are
    /// written by Python's json with real integers, where a float means something is off (Strict refuses it).
    enum class Integers { AcceptIntegralFloats, Strict };

    JsonConfigReader(const nlohmann::json& json, std::string what,
                     Integers integers = Integers::AcceptIntegralFloats)
        : json_(json), what_(std::move(what)), integers_(integers) {
        if (!json_.is_object()) {
            fail(ErrorCode::ModelLoadFailed, "expected a JSON object, got " + json_.dump());
        }
    }

    [[noreturn]] void fail(ErrorCode code, const std::string& message) const {
        throw core::EngineError(code, what_ + ": " + message);
    }

    /// The value of key, or nullptr when absent or null.
    const nlohmann::json* find(const char* key) const {
        auto it = json_.find(key);
        return (it == json_.end() || it->is_null()) ? nullptr : &*it;
    }
    bool has(const char* key) const { return find(key) != nullptr; }
    /// True when key is present with the value null (find() treats that as absent).
    bool is_null(const char* key) const {
        auto it = json_.find(key);
        return it != json_.end() && it->is_null();
    }

    /// UnsupportedModel naming the first key that is neither in `known` nor metadata (a leading '_': _class_name,
    /// _diffusers_version, ...): an unknown key may change the computation. `why` ends the message.
    void refuse_unknown_keys(std::initializer_list<const char*> known, const std::string& why) const {
        for (const auto& item : json_.items()) {
            const std::string& key = item.key();
            if (!key.empty() && key[0] == '_') {
                continue;
            }
            bool listed = false;
            for (const char* k : known) {
                listed = listed || key == k;
            }
            if (!listed) {
                fail(ErrorCode::UnsupportedModel, "unknown key \"" + key + "\" (= " + item.value().dump() + "): " + why);
            }
        }
    }

    /// An integer (integral floats such as 16.0 are accepted); nullopt when absent or null.
    std::optional<std::int64_t> optional_int(const char* key) const {
        const nlohmann::json* v = find(key);
        if (v == nullptr) {
            return std::nullopt;
        }
        if (v->is_number_integer()) {
            return v->get<std::int64_t>();
        }
        if (v->is_number_float() && integers_ == Integers::AcceptIntegralFloats) {
            const double d = v->get<double>();
            if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) {
                return static_cast<std::int64_t>(d);
            }
        }
        fail(ErrorCode::ModelLoadFailed, std::string("key \"") + key + "\" must be an integer, got " + v->dump());
    }
    std::optional<std::int64_t> optional_positive_int(const char* key) const {
        const auto v = optional_int(key);
        if (v && *v <= 0) {
            fail(ErrorCode::ModelLoadFailed,
                 std::string("key \"") + key + "\" must be positive, got " + std::to_string(*v));
        }
        return v;
    }
    /// A positive integer; `fallback` when absent or null (nullopt: the key is required).
    std::int64_t positive_int(const char* key, std::optional<std::int64_t> fallback) const {
        const auto v = optional_positive_int(key);
        if (v) {
            return *v;
        }
        if (!fallback) {
            fail(ErrorCode::ModelLoadFailed, std::string("missing required key \"") + key + "\"");
        }
        return *fallback;
    }
    /// A finite number; nullopt when absent or null.
    std::optional<double> optional_number(const char* key) const {
        const nlohmann::json* v = find(key);
        if (v == nullptr) {
            return std::nullopt;
        }
        if (!v->is_number() || !std::isfinite(v->get<double>())) {
            fail(ErrorCode::ModelLoadFailed, std::string("key \"") + key + "\" must be a number, got " + v->dump());
        }
        return v->get<double>();
    }
    /// A finite number; `fallback` when absent or null.
    double number(const char* key, double fallback) const { return optional_number(key).value_or(fallback); }
    /// true / false; `fallback` when absent or null.
    bool flag(const char* key, bool fallback) const {
        const nlohmann::json* v = find(key);
        if (v == nullptr) {
            return fallback;
        }
        if (!v->is_boolean()) {
            fail(ErrorCode::ModelLoadFailed,
                 std::string("key \"") + key + "\" must be true or false, got " + v->dump());
        }
        return v->get<bool>();
    }
    /// A string; `fallback` when absent or null.
    std::string string(const char* key, const std::string& fallback) const {
        const nlohmann::json* v = find(key);
        if (v == nullptr) {
            return fallback;
        }
        if (!v->is_string()) {
            fail(ErrorCode::ModelLoadFailed, std::string("key \"") + key + "\" must be a string, got " + v->dump());
        }
        return v->get<std::string>();
    }

    /// UnsupportedModel unless key is absent, null, or equal to `allowed` (a key whose other values change the math
    /// in a way this port does not implement). `why` says what the other values would mean.
    void require_default(const char* key, const nlohmann::json& allowed, const std::string& why) const {
        const nlohmann::json* v = find(key);
        if (v != nullptr && *v != allowed) {
            fail(ErrorCode::UnsupportedModel,
                 std::string("key \"") + key + "\" = " + v->dump() + " is not supported (" + why + ")");
        }
    }

private:
    const nlohmann::json& json_;
    std::string what_;
    Integers integers_;
};

/// Runs parse(), which reads a config (with JsonConfigReader) and returns it, and turns what it throws into the
/// Expected it returns: an EngineError keeps its code and message, a JSON type error is ModelLoadFailed named after
/// `what`.
template <typename Fn>
auto guarded_config_parse(const char* what, Fn&& parse) -> Expected<decltype(parse())> {
    try {
        return std::forward<Fn>(parse)();
    } catch (const core::EngineError& e) {
        return Unexpected{e.to_error()};
    } catch (const nlohmann::json::exception& e) {
        return make_error(ErrorCode::ModelLoadFailed, std::string(what) + ": " + e.what());
    }
}

}  // namespace engine::models
