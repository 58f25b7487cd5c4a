// Recordings. Control thread only; the metadata file is written by the recorder's thread once
// the pcap file is complete.
#include "recordings.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "log.hpp"

namespace latch {
namespace {

std::string iso_time(int64_t us) {
    std::time_t t = static_cast<std::time_t>(us / 1'000'000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    return fmt::format("{}.{:03}Z", buf, (us % 1'000'000) / 1000);
}

uint64_t fnv1a(const std::string& text) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : text) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

// Written next to the pcap file, 0640, never over an existing file, and whole or not at all:
// under a temporary name first, then linked to its own (a reader never sees half of it). The
// recorder's thread.
void write_metadata(const std::string& path, const std::string& text) {
    std::string partial = path + ".partial";
    int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    bool ok = fd >= 0;
    if (ok) {
        ::fchmod(fd, 0640);
        std::size_t done = 0;
        while (ok && done < text.size()) {
            ssize_t n = ::write(fd, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            ok = n > 0;
            if (ok) done += static_cast<std::size_t>(n);
        }
        ok = ::close(fd) == 0 && ok;
        ok = ok && ::link(partial.c_str(), path.c_str()) == 0;
    }
    int error = errno;
    if (fd >= 0) ::unlink(partial.c_str());
    if (!ok) log(LogLevel::warning, "recording metadata {}: {}", path, std::strerror(error));
}

}  // namespace

std::string recording_file_name(const std::string& call_id, uint64_t unique) {
    std::string safe;
    for (char c : call_id) {
        if (safe.size() == 64) break;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::strchr(".-_+=@", c) != nullptr;
        safe += keep && c != '\0' ? c : '_';
    }
    if (safe.empty() || safe[0] == '.') safe.insert(safe.begin(), '_');
    return fmt::format("{}-{:016x}-{}", safe, fnv1a(call_id), unique);
}

Recordings::Recordings(CallControl& calls, Recorder* recorder, std::string dir)
    : calls_(calls), recorder_(recorder), dir_(std::move(dir)) {}

const RecordingInfo* Recordings::find(const std::string& call_id) const {
    auto it = active_.find(call_id);
    return it == active_.end() ? nullptr : &it->second;
}

RecordingStatus Recordings::status(const RecordingInfo& r) const {
    return recorder_ ? recorder_->status(r.id) : RecordingStatus{};
}

RecorderTotals Recordings::totals() const {
    return recorder_ ? recorder_->totals() : RecorderTotals{};
}

void Recordings::set_metadata(const std::string& call_id, const std::string& metadata) {
    auto it = active_.find(call_id);
    if (it == active_.end() || metadata.empty()) return;
    it->second.metadata = metadata;
    calls_.set_recording_metadata(call_id, metadata);  // the call's record says it too
}

void Recordings::start(const std::string& call_id, const std::string& metadata, Done done) {
    if (!enabled()) {
        return done({"recording is not configured here (latchd records with --recording-dir)", ""});
    }
    if (calls_.find(call_id) == nullptr) return done({"Unknown call-id", ""});
    auto it = active_.find(call_id);
    if (it != active_.end() && !it->second.paused) {
        set_metadata(call_id, metadata);
        return done({"", "the call is already being recorded"});
    }
    bool resume = it != active_.end();
    uint64_t id = resume ? it->second.id : next_id_++;
    if (!resume) {
        RecordingInfo info;
        info.id = id;
        info.started_us = calls_.clocks().wall_us;
        info.file = file_for(call_id, info.started_us);
        info.metadata = metadata;
        recorder_->open(id, info.file);
        active_.emplace(call_id, info);
        log(LogLevel::info, "call {} recorded to {}", call_id, info.file);
    } else {
        it->second.paused = false;
        set_metadata(call_id, metadata);
    }
    const RecordingInfo& current = active_.at(call_id);
    calls_.set_recording(
        call_id, id, state_of(current), [this, call_id, done, resume](const CallResult& r) {
            if (r.error == CallError::none) return done({});
            // The call went (or its worker refused) before the copies began.
            if (!resume) finish(call_id, r.call, nullptr, "refused");
            done({r.message.empty() ? "the call could not be recorded" : r.message, ""});
        });
}

void Recordings::start_copy(const std::string& call_id, const Endpoint& to, Done done) {
    if (!enabled()) {
        return done({"recording is not configured here (latchd records with --recording-dir)", ""});
    }
    const Call* call = calls_.find(call_id);
    if (call == nullptr) return done({"Unknown call-id", ""});
    if (active_.count(call_id) != 0) return done({"", "the call is already being recorded"});
    RecordingInfo info;
    info.id = next_id_++;
    info.remote = true;
    info.started_us = calls_.clocks().wall_us;
    info.file = "udp:" + to.to_string();
    recorder_->open_remote(info.id, to, copy_source(*call));
    active_.emplace(call_id, info);
    log(LogLevel::info, "call {} copied to {}", call_id, info.file);
    calls_.set_recording(
        call_id, info.id, state_of(info), [this, call_id, done](const CallResult& r) {
            if (r.error == CallError::none) return done({});
            finish(call_id, r.call, nullptr, "refused");
            done({r.message.empty() ? "the call could not be copied" : r.message, ""});
        });
}

void Recordings::pause(const std::string& call_id, Done done) {
    if (!enabled()) {
        return done({"recording is not configured here (latchd records with --recording-dir)", ""});
    }
    if (calls_.find(call_id) == nullptr) return done({"Unknown call-id", ""});
    auto it = active_.find(call_id);
    if (it == active_.end()) return done({"", "the call is not being recorded"});
    if (it->second.paused) return done({"", "the recording is paused already"});
    it->second.paused = true;
    calls_.set_recording(call_id, 0, state_of(it->second), [done](const CallResult& r) {
        done(r.error == CallError::none ? RecordingReply{} : RecordingReply{r.message, ""});
    });
}

void Recordings::stop(const std::string& call_id, Done done) {
    if (!enabled()) {
        return done({"recording is not configured here (latchd records with --recording-dir)", ""});
    }
    if (calls_.find(call_id) == nullptr) return done({"Unknown call-id", ""});
    if (active_.find(call_id) == active_.end()) return done({"", "the call is not being recorded"});
    calls_.set_recording(call_id, 0, CallRecording{}, [this, call_id, done](const CallResult& r) {
        // Whatever the worker said, the copies stop here: the file is complete.
        finish(call_id, r.call, r.error == CallError::none ? &r.snapshot : nullptr, "stopped");
        done({});
    });
}

void Recordings::call_ended(const Call& call, const SessionSnapshot& final, CallEnd why) {
    if (active_.count(call.call_id) == 0) return;
    finish(call.call_id, &call, &final,
           why == CallEnd::deleted     ? "call deleted"
           : why == CallEnd::timed_out ? "call timed out"
                                       : "call failed");
}

std::string Recordings::file_for(const std::string& call_id, int64_t started_us) const {
    return dir_ + "/" + recording_file_name(call_id, static_cast<uint64_t>(started_us / 1000)) +
           ".pcap";
}

Endpoint Recordings::copy_source(const Call& call) {
    return call.interfaces[0] != nullptr ? call.interfaces[0]->bind : Endpoint{};
}

CallRecording Recordings::state_of(const RecordingInfo& info) {
    CallRecording s;
    s.on = true;
    s.paused = info.paused;
    s.metadata = info.metadata;
    if (info.remote)
        s.remote = info.file;
    else
        s.file = info.file;
    return s;
}

void Recordings::call_created(const Call& call, const SessionSnapshot&) {
    // New calls are not recorded yet; a standby's copies are recorded where they are served.
    if (call.recording.on && !call.spec.standby) resume(call);
}

void Recordings::take_over() {
    for (const auto& call_id : calls_.list(calls_.calls())) {
        const Call* call = calls_.find(call_id);
        if (call != nullptr && call->recording.on && !call->spec.standby) resume(*call);
    }
}

void Recordings::hand_over() {
    std::vector<std::string> ids;
    for (const auto& [call_id, info] : active_) ids.push_back(call_id);
    for (const auto& call_id : ids)
        finish(call_id, calls_.find(call_id), nullptr, "the floating address moved away");
}

void Recordings::resume(const Call& call) {
    const std::string& call_id = call.call_id;
    if (active_.count(call_id) != 0) return;
    const CallRecording& was = call.recording;
    const std::string before = was.remote.empty() ? was.file : was.remote;
    if (!enabled()) {
        log(LogLevel::warning,
            "call {} was recorded ({}); it goes on unrecorded: latchd records with "
            "--recording-dir",
            call_id, before);
        return;
    }
    RecordingInfo info;
    info.id = next_id_++;
    info.started_us = calls_.clocks().wall_us;
    info.metadata = was.metadata;
    info.paused = was.paused;
    if (!was.remote.empty()) {
        auto to = Endpoint::parse(was.remote.substr(4));
        if (!to) return;  // the record's parser let no other through
        info.remote = true;
        info.file = was.remote;
        recorder_->open_remote(info.id, *to, copy_source(call));
    } else {
        info.file = file_for(call_id, info.started_us);
        info.continues = was.file;
        recorder_->open(info.id, info.file);
    }
    active_.emplace(call_id, info);
    log(LogLevel::info, "call {}: recording goes on {} {}{} (it was {} before)", call_id,
        info.remote ? "as a copy to" : "in", info.file, info.paused ? ", paused" : "", before);
    if (info.paused) return;  // the file waits for a start, as it did
    calls_.set_recording(call_id, info.id, state_of(info), [this, call_id](const CallResult& r) {
        if (r.error == CallError::none) return;
        log(LogLevel::warning, "call {}: recording not resumed: {}", call_id, r.message);
        finish(call_id, r.call, nullptr, "refused");
    });
}

void Recordings::close_all() {
    while (!active_.empty()) {
        std::string call_id = active_.begin()->first;
        finish(call_id, calls_.find(call_id), nullptr, "latchd stopped");
    }
}

void Recordings::finish(const std::string& call_id, const Call* call, const SessionSnapshot* final,
                        const char* why) {
    auto it = active_.find(call_id);
    if (it == active_.end()) return;
    RecordingInfo info = it->second;
    active_.erase(it);
    if (info.remote) {  // nothing on disk to describe
        log(LogLevel::info, "call {}: copy to {} stopped ({})", call_id, info.file, why);
        return recorder_->close(info.id);
    }
    int64_t now = calls_.clocks().wall_us;
    nlohmann::json meta = {{"call-id", call_id},
                           {"file", info.file.substr(info.file.rfind('/') + 1)},
                           {"metadata", info.metadata},
                           {"started", iso_time(info.started_us)},
                           {"stopped", iso_time(now)},
                           {"started unix ms", info.started_us / 1000},
                           {"stopped unix ms", now / 1000},
                           {"ended by", why}};
    if (!info.continues.empty())
        meta["continues"] = info.continues.substr(info.continues.rfind('/') + 1);
    if (call != nullptr) {
        nlohmann::json parties = nlohmann::json::array();
        for (int leg = 0; leg < kLegs; ++leg) {
            nlohmann::json media = nlohmann::json::array();
            for (std::size_t i = 0; i < call->media.size(); ++i) {
                nlohmann::json m = {{"type", call->media[i].type},
                                    {"protocol", call->media[i].proto},
                                    {"codecs", call->media[i].codecs[leg]}};
                if (final != nullptr && i < final->media.size()) {
                    const auto& flows = final->media[i].flows[leg];
                    m["relay port"] = flows[0].local.port();
                    if (flows[0].learned.is_set()) m["rtp from"] = flows[0].learned.to_string();
                    if (flows[1].learned.is_set()) m["rtcp from"] = flows[1].learned.to_string();
                    m["packets"] = flows[0].counters.packets_in + flows[1].counters.packets_in;
                }
                media.push_back(std::move(m));
            }
            parties.push_back({{"tag", call->tags[leg]},
                               {"label", call->labels[leg]},
                               {"media", std::move(media)}});
        }
        meta["parties"] = std::move(parties);
    }
    if (final != nullptr) meta["packets dropped"] = final->recording_drops;
    std::string path = info.file.substr(0, info.file.size() - 5) + ".json";
    log(LogLevel::info, "call {}: recording {} closed ({})", call_id, info.file, why);
    recorder_->close(info.id, [meta = std::move(meta), path](const RecordingStatus& s) mutable {
        meta["packets recorded"] = s.packets;
        meta["bytes recorded"] = s.bytes;
        meta["failed"] = s.failed;
        if (s.failed) meta["error"] = s.error;
        write_metadata(path,
                       meta.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    });
}

}  // namespace latch
