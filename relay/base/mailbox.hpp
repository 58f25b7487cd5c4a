// Mailbox<T>: values posted from any thread, delivered in batches on the owner's libuv loop.
// post() is thread-safe; open(), close() and the handler run on the owner's thread only.
//
// The wake-up is an eventfd watched by a uv_poll_t rather than a uv_async_t: libuv 1.44's
// async handle spins (up to about a thousand pause instructions) when its sender is caught
// half-way, which on a core shared by both threads burns the very time the sender needs.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "guard.hpp"
#include "uv_handle.hpp"

namespace latch {

template <typename T>
class Mailbox {
  public:
    using Handler = std::function<void(std::vector<T>& batch)>;

    Mailbox() = default;
    Mailbox(const Mailbox&) = delete;
    Mailbox& operator=(const Mailbox&) = delete;
    // After close(), once no thread can post any more.
    ~Mailbox() {
        if (eventfd_ >= 0) ::close(eventfd_);
    }

    // Binds the mailbox to the loop that will drain it. Call before the loop runs or on its
    // thread. Throws on failure (start-up).
    void open(uv_loop_t* loop, Handler handler) {
        handler_ = std::move(handler);
        int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
        if (int rc = watch_readable(loop, poll_, fd, this, &Mailbox::on_readable); rc != 0) {
            ::close(fd);
            throw std::runtime_error(std::string("mailbox wake-up: ") + uv_strerror(rc));
        }
        std::lock_guard lock(mutex_);
        if (eventfd_ >= 0) ::close(eventfd_);  // re-opened after close(): nothing posts meanwhile
        eventfd_ = fd;
        closed_ = false;
    }

    // Any thread. False when the mailbox is closed (the item is dropped).
    bool post(T item) {
        int wake = -1;
        {
            std::lock_guard lock(mutex_);
            if (closed_) return false;
            // The queue is the truth: only the empty -> non-empty transition needs a wake-up.
            if (queue_.empty()) wake = eventfd_;
            queue_.push_back(std::move(item));
        }
        // Written after the lock is released: the woken owner, should it run at once on this
        // core, must not find the lock still held, block on it and switch straight back. The
        // descriptor stays open until the mailbox is destroyed, so it cannot be closed meanwhile.
        if (wake >= 0) {
            uint64_t one = 1;
            [[maybe_unused]] ssize_t n =
                ::write(wake, &one, sizeof one);  // fails only when the counter is saturated
        }
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
        poll_.reset();  // the descriptor itself stays open for posts still under way
    }

  private:
    static void on_readable(uv_poll_t* handle, int, int) noexcept {
        auto* self = static_cast<Mailbox*>(handle->data);
        if (self == nullptr) return;
        // Reset the counter before taking the queue: a post in between wakes us once more,
        // for an empty batch, rather than never.
        uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(self->eventfd_, &count, sizeof count);
        // Handlers guard each item themselves; this stops what would otherwise end the process.
        guarded("mailbox", [self] { self->drain(); });
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
    int eventfd_ = -1;      // written under mutex_; closed by open() and the destructor
    Handler handler_;
    UvPtr<uv_poll_t> poll_;
};

}  // namespace latch
