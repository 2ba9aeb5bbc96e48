// Internal logging: LOG_INFO("loaded %s (%d tensors)", path.c_str(), n). Routed to engine::set_log_sink().
#pragma once

#include "engine/log.h"

namespace engine::core {

/// True when a line at this level would reach the sink (lets callers skip formatting).
bool log_enabled(LogLevel level) noexcept;
/// printf-style formatting; file and line are prefixed.
void log_printf(LogLevel level, const char* file, int line, const char* fmt, ...) noexcept
    __attribute__((format(printf, 4, 5)));

}  // namespace engine::core

#define ENGINE_LOG_AT(level, ...)                                                   \
    do {                                                                            \
        if (::engine::core::log_enabled(level)) {                                   \
            ::engine::core::log_printf(level, __FILE__, __LINE__, __VA_ARGS__);     \
        }                                                                           \
    } while (0)

#define LOG_DEBUG(...) ENGINE_LOG_AT(::engine::LogLevel::Debug, __VA_ARGS__)
#define LOG_INFO(...) ENGINE_LOG_AT(::engine::LogLevel::Info, __VA_ARGS__)
#define LOG_WARN(...) ENGINE_LOG_AT(::engine::LogLevel::Warn, __VA_ARGS__)
#define LOG_ERROR(...) ENGINE_LOG_AT(::engine::LogLevel::Error, __VA_ARGS__)

// Programmer errors: abort in debug builds, no-op in release.
#ifdef NDEBUG
#define ENGINE_ASSERT(cond) ((void)0)
#else
#include <cstdio>
#include <cstdlib>
#define ENGINE_ASSERT(cond)                                                              \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            std::fprintf(stderr, "%s:%d: ENGINE_ASSERT(%s) failed\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                \
        }                                                                                \
    } while (0)
#endif
