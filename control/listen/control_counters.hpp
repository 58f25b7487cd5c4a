// The counters every control listener keeps, whatever protocol it speaks, so that statistics
// and Prometheus show the ng and rtpproxy listeners the same way. Control thread only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace latch {

struct ListenerCounters {
    uint64_t requests = 0;              // decoded and run
    uint64_t bad_requests = 0;          // answered with an error before they could run
    uint64_t dropped = 0;               // no cookie (or unusable): not answered
    uint64_t replies = 0;               // sent
    uint64_t replies_not_sent = 0;      // the socket would not take the reply
    uint64_t retransmissions = 0;       // answered from the reply cache
    uint64_t duplicates_in_flight = 0;  // dropped: the first copy is still being handled
    uint64_t refused = 0;               // from a source outside the allow-list: not answered
    uint64_t internal_errors = 0;       // the command failed unexpectedly: answered with an error
    uint64_t encode_failures = 0;       // the reply could not be encoded: an error went out instead
};

// command -> result ("ok", "error", "pong", "load limit"...) -> count
using CommandResults = std::map<std::string, std::map<std::string, uint64_t>>;

// One listener's counters with the results of its commands.
struct ProtocolCounters {
    std::string protocol;  // "ng", "rtpproxy"
    ListenerCounters listener;
    CommandResults commands;
};

// What statistics and metrics show of the control plane as a whole.
struct ControlReport {
    std::vector<ProtocolCounters> protocols;
    uint64_t packets_per_second = 0;  // relayed, as last measured
    uint64_t stopped_exceptions = 0;  // failures stopped at a callback's edge (a defect if above 0)
    uint64_t observer_failures = 0;   // call observers that threw
    // Call state in Redis, by name ("connected", "records", "writes"...); empty when off.
    std::map<std::string, uint64_t> replication;
    // The devices the kernel path is attached to ("eth1 (tcx)"); empty: media in userspace.
    std::vector<std::string> kernel_devices;
    // Recordings by name ("active", "files failed"...); empty when latchd records nothing.
    std::map<std::string, uint64_t> recording;
};

// The listener's counters by name ("requests", "bad requests"...), for statistics and metrics.
template <typename Visit>
void for_each_counter(const ListenerCounters& c, Visit&& visit) {
    visit("requests", c.requests);
    visit("bad requests", c.bad_requests);
    visit("dropped without cookie", c.dropped);
    visit("replies", c.replies);
    visit("replies not sent", c.replies_not_sent);
    visit("retransmissions", c.retransmissions);
    visit("duplicates in flight", c.duplicates_in_flight);
    visit("refused", c.refused);
    visit("internal errors", c.internal_errors);
    visit("encode failures", c.encode_failures);
}

}  // namespace latch
