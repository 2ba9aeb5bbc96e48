// JSON as configs on the hub are written: Python's json module emits NaN, Infinity and -Infinity,
// which strict parsers reject. They are read as null, 1e308 and -1e308 (the clipping/threshold
// semantics of the configs that use them survive that).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "engine/error.h"

namespace engine::core {

/// Parses text; `what` names the source in error messages (a file path).
Expected<nlohmann::json> parse_json_lenient(const std::string& text, const std::string& what);
/// Reads and parses a file. ModelNotFound when missing, ModelLoadFailed when malformed.
Expected<nlohmann::json> read_json_file(const std::string& path);

}  // namespace engine::core
