#include "core/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace engine {
namespace {

struct SinkState {
    std::mutex mutex;
    std::shared_ptr<const LogSink> sink;
    std::atomic<int> min_level{static_cast<int>(LogLevel::Info)};
    std::atomic<bool> has_sink{false};
};

SinkState& sink_state() {
    static SinkState state;
    return state;
}

}  // namespace

const char* to_string(LogLevel level) noexcept {
    switch (level) {
        case LogLevel::Debug: return "debug";
        case LogLevel::Info: return "info";
        case LogLevel::Warn: return "warn";
        case LogLevel::Error: return "error";
    }
    return "unknown";
}

void set_log_sink(LogSink sink, LogLevel min_level) noexcept {
    SinkState& s = sink_state();
    std::lock_guard<std::mutex> lock(s.mutex);
    s.has_sink = static_cast<bool>(sink);
    s.sink = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
    s.min_level = static_cast<int>(min_level);
}

namespace core {

bool log_enabled(LogLevel level) noexcept {
    SinkState& s = sink_state();
    return s.has_sink.load() && static_cast<int>(level) >= s.min_level.load();
}

void log_printf(LogLevel level, const char* file, int line, const char* fmt, ...) noexcept {
    try {
        std::shared_ptr<const LogSink> sink;
        {
            SinkState& s = sink_state();
            std::lock_guard<std::mutex> lock(s.mutex);
            sink = s.sink;
        }
        if (!sink) {
            return;
        }
        const char* base = std::strrchr(file, '/');
        base = base ? base + 1 : file;
        std::vector<char> buf(512);
        int prefix = std::snprintf(buf.data(), buf.size(), "%s:%d: ", base, line);
        if (prefix < 0) {
            return;
        }
        va_list args;
        va_start(args, fmt);
        va_list copy;
        va_copy(copy, args);
        int n = std::vsnprintf(buf.data() + prefix, buf.size() - static_cast<size_t>(prefix), fmt, args);
        va_end(args);
        if (n >= 0 && static_cast<size_t>(prefix + n) >= buf.size()) {
            buf.resize(static_cast<size_t>(prefix + n) + 1);
            std::vsnprintf(buf.data() + prefix, buf.size() - static_cast<size_t>(prefix), fmt, copy);
        }
        va_end(copy);
        (*sink)(level, std::string(buf.data()));
    } catch (...) {
        // Logging must never take the engine down.
    }
}

}  // namespace core
}  // namespace engine
