// Logging to stderr. Any thread: each line goes out in one write so lines never interleave.
// When stderr is systemd's journal (JOURNAL_STREAM names it), each line starts with its syslog
// priority ("<4>") instead of a time stamp and level: the journal keeps both as fields, and
// `journalctl -p warning` filters on them.
#include "log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iterator>
#include <string>

namespace latch {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
constexpr std::string_view kNames[] = {"error", "warning", "info", "debug"};
constexpr int kSyslogPriority[] = {3, 4, 6, 7};  // err, warning, info, debug

// systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected stdout and stderr
// to; stderr is the journal only if it is still that very stream (not redirected since).
bool stderr_is_journal() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    if (stream == nullptr) return false;
    unsigned long long device = 0, inode = 0;
    if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
    struct stat st {};
    return ::fstat(STDERR_FILENO, &st) == 0 &&
           static_cast<unsigned long long>(st.st_dev) == device &&
           static_cast<unsigned long long>(st.st_ino) == inode;
}
}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view name) {
    for (int i = 0; i < 4; ++i) {
        if (kNames[i] == name) return static_cast<LogLevel>(i);
    }
    return std::nullopt;
}

const char* log_level_name(LogLevel level) {
    return kNames[static_cast<int>(level)].data();
}

void set_log_level(LogLevel level) {
    g_level.store(static_cast<int>(level));
}

bool log_enabled(LogLevel level) {
    return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void append_escaped(std::string& out, std::string_view text) {
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f && byte != '\\') {
            out += c;
        } else {
            fmt::format_to(std::back_inserter(out), "\\x{:02x}", byte);
        }
    }
}

void log_line(LogLevel level, std::string_view message) {
    static const bool journal = stderr_is_journal();
    if (journal) {
        std::string line = fmt::format("<{}>", kSyslogPriority[static_cast<int>(level)]);
        append_escaped(line, message);
        line += '\n';
        ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
        (void)ignored;
        return;
    }
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string line =
        fmt::format("{}.{:03}Z latchd[{}] ", stamp, ms, kNames[static_cast<int>(level)]);
    append_escaped(line, message);
    line += '\n';
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

}  // namespace latch
