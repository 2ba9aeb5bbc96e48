// What every model loader shares: building the module on its device and filling it by strict loading can throw
// (a bad config as core::EngineError, an allocation or copy on the device as c10::Error); the loaders return
// Expected instead, and an allocator that ran out is OutOfMemory (with the worker's hint), not a load failure.
//
//     return guarded_model_build("the CLIP image encoder", [&]() -> Expected<CLIPVisionEncoder> { ... });
#pragma once

#include <c10/util/Exception.h>

#include <string>
#include <utility>

#include "core/engine_error.h"

namespace engine::models {

/// "could not build <what>: <message>", OutOfMemory when the message says the allocator ran out.
inline Unexpected model_build_error(const std::string& what, const c10::Error& e) {
    const std::string m = e.what_without_backtrace();
    const bool oom = m.find("out of memory") != std::string::npos;
    return make_error(oom ? ErrorCode::OutOfMemory : ErrorCode::ModelLoadFailed, "could not build " + what + ": " + m);
}

/// Runs build() and turns what it throws into the Expected it returns (EngineError keeps its code).
template <typename Fn>
auto guarded_model_build(const std::string& what, Fn&& build) -> decltype(build()) {
    try {
        return std::forward<Fn>(build)();
    } catch (const core::EngineError& e) {
        return Unexpected{e.to_error()};
    } catch (const c10::Error& e) {
        return model_build_error(what, e);
    }
}

}  // namespace engine::models
