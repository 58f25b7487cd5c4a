// InProcessDaemon. The constructor, stop() and on_control_thread(): test thread; run(): the
// control thread.
#include "in_process_daemon.hpp"

#include <stdexcept>

namespace latch::test {

InProcessDaemon::InProcessDaemon(std::vector<std::string> args,
                                 std::function<void(ControlPlane&)> setup) {
    args.insert(args.begin(), {"--listen-ng", "127.0.0.1:0", "--listen-rtpp", "127.0.0.1:0"});
    std::promise<void> started;
    auto result = started.get_future();
    thread_ = std::thread(&InProcessDaemon::run, this, std::move(args), std::move(setup),
                          std::move(started));
    try {
        result.get();
    } catch (...) {
        thread_.join();
        throw;
    }
}

InProcessDaemon::~InProcessDaemon() {
    stop();
}

void InProcessDaemon::run(std::vector<std::string> args, std::function<void(ControlPlane&)> setup,
                          std::promise<void> started) noexcept {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
        std::unique_ptr<ControlPlane> plane;
        DaemonConfig config;
        try {
            config = parse_command_line(args).config;
            plane = std::make_unique<ControlPlane>(config, &loop);
            if (setup) setup(*plane);
            plane->start();
            inbox_.open(&loop, [&](std::vector<std::function<void()>>& batch) {
                for (auto& f : batch) f();
            });
            ng_ = plane->ng_local();
            rtpp_ = plane->rtpp_local();
        } catch (...) {
            plane.reset();
            uv_run(&loop, UV_RUN_DEFAULT);
            uv_loop_close(&loop);
            started.set_exception(std::current_exception());
            return;
        }
        plane_ = plane.get();
        started.set_value();
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    uv_run(&loop, UV_RUN_DEFAULT);  // the handles the control plane closed as it went
    closed_cleanly_ = uv_loop_close(&loop) == 0;
}

void InProcessDaemon::on_control_thread(std::function<void(ControlPlane&)> f) {
    std::promise<void> done;
    auto finished = done.get_future();
    if (!inbox_.post([&] {
            try {
                f(*plane_);
                done.set_value();
            } catch (...) {
                done.set_exception(std::current_exception());
            }
        })) {
        throw std::runtime_error("the in-process daemon has stopped");
    }
    finished.get();
}

bool InProcessDaemon::stop() {
    if (!thread_.joinable()) return closed_cleanly_;
    inbox_.post([this] {
        plane_->stop();
        inbox_.close();  // the loop runs out once the control plane is gone
    });
    thread_.join();
    return closed_cleanly_;
}

}  // namespace latch::test
