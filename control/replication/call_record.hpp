// CallRecord: what Redis keeps of a call, enough to rebuild it elsewhere without a new learning
// window: its parties and interfaces, what each leg signalled and with which policy, the relay
// ports of each leg, and the sources each stream had learned. Never per-packet state. Stored
// as a JSON object with a format version and the owning instance. Pure functions; any thread.
#pragma once

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "call.hpp"
#include "relay_types.hpp"

namespace latch {

inline constexpr int kCallRecordVersion = 1;

// A record that cannot be restored: foreign, corrupt, or of a newer format.
class RecordError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct CallRecord {
    std::string call_id;
    std::string instance;  // the instance that owns the call (and writes its record)
    std::array<std::string, kLegs> tags;
    std::array<std::string, kLegs> labels;
    std::array<std::string, kLegs> interfaces;  // the legs' interface names
    int64_t created_us = 0, last_signal_us = 0;
    std::string notify_socket, notify_tag;  // rtpproxy's timeout notification
    std::vector<CallMedia> media;
    // What the worker needs: the signalled endpoints and policies, the relay ports
    // (MediaSpec::ports) and the learned sources (LegSpec::learned). Local addresses are left
    // unset: they come from the restoring instance's interfaces of the same names.
    SessionSpec spec;
    // A recorded call goes on being recorded where it is restored (a new file that names the
    // one before). spec.recording, the recorder's id in the instance that wrote it, is not kept.
    CallRecording recording;
};

// The record of `call` as its session is now.
CallRecord record_of(const Call& call, const SessionSnapshot& snapshot,
                     const std::string& instance);
std::string to_json(const CallRecord& record);
// Throws RecordError saying what is wrong.
CallRecord parse_call_record(std::string_view text);

}  // namespace latch
