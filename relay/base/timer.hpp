// Timer: a libuv timer that runs a function, guarded (nothing unwinds into libuv), once or
// every so often, and closes its handle when stopped or destroyed. The thread of its loop; it
// must not move once started (the handle points back at it).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

#include "guard.hpp"
#include "uv_handle.hpp"

namespace latch {

class Timer {
  public:
    Timer() = default;
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

    // Runs `tick` after `timeout_ms`, then every `repeat_ms` (0: once); `what` names it in the
    // log should it throw. Starting again replaces what was set.
    void start(uv_loop_t* loop, uint64_t timeout_ms, uint64_t repeat_ms, const char* what,
               std::function<void()> tick) {
        if (!handle_) {
            handle_ = make_uv_handle<uv_timer_t>();
            uv_timer_init(loop, handle_.get());
            handle_->data = this;
        }
        what_ = what;
        tick_ = std::move(tick);
        uv_timer_start(
            handle_.get(),
            [](uv_timer_t* t) noexcept {
                auto* self = static_cast<Timer*>(t->data);
                if (self == nullptr) return;
                auto run = self->tick_;  // the tick may stop or restart its own timer
                guarded(self->what_, run);
            },
            timeout_ms, repeat_ms);
    }
    // Closes the handle; start() opens a new one.
    void stop() { handle_.reset(); }
    bool active() const {
        return handle_ && uv_is_active(reinterpret_cast<const uv_handle_t*>(handle_.get()));
    }

  private:
    UvPtr<uv_timer_t> handle_;
    std::function<void()> tick_;
    const char* what_ = "timer";
};

}  // namespace latch
