// NgCommands: the ng protocol's commands: reads each request's keys and SDP, drives the calls
// through CallControl, and answers in the ng dictionary form. Control thread only.
#pragma once

#include <functional>
#include <map>
#include <string>

#include "call_control.hpp"
#include "guard.hpp"
#include "ng_params.hpp"
#include "ng_server.hpp"
#include "recordings.hpp"
#include "sdp.hpp"

namespace latch {

class NgCommands {
  public:
    using Respond = NgServer::Respond;
    // A command: its parameters, and where its one reply goes (now or later).
    using Handler = std::function<void(NgParams& params, const Respond& respond)>;

    explicit NgCommands(CallControl& calls);

    // Runs the request's command. Its malformed keys, and any failure of the command itself,
    // become an error reply; nothing escapes.
    void dispatch(NgRequest& request, const NgServer::Respond& respond);
    // Adds a command, or replaces one, by its name.
    void add_command(std::string name, Handler handler) {
        handlers_[std::move(name)] = std::move(handler);
    }
    // `body` wrapped for a continuation that answers `respond` later: if it throws before it
    // answered, the reply is an error with the reason.
    template <typename Body>
    static auto answering(const Respond& respond, Body body) {
        return catching([respond](const char* what) { respond(ng_internal_error(what)); },
                        std::move(body));
    }
    // Where statistics finds the control plane's counters (every listener's).
    void set_control_report(std::function<ControlReport()> report) {
        control_report_ = std::move(report);
    }
    const CommandResults& command_results() const { return results_; }
    // Where "start/stop/pause recording", the record-call flag and query's recording go;
    // without it they are refused as not configured.
    void set_recordings(Recordings* recordings) { recordings_ = recordings; }

  private:
    void offer(NgParams& p, const Respond& respond);
    void answer(NgParams& p, const Respond& respond);
    // An offer or an answer: its SDP parsed, the call signalled, the SDP rewritten in the reply.
    void signal(NgParams& p, bool is_offer, const Respond& respond);
    void remove(NgParams& p, const Respond& respond);
    void query(NgParams& p, const Respond& respond);
    void list(const NgParams& p, const Respond& respond);
    void statistics(const NgParams& p, const Respond& respond);
    // start recording, stop recording, pause recording.
    void recording(NgParams& p, const Respond& respond, const char* what);

    // The CallControl form of an offer or answer carrying `sdp`. Throws NgParamError.
    Signal signal_of(const NgParams& p, const Sdp& sdp) const;
    // Answers an offer or answer: the SDP rewritten for the recipient, or the error.
    void reply_with_sdp(const CallResult& r, const Sdp& sdp, const NgParams& p,
                        const Respond& respond) const;

    CallControl& calls_;
    Recordings* recordings_ = nullptr;
    std::map<std::string, Handler> handlers_;
    std::function<ControlReport()> control_report_;
    CommandResults results_;
};

}  // namespace latch
