// Mailbox<T>: values posted from any thread, delivered in batches on the owner's libuv loop.
// post() is thread-safe; open(), close() and the handler run on the owner's thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "uv_handle.hpp"

namespace latch {

template <typename T>
class Mailbox {
public:
    using Handler = std::function<void(std::vector<T>& batch)>;

    Mailbox() = default;
    Mailbox(const Mailbox&) = delete;
    Mailbox& operator=(const Mailbox&) = delete;

    // Binds the mailbox to the loop that will drain it. Call before the loop runs or on its
    // thread. Throws on failure (start-up).
    void open(uv_loop_t* loop, Handler handler) {
        handler_ = std::move(handler);
        async_ = make_uv_handle<uv_async_t>();
        if (int rc = uv_async_init(loop, async_.get(), &Mailbox::on_async); rc != 0) {
            throw std::runtime_error(std::string("uv_async_init: ") + uv_strerror(rc));
        }
        async_->data = this;
        std::lock_guard lock(mutex_);
        closed_ = false;
    }

    // Any thread. False when the mailbox is closed (the item is dropped).
    bool post(T item) {
        std::lock_guard lock(mutex_);
        if (closed_) return false;
        bool was_empty = queue_.empty();
        queue_.push_back(std::move(item));
        // uv_async_send coalesces, so the queue is the truth: only the empty -> non-empty
        // transition needs a wake-up. Sent under the lock so close() cannot race it.
        if (was_empty) uv_async_send(async_.get());
        return true;
    }

    // Owner thread. Later posts are refused; items still queued are delivered first.
    void close() {
        {
            std::lock_guard lock(mutex_);
            if (closed_) return;
            closed_ = true;
        }
        drain();
        async_.reset();
    }

private:
    static void on_async(uv_async_t* handle) noexcept {
        if (auto* self = static_cast<Mailbox*>(handle->data)) self->drain();
    }

    // Re-entrant: the handler may call close(), which drains once more.
    void drain() {
        std::vector<T> batch;
        {
            std::lock_guard lock(mutex_);
            batch.swap(queue_);
        }
        if (!batch.empty()) handler_(batch);
    }

    std::mutex mutex_;
    std::vector<T> queue_;  // guarded by mutex_
    bool closed_ = true;    // guarded by mutex_
    Handler handler_;
    UvPtr<uv_async_t> async_;
};

}  // namespace latch
