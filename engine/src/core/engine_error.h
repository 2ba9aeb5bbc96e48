// The exception the engine throws internally for classified failures. It travels up to the worker's
// job boundary, which turns it into an engine::Error. Nothing outside engine/src sees it.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

#include "engine/error.h"

namespace engine::core {

class EngineError : public std::runtime_error {
public:
    EngineError(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    explicit EngineError(Error error) : std::runtime_error(error.message), code_(error.code) {}
    ErrorCode code() const noexcept { return code_; }
    Error to_error() const { return Error{code_, what()}; }

private:
    ErrorCode code_;
};

/// Throws the error of a failed Expected, or returns its value.
template <typename T>
T unwrap(Expected<T> e) {
    if (!e) {
        throw EngineError(e.error());
    }
    return std::move(e).value();
}

inline void unwrap(const Expected<void>& e) {
    if (!e) {
        throw EngineError(e.error());
    }
}

/// Throws EngineError(code, message) unless cond holds.
inline void require(bool cond, ErrorCode code, const std::string& message) {
    if (!cond) {
        throw EngineError(code, message);
    }
}

}  // namespace engine::core
