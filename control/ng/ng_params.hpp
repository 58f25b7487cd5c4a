// NgParams: the keys of an ng request that latch acts on, read and type-checked once.
// Pure functions; control thread.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace latch {

// A request whose keys are missing or of the wrong type; the message is the error-reason.
class NgParamError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The longest party label accepted (it is kept with the call and in its record).
constexpr std::size_t kMaxLabel = 256;
// The longest recording metadata string accepted (it is written with the recording).
constexpr std::size_t kMaxMetadata = 4096;

struct NgParams {
    std::string command;
    std::string call_id, from_tag, to_tag, via_branch;
    std::optional<std::string> sdp;
    std::set<std::string> flags;               // lower case, '-' for spaces: "sip-source-address"
    std::set<std::string> replace;             // "origin", "session-connection"...
    std::optional<std::string> received_from;  // the address of received-from
    std::string ice;                           // "remove", "force"... lower case
    std::vector<std::string> direction;        // interface names, offerer's side first
    std::string from_interface, to_interface;  // from direction, interface, from/to-interface
    std::string address_family;                // "IP4", "IP6" or empty
    std::string media_address;
    std::string learning;  // heuristic, immediate, off (latch's own key)
    std::set<std::string> rtcp_mux;
    bool supports_load_limit = false;
    std::optional<int64_t> delete_delay;  // seconds
    int64_t limit = 32;                   // list
    std::optional<int64_t> tos;
    std::string label;         // names the party whose SDP this is (rtpengine's label)
    std::string metadata;      // kept with the call's recording
    bool record_call = false;  // flag "record-call", or "record call": "yes"/"on"

    bool flag(const char* name) const { return flags.count(name) != 0; }
};

// Keys may be spelled with spaces or hyphens ("received from", "received-from").
// Throws NgParamError for a wrong type; missing keys are checked by require().
NgParams read_ng_params(const nlohmann::json& dict);

// Throws NgParamError("missing key 'NAME'") when `value` is empty.
void require(const std::string& value, const char* name);

// "SIP source address" -> "sip-source-address"
std::string normalize_flag(std::string_view flag);

}  // namespace latch
