// Logging: one formatted line per call to stderr, filtered by a global level. Any thread;
// never called on the packet path (which counts instead of logging).
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <optional>
#include <string>
#include <string_view>

namespace latch {

enum class LogLevel : int { error = 0, warning = 1, info = 2, debug = 3 };

std::optional<LogLevel> parse_log_level(std::string_view name);
const char* log_level_name(LogLevel level);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);
void log_line(LogLevel level, std::string_view message);
// Appends `text` with everything but printable ASCII (and the backslash) written as \xHH.
// Call-IDs, tags and addresses in log lines come from the network: a control character could
// forge a log line, raw bytes garble a terminal. log_line() escapes every message this way.
void append_escaped(std::string& out, std::string_view text);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (log_enabled(level)) log_line(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace latch
