// SDP parsing and rewriting: the cases of the ng reference's checklist.
#include <catch2/catch.hpp>

#include "sdp.hpp"

using namespace latch;

namespace {

std::string crlf(std::initializer_list<const char*> lines) {
    std::string s;
    for (const char* l : lines) s += std::string(l) + "\r\n";
    return s;
}
std::string lf(std::initializer_list<const char*> lines) {
    std::string s;
    for (const char* l : lines) s += std::string(l) + "\n";
    return s;
}

SdpRewrite relay_v4(std::vector<SdpMediaRewrite> media, bool origin = true) {
    SdpRewrite rw;
    rw.relay = {"IP4", "203.0.113.10"};
    rw.replace_origin = origin;
    rw.media = std::move(media);
    return rw;
}

}  // namespace

TEST_CASE("plain audio from Kamailio's capture is rewritten, CRLF kept", "[sdp]") {
    std::string offer =
        crlf({"v=0", "o=- 635081253 1 IN IP4 127.0.0.1", "s=test-uac", "c=IN IP4 127.0.0.1",
              "t=0 0", "m=audio 51756 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
              "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv"});
    Sdp sdp = parse_sdp(offer);
    REQUIRE(sdp.media.size() == 1);
    CHECK(sdp.eol == "\r\n");
    CHECK(sdp.media[0].port == 51756);
    CHECK(sdp.media[0].is_rtp());
    CHECK(sdp.media_address(0)->address == "127.0.0.1");
    CHECK(rewrite_sdp(sdp, relay_v4({{30000, 30001}})) ==
          crlf({"v=0", "o=- 635081253 1 IN IP4 203.0.113.10", "s=test-uac", "c=IN IP4 203.0.113.10",
                "t=0 0", "m=audio 30000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000",
                "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv",
                "a=rtcp:30001"}));
    // Without replace origin, o= stays as it was.
    CHECK_THAT(rewrite_sdp(sdp, relay_v4({{30000, 30001}}, false)),
               Catch::Contains("o=- 635081253 1 IN IP4 127.0.0.1\r\n"));
}

TEST_CASE("audio and video with media-level c= lines, LF kept", "[sdp]") {
    std::string body =
        lf({"v=0", "o=alice 1 2 IN IP4 10.0.0.5", "s=-", "t=0 0", "m=audio 4000 RTP/AVP 8",
            "c=IN IP4 10.0.0.5", "a=rtcp:4001", "m=video 4002 RTP/AVP 96", "c=IN IP4 10.0.0.6",
            "a=rtpmap:96 H264/90000", "a=x-unknown-attribute:kept as is"});
    Sdp sdp = parse_sdp(body);
    REQUIRE(sdp.media.size() == 2);
    CHECK(sdp.eol == "\n");
    CHECK(sdp.media_address(1)->address == "10.0.0.6");
    CHECK(sdp.media[0].rtcp_port == 4001u);
    CHECK(rewrite_sdp(sdp, relay_v4({{30000, 30001}, {30002, 30003}})) ==
          lf({"v=0", "o=alice 1 2 IN IP4 203.0.113.10", "s=-", "t=0 0", "m=audio 30000 RTP/AVP 8",
              "c=IN IP4 203.0.113.10", "a=rtcp:30001", "m=video 30002 RTP/AVP 96",
              "c=IN IP4 203.0.113.10", "a=rtpmap:96 H264/90000", "a=x-unknown-attribute:kept as is",
              "a=rtcp:30003"}));
}

TEST_CASE("hold keeps 0.0.0.0 and the direction attribute", "[sdp]") {
    std::string body = crlf({"v=0", "o=- 1 2 IN IP4 10.0.0.5", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
                             "m=audio 4000 RTP/AVP 0", "a=sendonly"});
    std::string out = rewrite_sdp(parse_sdp(body), relay_v4({{30000, 30001}}, false));
    CHECK_THAT(out, Catch::Contains("c=IN IP4 0.0.0.0\r\n"));
    CHECK_THAT(out, Catch::Contains("a=sendonly\r\n"));
    CHECK_THAT(out, Catch::Contains("m=audio 30000 RTP/AVP 0\r\n"));
    for (const char* dir : {"a=recvonly", "a=inactive"}) {
        std::string b = crlf({"v=0", "o=- 1 2 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0",
                              "m=audio 4000 RTP/AVP 0", dir});
        CHECK_THAT(rewrite_sdp(parse_sdp(b), relay_v4({{30000, 30001}})),
                   Catch::Contains(std::string(dir) + "\r\n"));
    }
}

TEST_CASE("a port-0 stream stays disabled", "[sdp]") {
    std::string body = crlf({"v=0", "o=- 1 2 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0",
                             "m=audio 4000 RTP/AVP 0", "m=video 0 RTP/AVP 96", "a=rtcp:9"});
    std::string out = rewrite_sdp(parse_sdp(body), relay_v4({{30000, 30001}, {30002, 30003}}));
    CHECK_THAT(out, Catch::Contains("m=video 0 RTP/AVP 96\r\n"));
    CHECK_THAT(out, !Catch::Contains("30002"));
    CHECK_THAT(out, !Catch::Contains("a=rtcp:9"));
    CHECK_THAT(out, Catch::EndsWith(
                        "m=audio 30000 RTP/AVP 0\r\na=rtcp:30001\r\nm=video 0 RTP/AVP 96\r\n"));
}

TEST_CASE("IPv6 connections are parsed and rewritten", "[sdp]") {
    std::string body = crlf({"v=0", "o=- 1 2 IN IP6 2001:db8::5", "s=-", "c=IN IP6 2001:db8::5",
                             "t=0 0", "m=audio 4000 RTP/AVP 0", "a=rtcp:4001 IN IP6 2001:db8::5"});
    Sdp sdp = parse_sdp(body);
    CHECK(sdp.connection->family == "IP6");
    CHECK(sdp.media[0].rtcp_address->address == "2001:db8::5");
    SdpRewrite rw;
    rw.relay = {"IP6", "2001:db8::99"};
    rw.replace_origin = true;
    rw.media = {{30000, 30001}};
    std::string out = rewrite_sdp(sdp, rw);
    CHECK_THAT(out, Catch::Contains("o=- 1 2 IN IP6 2001:db8::99\r\n"));
    CHECK_THAT(out, Catch::Contains("c=IN IP6 2001:db8::99\r\n"));
    CHECK_THAT(out, Catch::Contains("a=rtcp:30001 IN IP6 2001:db8::99\r\n"));
    CHECK_THAT(out, !Catch::Contains("2001:db8::5"));
}

TEST_CASE("ICE attributes are removed only when asked", "[sdp]") {
    std::string body =
        crlf({"v=0", "o=- 1 2 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0", "a=ice-lite",
              "m=audio 4000 RTP/AVP 0", "a=ice-ufrag:abcd", "a=ice-pwd:secretsecret",
              "a=candidate:1 1 UDP 2130706431 10.0.0.5 4000 typ host", "a=end-of-candidates",
              "a=rtcp-mux"});
    Sdp sdp = parse_sdp(body);
    CHECK(sdp.media[0].rtcp_mux);
    SdpRewrite rw = relay_v4({{30000, 30001}});
    std::string kept = rewrite_sdp(sdp, rw);
    CHECK_THAT(kept, Catch::Contains("a=candidate:1"));
    rw.remove_ice = true;
    std::string removed = rewrite_sdp(sdp, rw);
    for (const char* gone :
         {"ice-lite", "ice-ufrag", "ice-pwd", "candidate", "end-of-candidates"}) {
        CHECK_THAT(removed, !Catch::Contains(gone));
    }
    CHECK_THAT(removed, Catch::Contains("a=rtcp-mux\r\n"));
}

TEST_CASE("non-RTP media get no a=rtcp, port counts survive", "[sdp]") {
    std::string body =
        crlf({"v=0", "o=- 1 2 IN IP4 10.0.0.5", "s=-", "c=IN IP4 10.0.0.5", "t=0 0",
              "m=image 4000 udptl t38", "a=T38FaxVersion:0", "m=audio 5000/2 RTP/AVP 0"});
    Sdp sdp = parse_sdp(body);
    CHECK_FALSE(sdp.media[0].is_rtp());
    CHECK(sdp.media[1].port == 5000);
    std::string out = rewrite_sdp(sdp, relay_v4({{30000, 30001}, {30002, 30003}}));
    CHECK_THAT(
        out, Catch::Contains(
                 "m=image 30000 udptl t38\r\na=T38FaxVersion:0\r\nm=audio 30002/2 RTP/AVP 0\r\n"));
    CHECK_THAT(out, !Catch::Contains("a=rtcp:30001"));
}

TEST_CASE("unparseable SDP is refused with the line at fault", "[sdp]") {
    struct Case {
        std::string body;
        std::string reason;
    };
    auto with_head = [](const std::string& rest) {
        return "v=0\r\no=- 1 2 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n" + rest + "\r\n";
    };
    std::vector<Case> cases = {
        {"", "empty SDP"},
        {"hello world", "does not start with its version line (v=0)"},
        {crlf({"v=0", "o=- 1 2 IN IP4 1.2.3.4", "this is not sdp"}),
         "line 3: not a type=value line"},
        {crlf({"v=0", "o=- 1 IN IP4 1.2.3.4"}), "line 2: o= needs 6 fields"},
        {crlf({"v=0", "c=IN IP4"}), "c= needs 3 fields"},
        {crlf({"v=0", "c=ATM IP4 1.2.3.4"}), "network type"},
        {crlf({"v=0", "c=IN IPX 1.2.3.4"}), "address type"},
        {crlf({"v=0", "c=IN IP4 1.2.3.4", "m=audio"}), "m= needs"},
        {crlf({"v=0", "c=IN IP4 1.2.3.4", "m=audio 70000 RTP/AVP 0"}), "port is not a number"},
        {crlf({"v=0", "c=IN IP4 1.2.3.4", "m=audio x RTP/AVP 0"}), "port is not a number"},
        {with_head("m=audio 4000 RTP/AVP 0"), "no connection address"},
        {crlf({"v=0", "c=IN IP4 1.2.3.4", "m=audio 4000 RTP/AVP 0", "a=rtcp:abc"}), "a=rtcp port"},
        // A session description needs each of v=, o=, s=, t= and at least one m=.
        {"v=0", "no origin line (o=)"},
        {crlf({"o=- 1 2 IN IP4 1.2.3.4", "v=0", "s=-", "t=0 0", "c=IN IP4 1.2.3.4",
               "m=audio 4000 RTP/AVP 0"}),
         "does not start with its version line"},
        {crlf({"v=0", "s=-", "t=0 0", "c=IN IP4 1.2.3.4", "m=audio 4000 RTP/AVP 0"}),
         "no origin line (o=)"},
        {crlf({"v=0", "o=- 1 2 IN IP4 1.2.3.4", "t=0 0", "c=IN IP4 1.2.3.4",
               "m=audio 4000 RTP/AVP 0"}),
         "no session name line (s=)"},
        {crlf({"v=0", "o=- 1 2 IN IP4 1.2.3.4", "s=-", "c=IN IP4 1.2.3.4",
               "m=audio 4000 RTP/AVP 0"}),
         "no timing line (t=)"},
        {with_head("c=IN IP4 1.2.3.4"), "no media line (m=)"},
        // t= after the first m= belongs to no session: still missing.
        {crlf({"v=0", "o=- 1 2 IN IP4 1.2.3.4", "s=-", "c=IN IP4 1.2.3.4", "m=audio 4000 RTP/AVP 0",
               "t=0 0"}),
         "no timing line (t=)"},
    };
    for (const auto& c : cases) {
        INFO(c.body);
        CHECK_THROWS_WITH(parse_sdp(c.body), Catch::Contains(c.reason));
    }
}

TEST_CASE("the rewriter finds the m= port as the parser does, whatever separates the fields",
          "[sdp]") {
    // Found by fuzzing: fields separated by a tab or a stray carriage return.
    for (const char* m :
         {"m=audio\t4000 RTP/AVP 0", "m=audio 4000\tRTP/AVP 0", "m=x 0\r\x01udio/AVP 0"}) {
        INFO(m);
        std::string body =
            std::string("v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n") +
            m + "\r\n";
        Sdp sdp = parse_sdp(body);
        std::string out = rewrite_sdp(sdp, relay_v4({{30000, 30001}}));
        Sdp again = parse_sdp(out);
        REQUIRE(again.media.size() == 1);
        CHECK(again.media[0].port == (sdp.media[0].port == 0 ? 0u : 30000u));
    }
}

TEST_CASE("payload types' clock rates come from rtpmap, else the static table", "[sdp][quality]") {
    Sdp sdp = parse_sdp(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        "m=audio 4000 RTP/AVP 111 0 9 101 96 13\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=rtpmap:96 broken\r\n"
        "a=rtpmap:200 PCMU/8000\r\n"
        "m=video 4002 RTP/AVP 97\r\n"
        "a=rtpmap:97 H264/90000\r\n");
    REQUIRE(sdp.media.size() == 2);
    const SdpMedia& audio = sdp.media[0];
    CHECK(audio.formats == std::vector<std::string>{"111", "0", "9", "101", "96", "13"});
    REQUIRE(audio.rtpmaps.size() == 2);  // the malformed and out-of-range ones left out
    CHECK(audio.rtpmaps[0].payload_type == 111);
    CHECK(audio.rtpmaps[0].encoding == "opus");
    CHECK(audio.rtpmaps[0].clock_rate == 48000);
    ClockRates rates = clock_rates(audio);
    CHECK(rates.rate_of(111) == 48000);
    CHECK(rates.rate_of(0) == 8000);
    CHECK(rates.rate_of(9) == 8000);
    CHECK(rates.rate_of(101) == 8000);
    CHECK(rates.rate_of(96) == 0);  // dynamic, with no usable rtpmap
    CHECK(rates.size() == 5);
    CHECK(clock_rates(sdp.media[1]).rate_of(97) == 90000);
    // What recordings' metadata says of the codecs: each format by its rtpmap or static name.
    CHECK(codec_list(audio) ==
          "111 opus/48000, 0 PCMU/8000, 9 G722/8000, 101 telephone-event/8000, 96, 13 CN/8000");
    CHECK(codec_list(sdp.media[1]) == "97 H264/90000");
}
