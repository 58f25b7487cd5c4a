// libFuzzer target: the whole ng control path in one process: framing, keys, SDP, the call
// directory and a real relay worker with real sockets on 127.0.0.1. Every input must be
// answered; the loop runs until it is.
#include <uv.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "call_control.hpp"
#include "ng_codec.hpp"
#include "ng_commands.hpp"
#include "relay.hpp"

namespace {

struct ControlPath {
    uv_loop_t loop{};
    std::vector<latch::Interface> interfaces{latch::parse_interface("default=127.0.0.1")};
    std::unique_ptr<latch::Relay> relay;
    std::unique_ptr<latch::CallControl> calls;
    std::unique_ptr<latch::NgCommands> ng;

    ControlPath() {
        uv_loop_init(&loop);
        latch::RelayConfig config;
        config.workers = 1;
        config.port_min = 39000;
        config.port_max = 39199;
        relay = std::make_unique<latch::Relay>(config, &loop, [this](latch::WorkerReply& r) {
            if (calls) calls->on_worker_reply(r);
        });
        calls = std::make_unique<latch::CallControl>(&loop, *relay, interfaces);
        ng = std::make_unique<latch::NgCommands>(*calls);
        relay->start();
    }
    ~ControlPath() {
        ng.reset();
        relay->stop();
        calls.reset();
        uv_run(&loop, UV_RUN_DEFAULT);
        relay.reset();
        uv_loop_close(&loop);
    }
};

ControlPath& path() {
    static ControlPath p;
    return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto parsed = latch::parse_ng(std::string_view(reinterpret_cast<const char*>(data), size));
    auto* request = std::get_if<latch::NgRequest>(&parsed);
    if (!request) return 0;
    ControlPath& p = path();
    bool answered = false;
    p.ng->dispatch(*request, [&answered](const nlohmann::json& reply) {
        if (!reply.contains("result")) std::abort();
        answered = true;
    });
    // A command that waits for a worker is answered when its reply arrives; libFuzzer's
    // -timeout catches one that never is.
    while (!answered) uv_run(&p.loop, UV_RUN_ONCE);
    return 0;
}
