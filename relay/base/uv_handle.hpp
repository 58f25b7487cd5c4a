// Owning pointer for libuv handles: destroying it calls uv_close, and the memory is freed in
// the close callback, as libuv requires. The only place that news and deletes handles.
// Used on the thread of the loop that the handle belongs to.
#pragma once

#include <uv.h>

#include <memory>

namespace latch {

struct UvCloser {
    template <typename Handle>
    void operator()(Handle* handle) const noexcept {
        auto* h = reinterpret_cast<uv_handle_t*>(handle);
        if (h->loop == nullptr) {  // never initialised: libuv does not know it
            delete handle;
            return;
        }
        h->data = nullptr;
        uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<Handle*>(closed); });
    }
};

template <typename Handle>
using UvPtr = std::unique_ptr<Handle, UvCloser>;

// A zeroed handle, not yet initialised (loop == nullptr until uv_*_init succeeds).
template <typename Handle>
UvPtr<Handle> make_uv_handle() {
    return UvPtr<Handle>(new Handle{});
}

// Watches `fd` for readability on `loop`: `handle` becomes a started poll handle whose data is
// `data`. Returns 0, or the libuv error with `handle` reset; the descriptor stays the caller's.
inline int watch_readable(uv_loop_t* loop, UvPtr<uv_poll_t>& handle, int fd, void* data,
                          uv_poll_cb readable) {
    handle = make_uv_handle<uv_poll_t>();
    int rc = uv_poll_init(loop, handle.get(), fd);
    if (rc == 0) {
        handle->data = data;
        rc = uv_poll_start(handle.get(), UV_READABLE, readable);
    }
    if (rc != 0) handle.reset();
    return rc;
}

}  // namespace latch
