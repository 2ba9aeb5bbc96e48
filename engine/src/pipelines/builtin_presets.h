// The model presets of resources/presets/*.json, compiled into the engine (engine/CMakeLists.txt generates
// the definition), so they are found wherever Kinora is installed.
#pragma once

#include <vector>

namespace engine::pipelines {

struct BuiltinPresetFile {
    const char* name;  // file name, e.g. "videocrafter2.json"
    const char* text;  // its JSON text
};

/// Every resources/presets/*.json file, in file-name order.
const std::vector<BuiltinPresetFile>& builtin_preset_files();

}  // namespace engine::pipelines
