// Call: the control thread's record of one call: its session on a worker, the parties' tags,
// the interfaces of its legs and the session specification last sent. Control thread only.
#pragma once

#include <uv.h>

#include <array>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "interfaces.hpp"
#include "relay_types.hpp"
#include "timer.hpp"

namespace latch {

// The control loop's monotonic time and the wall clock at the same moment, to turn the relay's
// monotonic stamps into wall-clock times for replies.
struct Clocks {
    uint64_t monotonic_ms = 0;  // uv_now() of the control loop
    int64_t wall_us = 0;        // the wall clock at the same moment
    // Wall-clock seconds of a monotonic (uv_now) time stamp; 0 stays 0 (never).
    int64_t wall_seconds(uint64_t monotonic) const {
        if (monotonic == 0) return 0;
        int64_t age_ms = static_cast<int64_t>(monotonic_ms) - static_cast<int64_t>(monotonic);
        return (wall_us / 1000 - age_ms) / 1000;
    }
};

struct CallMedia {
    std::string type;                             // audio, video, image
    std::string proto;                            // RTP/AVP, udptl
    std::array<bool, kLegs> signalled{};          // this leg's SDP has described the stream
    std::array<bool, kLegs> rtcp_mux{};           // this leg's SDP offered or accepted rtcp-mux
    std::array<ClockRates, kLegs> clock_rates{};  // this leg's SDP's payload types
    std::array<std::string, kLegs> codecs{};      // its formats: "0 PCMU/8000, 101 ..."

    // The clocks of what `leg`'s party sends: it numbers its payload types as the SDP it
    // received does (RFC 3264 has the answer keep the offer's, so both usually agree), and its
    // own fill the gaps.
    ClockRates sent_by(int leg) const {
        ClockRates rates = clock_rates[leg];
        rates.merge(clock_rates[1 - leg]);
        return rates;
    }
};

// That a call is recorded, as a restart or a standby's take-over needs to go on recording it.
// The control plane's recordings keep it (control/recording); Redis records carry it.
struct CallRecording {
    bool on = false;      // asked to be recorded (start recording, record-call, rtpproxy R/C)
    bool paused = false;  // pause recording: nothing copied until a start
    std::string metadata;
    std::string remote;  // a live copy to "udp:ADDR:PORT" instead of files
    std::string file;    // the file it was written to last (where a continuation points back)
};

struct Call {
    std::string call_id;
    SessionId session = 0;
    unsigned worker = 0;
    std::array<std::string, kLegs> tags;    // 0: the first offerer, 1: its answerer
    std::array<std::string, kLegs> labels;  // what the signalling named each party (ng label)
    std::array<const Interface*, kLegs> interfaces{};
    SessionSpec spec;  // what the worker was last told
    std::vector<CallMedia> media;
    int64_t created_us = 0;      // wall clock
    int64_t last_signal_us = 0;  // wall clock
    bool on_worker = false;      // the worker has created the session
    CallRecording recording;     // spec.recording is the recorder's id for it while it copies

    // Commands for one call run one at a time: those arriving meanwhile wait here.
    bool busy = false;
    std::deque<std::function<void()>> waiting;
    // rtpproxy U: where and what to send when the call ends by idle timeout (empty: nothing).
    std::string notify_socket, notify_tag;
    Timer delete_timer;  // a delete with delete-delay pending

    // Which leg a tag belongs to, or -1.
    int leg_of(const std::string& tag) const {
        if (!tag.empty() && tag == tags[0]) return 0;
        if (!tag.empty() && tag == tags[1]) return 1;
        return -1;
    }
};

}  // namespace latch
