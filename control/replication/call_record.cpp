// CallRecord to and from JSON. Pure functions; any thread.
#include "call_record.hpp"

#include <nlohmann/json.hpp>

namespace latch {
namespace {

using nlohmann::json;

std::string endpoint_text(const Endpoint& e) {
    return e.is_set() ? e.to_string() : std::string();
}

[[noreturn]] void bad(const std::string& what) {
    throw RecordError(what);
}

// The record's readers: each checks the type and says which key is wrong.
const json& at(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) bad(std::string("missing '") + key + "'");
    return *it;
}
std::string text(const json& j, const char* key) {
    const json& v = at(j, key);
    if (!v.is_string()) bad(std::string("'") + key + "' is not a string");
    return v.get<std::string>();
}
int64_t integer(const json& j, const char* key) {
    const json& v = at(j, key);
    if (!v.is_number_integer()) bad(std::string("'") + key + "' is not an integer");
    return v.get<int64_t>();
}
bool flag(const json& j, const char* key) {
    const json& v = at(j, key);
    if (!v.is_boolean()) bad(std::string("'") + key + "' is not true or false");
    return v.get<bool>();
}
const json& pair(const json& j, const char* key) {
    const json& v = at(j, key);
    if (!v.is_array() || v.size() != kLegs) bad(std::string("'") + key + "' is not a pair");
    return v;
}
Endpoint endpoint(const json& j, const char* key, bool with_port = true) {
    std::string t = text(j, key);
    if (t.empty()) return {};
    auto e = with_port ? Endpoint::parse(t) : Endpoint::parse(t, 0);
    if (!e) bad(std::string("'") + key + "' is not an address: '" + t + "'");
    return *e;
}

LatchState state_of(const std::string& s) {
    if (auto state = parse_latch_state(s)) return *state;
    bad("unknown latch state '" + s + "'");
}

LearningMode learning_of(const std::string& s) {
    if (auto mode = parse_learning_mode(s)) return *mode;
    bad("unknown learning mode '" + s + "'");
}

}  // namespace

CallRecord record_of(const Call& call, const SessionSnapshot& snap, const std::string& instance) {
    CallRecord r;
    r.call_id = call.call_id;
    r.instance = instance;
    r.tags = call.tags;
    r.labels = call.labels;
    for (int leg = 0; leg < kLegs; ++leg)
        r.interfaces[leg] = call.interfaces[leg] ? call.interfaces[leg]->name : "";
    r.created_us = call.created_us;
    r.last_signal_us = call.last_signal_us;
    r.notify_socket = call.notify_socket;
    r.notify_tag = call.notify_tag;
    r.media = call.media;
    r.spec = call.spec;
    r.spec.recording = 0;
    r.recording = call.recording;
    for (std::size_t i = 0; i < r.spec.media.size(); ++i) {
        MediaSpec& m = r.spec.media[i];
        for (int leg = 0; leg < kLegs; ++leg) {
            m.legs[leg].local = Endpoint{};
            m.ports[leg] = 0;
            m.legs[leg].learned = {};
            if (i >= snap.media.size()) continue;
            const auto& flows = snap.media[i].flows[leg];
            m.ports[leg] = flows[0].local.port();
            for (int c = 0; c < kComponents; ++c)
                m.legs[leg].learned[c] = {flows[c].learned, flows[c].state};
        }
    }
    return r;
}

std::string to_json(const CallRecord& r) {
    json media = json::array();
    for (std::size_t i = 0; i < r.spec.media.size() && i < r.media.size(); ++i) {
        const MediaSpec& m = r.spec.media[i];
        const CallMedia& info = r.media[i];
        json legs = json::array();
        for (int leg = 0; leg < kLegs; ++leg) {
            const LegSpec& l = m.legs[leg];
            json clocks = json::array();
            info.clock_rates[leg].for_each([&](uint8_t type, uint32_t rate) {
                clocks.push_back({type, rate});
            });
            json learned = json::array();
            for (const auto& one : l.learned)
                learned.push_back({{"source", endpoint_text(one.source)},
                                   {"state", latch_state_name(one.state)}});
            legs.push_back(
                {{"port", m.ports[leg]},
                 {"expected rtp", endpoint_text(l.expected_rtp)},
                 {"expected rtcp", endpoint_text(l.expected_rtcp)},
                 {"sip source", l.sip_source.is_set() ? l.sip_source.address_string() : ""},
                 {"learning", learning_mode_name(l.policy.learning)},
                 {"asymmetric", l.policy.asymmetric},
                 {"strict source", l.policy.strict_source},
                 {"media handover", l.policy.media_handover},
                 {"signalled", info.signalled[leg]},
                 {"rtcp-mux offered", info.rtcp_mux[leg]},
                 {"clock rates", std::move(clocks)},
                 {"learned", std::move(learned)}});
        }
        media.push_back({{"type", info.type},
                         {"protocol", info.proto},
                         {"rtp", m.transport == Transport::rtp},
                         {"rtcp-mux", m.rtcp_mux},
                         {"tos", m.tos},
                         {"legs", std::move(legs)}});
    }
    json j = {{"version", kCallRecordVersion},
              {"instance", r.instance},
              {"call-id", r.call_id},
              {"tags", r.tags},
              {"labels", r.labels},
              {"interfaces", r.interfaces},
              {"created us", r.created_us},
              {"last signal us", r.last_signal_us},
              {"notify", {{"socket", r.notify_socket}, {"tag", r.notify_tag}}},
              {"media", std::move(media)}};
    if (r.recording.on) {
        j["recording"] = {{"paused", r.recording.paused},
                          {"metadata", r.recording.metadata},
                          {"remote", r.recording.remote},
                          {"file", r.recording.file}};
    }
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

CallRecord parse_call_record(std::string_view text_form) {
    json j;
    try {
        j = json::parse(text_form);
    } catch (const json::exception& e) {
        bad(std::string("not JSON: ") + e.what());
    }
    if (!j.is_object()) bad("not a JSON object");
    int64_t version = integer(j, "version");
    if (version != kCallRecordVersion)
        bad("format version " + std::to_string(version) + ", this latchd reads " +
            std::to_string(kCallRecordVersion));
    CallRecord r;
    r.instance = text(j, "instance");
    r.call_id = text(j, "call-id");
    if (r.call_id.empty()) bad("empty call-id");
    for (int leg = 0; leg < kLegs; ++leg) {
        const json& t = pair(j, "tags")[static_cast<std::size_t>(leg)];
        const json& i = pair(j, "interfaces")[static_cast<std::size_t>(leg)];
        if (!t.is_string() || !i.is_string()) bad("'tags' and 'interfaces' hold strings");
        r.tags[leg] = t.get<std::string>();
        r.interfaces[leg] = i.get<std::string>();
    }
    // Records written before labels were kept have none.
    if (auto labels = j.find("labels"); labels != j.end()) {
        for (int leg = 0; leg < kLegs; ++leg) {
            const json& l = pair(j, "labels")[static_cast<std::size_t>(leg)];
            if (!l.is_string()) bad("'labels' holds strings");
            r.labels[leg] = l.get<std::string>();
        }
    }
    r.created_us = integer(j, "created us");
    r.last_signal_us = integer(j, "last signal us");
    const json& notify = at(j, "notify");
    if (!notify.is_object()) bad("'notify' is not an object");
    r.notify_socket = text(notify, "socket");
    r.notify_tag = text(notify, "tag");
    if (auto rec = j.find("recording"); rec != j.end()) {
        if (!rec->is_object()) bad("'recording' is not an object");
        r.recording.on = true;
        r.recording.paused = flag(*rec, "paused");
        r.recording.metadata = text(*rec, "metadata");
        r.recording.remote = text(*rec, "remote");
        r.recording.file = text(*rec, "file");
        if (!r.recording.remote.empty() && (r.recording.remote.rfind("udp:", 0) != 0 ||
                                            !Endpoint::parse(r.recording.remote.substr(4))))
            bad("'remote' is not udp:ADDRESS:PORT");
    }
    const json& media = at(j, "media");
    if (!media.is_array() || media.empty()) bad("'media' is not a list of streams");
    for (const json& m : media) {
        if (!m.is_object()) bad("a stream is not an object");
        CallMedia info;
        info.type = text(m, "type");
        info.proto = text(m, "protocol");
        MediaSpec spec;
        spec.transport = flag(m, "rtp") ? Transport::rtp : Transport::non_rtp;
        spec.rtcp_mux = flag(m, "rtcp-mux");
        int64_t tos = integer(m, "tos");
        if (tos < 0 || tos > 255) bad("'tos' is not a byte");
        spec.tos = static_cast<uint8_t>(tos);
        const json& legs = pair(m, "legs");
        for (int leg = 0; leg < kLegs; ++leg) {
            const json& l = legs[static_cast<std::size_t>(leg)];
            if (!l.is_object()) bad("a leg is not an object");
            int64_t port = integer(l, "port");
            if (port < 0 || port > 65535) bad("'port' is not a port");
            spec.ports[leg] = static_cast<uint16_t>(port);
            LegSpec& ls = spec.legs[leg];
            ls.expected_rtp = endpoint(l, "expected rtp");
            ls.expected_rtcp = endpoint(l, "expected rtcp");
            ls.sip_source = endpoint(l, "sip source", false);
            ls.policy = LatchPolicy{learning_of(text(l, "learning")), flag(l, "asymmetric"),
                                    flag(l, "strict source"), flag(l, "media handover")};
            info.signalled[leg] = flag(l, "signalled");
            info.rtcp_mux[leg] = flag(l, "rtcp-mux offered");
            // The party's payload types' clocks (records written before they were kept have
            // none: the stream's jitter waits for the next signalling).
            if (auto clocks = l.find("clock rates"); clocks != l.end()) {
                if (!clocks->is_array()) bad("'clock rates' is not a list");
                for (const json& c : *clocks) {
                    if (!c.is_array() || c.size() != 2 || !c[0].is_number_unsigned() ||
                        !c[1].is_number_unsigned() || c[0].get<uint64_t>() > 127 ||
                        c[1].get<uint64_t>() > 10'000'000)
                        bad("a clock rate is not [payload type, rate]");
                    info.clock_rates[leg].set(c[0].get<uint8_t>(), c[1].get<uint32_t>());
                }
            }
            const json& learned = pair(l, "learned");
            for (int c = 0; c < kComponents; ++c) {
                const json& one = learned[static_cast<std::size_t>(c)];
                if (!one.is_object()) bad("a learned source is not an object");
                ls.learned[c] = {endpoint(one, "source"), state_of(text(one, "state"))};
            }
        }
        if (spec.ports[0] == 0 || spec.ports[1] == 0) bad("a stream without its relay ports");
        for (int leg = 0; leg < kLegs; ++leg) spec.legs[leg].clock_rates = info.sent_by(leg);
        r.media.push_back(std::move(info));
        r.spec.media.push_back(std::move(spec));
    }
    return r;
}

}  // namespace latch
