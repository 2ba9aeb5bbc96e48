// Engine log routing. The engine never prints; it hands each line to the sink set here.
//
//     engine::set_log_sink([](engine::LogLevel l, const std::string& m) { qInfo() << m.c_str(); });
//
// Thread safety: set_log_sink may be called from any thread; the sink is called from any engine
// thread (usually the worker) and must be thread-safe itself.
#pragma once

#include <functional>
#include <string>

namespace engine {

enum class LogLevel { Debug = 0, Info, Warn, Error };

const char* to_string(LogLevel level) noexcept;

using LogSink = std::function<void(LogLevel, const std::string&)>;

/// Installs the sink (nullptr: drop everything). Lines below min_level are dropped.
void set_log_sink(LogSink sink, LogLevel min_level = LogLevel::Info) noexcept;

}  // namespace engine
