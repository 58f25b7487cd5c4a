// guarded(): the last line of defence of every callback that libuv (or another C library) calls:
// nothing may unwind through it, so an exception is logged, counted and stopped there. Any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <utility>

#include "log.hpp"

namespace latch {

// Exceptions stopped by guarded() since the process started (statistics and metrics show it:
// any value above 0 is a defect worth a report).
inline std::atomic<uint64_t> g_stopped_exceptions{0};

// Runs `body`; an exception it throws is logged with `where` and counted, never propagated.
template <typename Body>
void guarded(const char* where, Body&& body) noexcept {
    try {
        body();
        return;
    } catch (const std::exception& e) {
        g_stopped_exceptions.fetch_add(1, std::memory_order_relaxed);
        try {
            log(LogLevel::error, "{}: {}", where, e.what());
        } catch (...) {  // out of memory even for the line: the count still tells
        }
    } catch (...) {
        g_stopped_exceptions.fetch_add(1, std::memory_order_relaxed);
        try {
            log(LogLevel::error, "{}: unknown exception", where);
        } catch (...) {
        }
    }
}

// `body` made into a continuation whose exceptions go to `on_error(what)` rather than to whoever
// runs it: for the control path's continuations that owe a reply, so that the reply names the
// failure.
template <typename OnError, typename Body>
auto catching(OnError on_error, Body body) {
    return [on_error = std::move(on_error), body = std::move(body)](auto&&... args) {
        try {
            body(std::forward<decltype(args)>(args)...);
        } catch (const std::exception& e) {
            on_error(e.what());
        }
    };
}

}  // namespace latch
