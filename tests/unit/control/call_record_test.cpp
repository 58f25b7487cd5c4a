// Call records (what Redis keeps of a call) and Redis URLs.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "call_record.hpp"
#include "redis_link.hpp"

using namespace latch;
using nlohmann::json;

namespace {

Interface iface(const char* name, const char* address) {
    return parse_interface(std::string(name) + "=" + address);
}

// A call as the call layer holds it, and its session as the worker last reported it.
struct Sample {
    Interface external = iface("external", "203.0.113.5");
    Interface internal = iface("internal", "10.0.0.5");
    Call call;
    SessionSnapshot snap;
    Sample() {
        call.call_id = "a84b4c76e66710@pc33.example.com";
        call.tags = {"1928301774", "a6c85cf"};
        call.labels = {"caller", ""};
        call.interfaces = {&external, &internal};
        call.created_us = 1795461650632910;
        call.last_signal_us = 1795461650633000;
        call.notify_socket = "unix:/run/kamailio/timeout.sock";
        call.notify_tag = "tag1";
        call.media = {CallMedia{"audio", "RTP/AVP", {true, true}, {false, true}, {}}};
        call.media[0].clock_rates[0].set(111, 48000);  // the offer's opus
        call.media[0].clock_rates[0].set(0, 8000);
        call.media[0].clock_rates[1].set(96, 48000);  // the answer numbered it 96
        MediaSpec m;
        m.tos = 184;
        m.legs[0].expected_rtp = *Endpoint::parse("198.51.100.7:4000");
        m.legs[0].sip_source = *Endpoint::parse("198.51.100.7", 0);
        m.legs[1].expected_rtp = *Endpoint::parse("[2001:db8::9]:5004");
        m.legs[1].expected_rtcp = *Endpoint::parse("[2001:db8::9]:5009");
        m.legs[1].policy = LatchPolicy{LearningMode::immediate, false, true, false};
        call.spec.media.push_back(m);
        MediaSnapshot ms;
        ms.flows[0][0].local = *Endpoint::parse("203.0.113.5:30000");
        ms.flows[0][0].learned = *Endpoint::parse("198.51.100.7:61000");
        ms.flows[0][0].state = LatchState::confirmed;
        ms.flows[0][1].local = *Endpoint::parse("203.0.113.5:30001");
        ms.flows[1][0].local = *Endpoint::parse("10.0.0.5:30100");
        ms.flows[1][0].learned = *Endpoint::parse("[2001:db8::9]:5004");
        ms.flows[1][0].state = LatchState::learning;
        ms.flows[1][1].local = *Endpoint::parse("10.0.0.5:30101");
        snap.media.push_back(ms);
    }
};

}  // namespace

TEST_CASE("a call record holds what a restore needs, and reads back the same", "[record]") {
    Sample s;
    CallRecord r = record_of(s.call, s.snap, "relay-1");
    CallRecord back = parse_call_record(to_json(r));
    CHECK(back.call_id == s.call.call_id);
    CHECK(back.instance == "relay-1");
    CHECK(back.tags == s.call.tags);
    CHECK(back.labels == std::array<std::string, 2>{"caller", ""});
    CHECK(back.interfaces == std::array<std::string, 2>{"external", "internal"});
    CHECK(back.created_us == s.call.created_us);
    CHECK(back.notify_socket == s.call.notify_socket);
    CHECK(back.notify_tag == "tag1");
    REQUIRE(back.media.size() == 1);
    CHECK(back.media[0].type == "audio");
    CHECK(back.media[0].rtcp_mux == std::array<bool, 2>{false, true});
    REQUIRE(back.spec.media.size() == 1);
    const MediaSpec& m = back.spec.media[0];
    CHECK(m.ports == std::array<uint16_t, 2>{30000, 30100});
    CHECK(m.tos == 184);
    CHECK(m.legs[0].expected_rtp.to_string() == "198.51.100.7:4000");
    CHECK(m.legs[0].sip_source.address_string() == "198.51.100.7");
    CHECK_FALSE(m.legs[0].local.is_set());  // the restoring instance binds its own interface
    CHECK(m.legs[0].learned[0].source.to_string() == "198.51.100.7:61000");
    CHECK(m.legs[0].learned[0].state == LatchState::confirmed);
    CHECK(m.legs[0].learned[1].state == LatchState::unlearned);
    CHECK(m.legs[1].expected_rtcp.to_string() == "[2001:db8::9]:5009");
    CHECK(m.legs[1].policy.learning == LearningMode::immediate);
    CHECK(m.legs[1].policy.strict_source);
    CHECK(m.legs[1].learned[0].state == LatchState::learning);
    // Each party's payload types, and what each sends with, as signalling left them.
    CHECK(back.media[0].clock_rates == s.call.media[0].clock_rates);
    CHECK(m.legs[0].clock_rates.rate_of(96) == 48000);
    CHECK(m.legs[0].clock_rates.rate_of(111) == 48000);
    CHECK(m.legs[1].clock_rates.rate_of(111) == 48000);
    // Records written before clock rates were kept restore without them.
    json old = json::parse(to_json(r));
    for (auto& leg : old["media"][0]["legs"]) leg.erase("clock rates");
    CHECK(parse_call_record(old.dump()).spec.media[0].legs[0].clock_rates.size() == 0);
    // And before labels were.
    old.erase("labels");
    CHECK(parse_call_record(old.dump()).labels == std::array<std::string, 2>{});
    // Written the same way twice: a record is a function of the call.
    CHECK(to_json(back) == to_json(r));
    // Not recorded: nothing about recording in it.
    CHECK_FALSE(back.recording.on);
    CHECK(json::parse(to_json(r)).count("recording") == 0);
}

TEST_CASE("a recorded call's record says so, without the recorder's id of the instance",
          "[record]") {
    Sample s;
    s.call.spec.recording = 7;  // this instance's recorder id: meaningless elsewhere
    s.call.recording = CallRecording{true, true, "ticket \"9\"", "", "/var/lib/latch/r/x.pcap"};
    CallRecord back = parse_call_record(to_json(record_of(s.call, s.snap, "relay-1")));
    CHECK(back.spec.recording == 0);
    CHECK(back.recording.on);
    CHECK(back.recording.paused);
    CHECK(back.recording.metadata == "ticket \"9\"");
    CHECK(back.recording.file == "/var/lib/latch/r/x.pcap");
    CHECK(back.recording.remote.empty());
    s.call.recording = CallRecording{true, false, "", "udp:192.0.2.1:9000", ""};
    back = parse_call_record(to_json(record_of(s.call, s.snap, "relay-1")));
    CHECK(back.recording.remote == "udp:192.0.2.1:9000");
    CHECK_FALSE(back.recording.paused);
    // A collector that is not udp:ADDRESS:PORT is refused.
    json bad = json::parse(to_json(record_of(s.call, s.snap, "relay-1")));
    bad["recording"]["remote"] = "tcp:192.0.2.1:9000";
    CHECK_THROWS_WITH(parse_call_record(bad.dump()), Catch::Contains("'remote' is not udp:"));
    bad["recording"] = "yes";
    CHECK_THROWS_WITH(parse_call_record(bad.dump()),
                      Catch::Contains("'recording' is not an object"));
}

TEST_CASE("a record that cannot be restored says why", "[record]") {
    Sample s;
    json good = json::parse(to_json(record_of(s.call, s.snap, "relay-1")));
    auto with = [&](auto change) {
        json j = good;
        change(j);
        return j.dump();
    };
    struct Case {
        std::string text;
        std::string why;
    };
    std::vector<Case> cases = {
        {"", "not JSON"},
        {"{\"version\":1", "not JSON"},
        {"[1,2]", "not a JSON object"},
        {with([](json& j) { j["version"] = 2; }), "format version 2"},
        {with([](json& j) { j.erase("version"); }), "missing 'version'"},
        {with([](json& j) { j["call-id"] = 5; }), "'call-id' is not a string"},
        {with([](json& j) { j["call-id"] = ""; }), "empty call-id"},
        {with([](json& j) { j["tags"] = {"one"}; }), "'tags' is not a pair"},
        {with([](json& j) {
             j["labels"] = {"caller", 7};
         }),
         "'labels' holds strings"},
        {with([](json& j) { j["labels"] = "caller"; }), "'labels' is not a pair"},
        {with([](json& j) { j["media"] = json::array(); }), "'media' is not a list"},
        {with([](json& j) { j["media"][0]["legs"][0]["port"] = 70000; }), "'port' is not a port"},
        {with([](json& j) { j["media"][0]["legs"][1]["port"] = 0; }), "without its relay ports"},
        {with([](json& j) { j["media"][0]["legs"][0]["expected rtp"] = "nowhere"; }),
         "'expected rtp' is not an address"},
        {with([](json& j) { j["media"][0]["legs"][0]["learning"] = "psychic"; }),
         "unknown learning mode"},
        {with([](json& j) { j["media"][0]["legs"][0]["learned"][0]["state"] = "sure"; }),
         "unknown latch state"},
        {with([](json& j) { j["media"][0]["tos"] = 300; }), "'tos' is not a byte"},
        {with([](json& j) { j["media"][0]["legs"][0]["clock rates"] = 8000; }),
         "'clock rates' is not a list"},
        {with([](json& j) {
             j["media"][0]["legs"][0]["clock rates"] = {{200, 8000}};
         }),
         "not [payload type, rate]"},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        CHECK_THROWS_WITH(parse_call_record(c.text), Catch::Contains(c.why));
    }
}

TEST_CASE("Redis URLs", "[redis]") {
    RedisTarget t = parse_redis_url("redis://127.0.0.1");
    CHECK(t.host == "127.0.0.1");
    CHECK(t.port == 6379);
    CHECK(t.db == 0);
    t = parse_redis_url("redis://:s3cret@10.0.0.7:6380/2");
    CHECK(t.host == "10.0.0.7");
    CHECK(t.port == 6380);
    CHECK(t.password == "s3cret");
    CHECK(t.db == 2);
    CHECK(t.to_string() == "redis://10.0.0.7:6380/2");  // no password in logs
    t = parse_redis_url("redis://user:pw@[::1]:7000/");
    CHECK(t.host == "::1");
    CHECK(t.port == 7000);
    CHECK(t.password == "pw");
    for (const char* bad : {"http://x", "redis://", "redis://h:0", "redis://h:99999",
                            "redis://h:1/x", "redis://[::1"}) {
        INFO(bad);
        CHECK_THROWS_AS(parse_redis_url(bad), std::invalid_argument);
    }
}
