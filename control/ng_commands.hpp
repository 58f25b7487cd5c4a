// NgCommands: executes decoded ng requests and answers them. Control thread only.
#pragma once

#include "ng_server.hpp"
#include "relay.hpp"

namespace latch {

class NgCommands {
public:
    explicit NgCommands(Relay& relay) : relay_(relay) {}

    void dispatch(NgRequest& request, const NgServer::Respond& respond);
    // Worker replies (command results, idle timeouts) arrive here.
    void on_worker_reply(WorkerReply& reply);

private:
    Relay& relay_;
};

}  // namespace latch
