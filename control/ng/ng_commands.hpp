// NgCommands: the ng protocol's commands: reads each request's keys and SDP, drives the calls
// through CallControl, and answers in the ng dictionary form. Control thread only.
#pragma once

#include <map>
#include <string>

#include "call_control.hpp"
#include "ng_params.hpp"
#include "ng_server.hpp"
#include "sdp.hpp"

namespace latch {

class NgCommands {
public:
    explicit NgCommands(CallControl& calls) : calls_(calls) {}

    void dispatch(NgRequest& request, const NgServer::Respond& respond);
    // Where statistics finds the control socket's counters.
    void set_server(const NgServer* server) { server_ = server; }
    const std::map<std::string, std::map<std::string, uint64_t>>& command_results() const { return results_; }

private:
    using Respond = NgServer::Respond;

    void run(NgParams params, const Respond& respond);
    void offer(NgParams& p, const Respond& respond);
    void answer(NgParams& p, const Respond& respond);
    void remove(NgParams& p, const Respond& respond);
    void query(NgParams& p, const Respond& respond);
    void list(const NgParams& p, const Respond& respond);
    void statistics(const Respond& respond);

    // The CallControl form of an offer or answer carrying `sdp`. Throws NgParamError.
    Signal signal_of(const NgParams& p, const Sdp& sdp) const;
    // Answers an offer or answer: the SDP rewritten for the recipient, or the error.
    void reply_with_sdp(const CallResult& r, const Sdp& sdp, const NgParams& p, const Respond& respond) const;

    CallControl& calls_;
    const NgServer* server_ = nullptr;
    std::map<std::string, std::map<std::string, uint64_t>> results_;  // command -> result -> n
};

}  // namespace latch
