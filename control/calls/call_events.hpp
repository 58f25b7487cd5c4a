// CallObserver: what happens to calls, told to whoever listens (the call log, the rtpproxy
// layer's timeout notifications; replication, recording and quality reports each as one more
// observer). Control thread only; an observer that throws is logged and counted, and neither
// the call nor the other observers notice.
#pragma once

#include <cstdint>

#include "call.hpp"
#include "relay_types.hpp"

namespace latch {

enum class CallEnd : uint8_t {
    deleted,    // a delete command (after its delete-delay, if any)
    timed_out,  // no media and no signalling for the idle timeout
    failed,     // the worker lost or refused the session
};
const char* call_end_name(CallEnd why);

class CallObserver {
  public:
    virtual ~CallObserver() = default;
    // The call's session exists on its worker (after its first offer).
    virtual void call_created(const Call&, const SessionSnapshot&) {}
    // An offer or answer from `leg` took effect (the first offer too, after call_created).
    virtual void call_signalled(const Call&, int /*leg*/, const SessionSnapshot&) {}
    // A stream of the call learned its source, or re-latched to a new one.
    virtual void call_learned(const Call&, const SessionSnapshot&) {}
    // The call's recording started, paused, resumed or stopped (Call::recording).
    virtual void call_recording_changed(const Call&, const SessionSnapshot&) {}
    // The call is over; `final` holds its last counters. The call is forgotten right after.
    virtual void call_ended(const Call&, const SessionSnapshot& /*final*/, CallEnd /*why*/) {}
};

}  // namespace latch
