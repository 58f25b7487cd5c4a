// Recordings: which calls are recorded, to which files, and the requests that start, pause
// and stop them (ng, rtpproxy); a call observer that closes a call's recording when it ends.
// The files are written by the relay's recorder thread (relay/tap). Control thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "call_control.hpp"
#include "call_events.hpp"
#include "recorder.hpp"

namespace latch {

struct RecordingInfo {
    uint64_t id = 0;
    std::string file;      // the pcap file's path
    std::string metadata;  // the signalling's metadata string
    bool paused = false;
    bool remote = false;     // a live copy to a collector ("udp:ADDR:PORT" in file), no files
    int64_t started_us = 0;  // wall clock
    std::string continues;   // the file this one goes on from (a restart, a take-over)
};

// The answer to a request: an error (the request did nothing), or done with a warning
// (starting what runs, stopping what does not: nothing to do).
struct RecordingReply {
    std::string error;
    std::string warning;
    bool ok() const { return error.empty(); }
};

class Recordings : public CallObserver {
  public:
    using Done = std::function<void(const RecordingReply&)>;

    // `recorder`: null when latchd records nothing (no --recording-dir): every request is then
    // refused with a reason.
    Recordings(CallControl& calls, Recorder* recorder, std::string dir);

    bool enabled() const { return recorder_ != nullptr; }
    // Starts recording the call into a new file, or resumes a paused recording. `metadata`
    // (when not empty) is kept with the recording.
    void start(const std::string& call_id, const std::string& metadata, Done done);
    // A live copy of the call's relayed datagrams to a remote collector over UDP (RTP to `to`,
    // RTCP to its port + 1), sent from the relay's address, instead of files.
    void start_copy(const std::string& call_id, const Endpoint& to, Done done);
    // Stops copying: paused keeps the file open for a later start, stop closes it.
    void pause(const std::string& call_id, Done done);
    void stop(const std::string& call_id, Done done);
    // Updates the metadata string of a recorded call (offer and answer may carry it).
    void set_metadata(const std::string& call_id, const std::string& metadata);
    const RecordingInfo* find(const std::string& call_id) const;
    // What the recorder has written of it so far (packets, failure).
    RecordingStatus status(const RecordingInfo& r) const;
    // Every recording still open (latchd shuts down): closed, its metadata written.
    void close_all();
    std::size_t active() const { return active_.size(); }
    // Every recorded call (paused ones too), by call-id.
    const std::map<std::string, RecordingInfo>& all() const { return active_; }
    RecorderTotals totals() const;

    // The call is over: its recording is closed.
    void call_ended(const Call& call, const SessionSnapshot& final, CallEnd why) override;
    // A call restored from its record (a restart) that was recorded goes on being recorded, in
    // a new file whose metadata names the one before.
    void call_created(const Call& call, const SessionSnapshot& snapshot) override;
    // This instance took its calls over from a standby's copies: the recorded ones go on
    // being recorded here.
    void take_over();
    // This instance lost the floating address: the instance that took the calls records them
    // from now on; the files here are closed (the calls' records still say they are recorded).
    void hand_over();

  private:
    // Goes on recording `call` as its Call::recording says (restored or taken over).
    void resume(const Call& call);
    // What the call's record keeps of this recording.
    static CallRecording state_of(const RecordingInfo& info);
    // A new recording's pcap file in the directory; a live copy's source address (any port).
    std::string file_for(const std::string& call_id, int64_t started_us) const;
    static Endpoint copy_source(const Call& call);
    void finish(const std::string& call_id, const Call* call, const SessionSnapshot* final,
                const char* why);

    CallControl& calls_;
    Recorder* recorder_;
    std::string dir_;
    std::map<std::string, RecordingInfo> active_;  // by call-id
    uint64_t next_id_ = 1;
};

// The file name (no directory) a call's recording gets: the call-id with everything but
// letters, digits and ".-_+=@" replaced, cut to 64 characters, never starting with a dot, then
// a hash of the whole call-id (two call-ids that read alike stay apart) and `unique`.
std::string recording_file_name(const std::string& call_id, uint64_t unique);

}  // namespace latch
