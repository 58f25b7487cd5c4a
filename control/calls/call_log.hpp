// CallLog: the call observer that writes each call's end to the log, with its final counters
// per party. Control thread only.
#pragma once

#include <string>

#include "call_events.hpp"

namespace latch {

// One log line of a call's final counters: per party, RTP packets in/out and drops.
std::string call_summary(const Call& call, const SessionSnapshot& snapshot);

class CallLog final : public CallObserver {
  public:
    explicit CallLog(uint32_t idle_timeout_ms) : idle_timeout_ms_(idle_timeout_ms) {}
    void call_ended(const Call& call, const SessionSnapshot& final, CallEnd why) override;

  private:
    uint32_t idle_timeout_ms_;
};

}  // namespace latch
