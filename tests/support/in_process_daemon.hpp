// InProcessDaemon: latchd's composition (ControlPlane) on a control thread of the test's own,
// reached over its real sockets, with the bound ports taken from the ControlPlane itself. For
// tests that must reach inside: add a command or an observer before it starts, run code on
// the control thread. Test thread (its methods), control thread (what they run there).
#pragma once

#include <uv.h>

#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control_plane.hpp"
#include "daemon_config.hpp"
#include "mailbox.hpp"

namespace latch::test {

class InProcessDaemon {
  public:
    // `args` as latchd's command line (the ng and rtpproxy sockets default to 127.0.0.1:0);
    // `setup` runs on the control thread before the control plane starts. Throws when the
    // control plane cannot be built or started.
    explicit InProcessDaemon(std::vector<std::string> args,
                             std::function<void(ControlPlane&)> setup = {});
    InProcessDaemon(const InProcessDaemon&) = delete;
    InProcessDaemon& operator=(const InProcessDaemon&) = delete;
    ~InProcessDaemon();

    const Endpoint& ng() const { return ng_; }
    const std::optional<Endpoint>& rtpp() const { return rtpp_; }
    // Runs `f` on the control thread and waits for it.
    void on_control_thread(std::function<void(ControlPlane&)> f);
    // Stops the control plane and joins the control thread: true when its loop closed cleanly.
    bool stop();

  private:
    void run(std::vector<std::string> args, std::function<void(ControlPlane&)> setup,
             std::promise<void> started) noexcept;

    Mailbox<std::function<void()>> inbox_;
    ControlPlane* plane_ = nullptr;  // the control thread's; set before the constructor returns
    Endpoint ng_;
    std::optional<Endpoint> rtpp_;
    bool closed_cleanly_ = false;
    std::thread thread_;
};

}  // namespace latch::test
