// The rtpproxy text protocol's commands, parsed: V, VF, U, L, D, Q, I, G, X with their
// modifiers. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace latch {

// rtpproxy's error codes, as the modules expect them ("E<n>").
enum RtppErrorCode : int {
    kRtppUnknownCommand = 0,
    kRtppArgumentCount = 1,
    kRtppBadModifier = 2,
    kRtppUnsupported = 3,  // a command latch does not do (play, copy), or a record it cannot
    kRtppBadPort = 5,
    kRtppBadAddress = 6,
    kRtppBadMediaNumber = 7,
    kRtppBadTag = 8,
    kRtppUnknownInterface = 31,
    kRtppSessionUnknown = 50,
    kRtppCannotListen = 71,
    kRtppCannotCreateSession = 72,
    kRtppInternal = 81,  // rtpproxy's resource-failure range: latch failed, not the command
    kRtppOverload = 98,
    kRtppDraining = 99,
};

struct RtppError {
    int code;
    std::string why;  // for the log
};

enum class RtppOp {
    version,
    feature,
    update,
    lookup,
    remove,
    query,
    info,
    get_stats,
    delete_all,
    record,
    copy
};

struct RtppTag {
    std::string tag;
    std::size_t media = 1;  // "tag;N": the N-th stream of the call, from 1
};

struct RtppCommand {
    RtppOp op = RtppOp::version;
    // U, L, D, Q
    std::string call_id;
    RtppTag from, to;
    // U, L
    std::string address;
    uint16_t port = 0;
    bool asymmetric = false;
    bool ipv6 = false;
    std::string from_interface, to_interface;  // from e/i bridging or an l{label} modifier
    std::string local_address;                 // l<address>: the interface bound on it
    std::string notify_socket, notify_tag;     // U: where to tell of an idle timeout
    std::string copy_target;                   // C: "udp:ADDR:PORT", or a recording's name
    // VF
    std::string feature;
    // Q, G
    bool verbose = false;
    bool brief = false;              // I
    std::vector<std::string> names;  // G
};

// Parses one command (cookie and line end already removed). Throws RtppError.
RtppCommand parse_rtpp(std::string_view line);

// Capability dates latch answers 1 to in VF.
bool rtpp_feature_supported(std::string_view date);
inline constexpr const char* kRtppVersion = "20040107";

}  // namespace latch
