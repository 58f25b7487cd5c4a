// The SDP a simple phone sends: one audio stream of G.711 on `port` at `address`; where latchd
// tells such a phone to send; a call between two of them set up over ng. Test thread.
#pragma once

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <regex>
#include <string>

#include "endpoint.hpp"
#include "ng_client.hpp"

namespace latch::test {

inline std::string audio_sdp(uint16_t port, const std::string& address = "127.0.0.1") {
    return fmt::format(
        "v=0\r\no=- 1 1 IN IP4 {0}\r\ns=-\r\nc=IN IP4 {0}\r\nt=0 0\r\nm=audio {1} RTP/AVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n",
        address, port);
}

// 127.0.0.1 and the port of the first m=audio line of an SDP latchd answered with.
inline Endpoint relay_rtp_of(const std::string& sdp) {
    std::smatch m;
    REQUIRE(std::regex_search(sdp, m, std::regex("m=audio ([0-9]+) ")));
    return *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(std::stoi(m[1].str())));
}

// Phone A's offer (from-tag "a") and phone B's answer (to-tag "b") for `call_id` over ng in
// `encoding`, each phone on 127.0.0.1 at its port: where each then sends its RTP.
struct CallTargets {
    Endpoint a_sends_to;  // the answer's port
    Endpoint b_sends_to;  // the offer's
};
// `a_label`, `b_label`: rtpengine's label for each party, sent when not empty; `offer_extra`:
// more keys for the offer (flags, metadata...).
inline CallTargets set_up_call(NgClient& client, const std::string& call_id, uint16_t a_port,
                               uint16_t b_port, NgEncoding encoding,
                               const std::string& a_label = "", const std::string& b_label = "",
                               const nlohmann::json& offer_extra = nlohmann::json::object()) {
    using namespace std::chrono_literals;
    nlohmann::json offer_request = {
        {"command", "offer"}, {"call-id", call_id}, {"from-tag", "a"}, {"sdp", audio_sdp(a_port)}};
    if (!a_label.empty()) offer_request["label"] = a_label;
    offer_request.update(offer_extra);
    auto offer = client.request(offer_request, encoding, 3s);
    REQUIRE(offer);
    nlohmann::json answer_request = {{"command", "answer"},
                                     {"call-id", call_id},
                                     {"from-tag", "a"},
                                     {"to-tag", "b"},
                                     {"sdp", audio_sdp(b_port)}};
    if (!b_label.empty()) answer_request["label"] = b_label;
    auto answer = client.request(answer_request, encoding, 3s);
    REQUIRE(answer);
    return {relay_rtp_of((*answer)["sdp"]), relay_rtp_of((*offer)["sdp"])};
}

}  // namespace latch::test
