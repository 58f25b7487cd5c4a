// NgCommands: executes decoded ng requests against the call directory and the relay workers,
// and answers them (often later, when a worker has replied). Control thread only.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "call.hpp"
#include "daemon_config.hpp"
#include "ng_format.hpp"
#include "ng_params.hpp"
#include "ng_server.hpp"
#include "relay.hpp"
#include "sdp.hpp"

namespace latch {

class NgCommands {
public:
    NgCommands(uv_loop_t* loop, Relay& relay, const DaemonConfig& config);
    ~NgCommands();

    void dispatch(NgRequest& request, const NgServer::Respond& respond);
    // Worker replies (command results, idle timeouts) arrive here.
    void on_worker_reply(WorkerReply& reply);

    std::size_t calls() const { return calls_.size(); }
    // Asks every worker for its counters; `done` runs on the control thread with the replies.
    void collect_worker_stats(std::function<void(std::vector<WorkerStats>&)> done);
    const std::map<std::string, std::map<std::string, uint64_t>>& command_results() const { return results_; }
    // Where statistics finds the control socket's counters.
    void set_server(const NgServer* server) { server_ = server; }

private:
    using Respond = NgServer::Respond;
    using Then = std::function<void(WorkerReply&)>;

    void run(NgParams params, const Respond& respond);
    void offer(NgParams& p, const Respond& respond);
    void answer(NgParams& p, const Respond& respond);
    void remove(NgParams& p, const Respond& respond);
    void query(NgParams& p, const Respond& respond);
    void list(const NgParams& p, const Respond& respond);
    void statistics(const Respond& respond);

    // Sends a command to the call's worker; `then` runs with the reply.
    void send(const Call& call, Op op, Then then);
    // The call's command finished: runs the next waiting one.
    void release(const std::string& call_id);
    // Forgets a call; commands waiting on it run again (and find it gone).
    void erase(const std::string& call_id);
    // Runs `command` now, or after the call's current command if one is under way.
    bool wait_if_busy(Call& call, NgParams& p, const Respond& respond);

    // Updates the spec of `leg` from its party's SDP. Throws NgParamError.
    void describe_leg(Call& call, int leg, const Sdp& sdp, const NgParams& p);
    std::string rewritten_sdp(const Call& call, int leg, const Sdp& sdp, const NgParams& p,
                              const SessionSnapshot& snap) const;
    const Interface* pick_interface(const std::string& name, int family) const;
    Clocks clocks() const;
    void count(const std::string& command, const nlohmann::json& reply);

    uv_loop_t* loop_;
    const NgServer* server_ = nullptr;
    Relay& relay_;
    const DaemonConfig& config_;
    std::unordered_map<std::string, std::unique_ptr<Call>> calls_;
    std::unordered_map<SessionId, std::string> call_of_session_;
    std::unordered_map<uint64_t, Then> pending_;
    uint64_t next_request_ = 1;
    SessionId next_session_ = 1;
    unsigned next_worker_ = 0;
    std::map<std::string, std::map<std::string, uint64_t>> results_;  // command -> result -> n
};

}  // namespace latch
