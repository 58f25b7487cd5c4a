// RtppCommands: the rtpproxy protocol's commands executed against the same calls as the ng
// protocol (CallControl), with rtpproxy's text replies; and the timeout notifications that
// the rtpproxy modules ask for. Control thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "call_control.hpp"
#include "control_counters.hpp"
#include "guard.hpp"
#include "recordings.hpp"
#include "rtpp_command.hpp"

namespace latch {

// Also a call observer: a call that ends by idle timeout is told to the notify socket its U
// named (register it with CallControl::add_observer).
class RtppCommands final : public CallObserver {
  public:
    // The reply without its line end (the server adds cookie and line end).
    using Respond = std::function<void(const std::string& reply)>;

    RtppCommands(uv_loop_t* loop, CallControl& calls, const std::vector<Interface>& interfaces,
                 uint32_t idle_timeout_ms);

    void execute(std::string_view line, const Respond& respond);
    const CommandResults& command_results() const { return results_; }
    uint64_t notifications_sent() const { return notifications_sent_; }
    void call_ended(const Call& call, const SessionSnapshot& final, CallEnd why) override;
    // Where R goes; without it (or with a latchd that records nothing) R answers E3.
    void set_recordings(Recordings* recordings) { recordings_ = recordings; }

  private:
    // `body` as a continuation that owes `respond` its reply: if it throws, the reply is E81.
    template <typename Body>
    static auto answering(const Respond& respond, Body body) {
        return catching([respond](const char*) { respond("E" + std::to_string(kRtppInternal)); },
                        std::move(body));
    }
    void update_or_lookup(const RtppCommand& c, const Respond& respond);
    void remove(const RtppCommand& c, const Respond& respond);
    void query(const RtppCommand& c, const Respond& respond);
    void info(const RtppCommand& c, const Respond& respond);
    void get_stats(const RtppCommand& c, const Respond& respond);
    void delete_all(const Respond& respond);
    void record(const RtppCommand& c, const Respond& respond);
    void notify(const Call& call);

    uv_loop_t* loop_;
    CallControl& calls_;
    Recordings* recordings_ = nullptr;
    const std::vector<Interface>& interfaces_;
    uint32_t idle_timeout_ms_;
    CommandResults results_;
    uint64_t notifications_sent_ = 0;
};

// "E<code>"
std::string rtpp_error(int code);

}  // namespace latch
