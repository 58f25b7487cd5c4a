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

}  // namespace latch
