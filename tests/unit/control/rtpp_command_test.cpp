// rtpproxy command parsing: every command, the modifiers, and malformed input.
#include <catch2/catch.hpp>

#include "rtpp_command.hpp"

using namespace latch;

namespace {
int error_code(const char* line) {
    try {
        parse_rtpp(line);
    } catch (const RtppError& e) {
        return e.code;
    }
    return -1;
}
}  // namespace

TEST_CASE("rtpproxy version and capability queries", "[rtpp]") {
    CHECK(parse_rtpp("V").op == RtppOp::version);
    auto vf = parse_rtpp("VF 20050322");
    CHECK(vf.op == RtppOp::feature);
    CHECK(vf.feature == "20050322");
    CHECK(rtpp_feature_supported("20040107"));
    CHECK(rtpp_feature_supported("20050322"));
    CHECK(rtpp_feature_supported("20081224"));
    CHECK_FALSE(rtpp_feature_supported("20071116"));  // re-packetization: not done
    CHECK_FALSE(rtpp_feature_supported("20081102"));  // codec lists: not acted on
    CHECK_FALSE(rtpp_feature_supported("garbage"));
}

TEST_CASE("U and L as Kamailio's capture sends them", "[rtpp]") {
    auto u = parse_rtpp("U bdf76fb5652aff26@test 127.0.0.1 43879 uac-6b3fe163;1");
    CHECK(u.op == RtppOp::update);
    CHECK(u.call_id == "bdf76fb5652aff26@test");
    CHECK(u.address == "127.0.0.1");
    CHECK(u.port == 43879);
    CHECK(u.from.tag == "uac-6b3fe163");
    CHECK(u.from.media == 1);
    CHECK(u.to.tag.empty());

    auto l = parse_rtpp("L bdf76fb5652aff26@test 127.0.0.1 35974 uac-6b3fe163;1 uas-75616059;1");
    CHECK(l.op == RtppOp::lookup);
    CHECK(l.port == 35974);
    CHECK(l.to.tag == "uas-75616059");
}

TEST_CASE("U with a second stream, both tags and a timeout notification", "[rtpp]") {
    auto u = parse_rtpp("U c1 10.0.0.1 4002 ft;2 tt;2 unix:/run/kamailio/rtpp.sock 42:17");
    CHECK(u.from.media == 2);
    CHECK(u.to.tag == "tt");
    CHECK(u.notify_socket == "unix:/run/kamailio/rtpp.sock");
    CHECK(u.notify_tag == "42:17");
    auto no_to = parse_rtpp("U c1 10.0.0.1 4002 ft;1 tcp:127.0.0.1:9999 tag");
    CHECK(no_to.to.tag.empty());
    CHECK(no_to.notify_socket == "tcp:127.0.0.1:9999");
}

TEST_CASE("U/L modifiers", "[rtpp]") {
    auto a = parse_rtpp("UA c1 10.0.0.1 4000 ft");
    CHECK(a.asymmetric);
    CHECK_FALSE(parse_rtpp("Us c1 10.0.0.1 4000 ft").asymmetric);
    auto six = parse_rtpp("U6 c1 2001:db8::1 4000 ft");
    CHECK(six.ipv6);
    auto bridge = parse_rtpp("Uei c1 10.0.0.1 4000 ft");
    CHECK(bridge.from_interface == "external");
    CHECK(bridge.to_interface == "internal");
    auto codecs = parse_rtpp("Uc0,8,101z20a c1 10.0.0.1 4000 ft");
    CHECK(codecs.asymmetric);  // 'a' after the c and z values is still a modifier
    auto label = parse_rtpp("Ul{pub}S c1 10.0.0.1 4000 ft");
    CHECK(label.from_interface == "pub");
    auto local = parse_rtpp("Ul192.0.2.1 c1 10.0.0.1 4000 ft");
    CHECK(local.local_address == "192.0.2.1");
    CHECK(parse_rtpp("UwnR10.0.0.9 c1 10.0.0.1 4000 ft").port == 4000);
}

TEST_CASE("D, Q, I, G and X", "[rtpp]") {
    auto d = parse_rtpp("D c1 ft tt");
    CHECK(d.op == RtppOp::remove);
    CHECK(d.to.tag == "tt");
    CHECK(parse_rtpp("D c1 ft").to.tag.empty());
    auto q = parse_rtpp("Qv c1 ft tt");
    CHECK(q.op == RtppOp::query);
    CHECK(q.verbose);
    CHECK(parse_rtpp("Ib").brief);
    auto g = parse_rtpp("Gv nsess_created npkt_relayed");
    CHECK(g.verbose);
    CHECK(g.names == std::vector<std::string>{"nsess_created", "npkt_relayed"});
    CHECK(parse_rtpp("X").op == RtppOp::delete_all);
}

TEST_CASE("malformed rtpproxy commands get the protocol's error codes", "[rtpp]") {
    CHECK(error_code("") == kRtppUnknownCommand);
    CHECK(error_code("Z c1") == kRtppUnknownCommand);
    CHECK(error_code("V extra") == kRtppArgumentCount);
    CHECK(error_code("VF") == kRtppArgumentCount);
    CHECK(error_code("U c1 10.0.0.1 4000") == kRtppArgumentCount);
    CHECK(error_code("L c1 10.0.0.1 4000 ft") == kRtppArgumentCount);
    CHECK(error_code("D c1") == kRtppArgumentCount);
    CHECK(error_code("Uq c1 10.0.0.1 4000 ft") == kRtppBadModifier);
    CHECK(error_code("Ul{x c1 10.0.0.1 4000 ft") == kRtppBadModifier);
    CHECK(error_code("Dv c1 ft") == kRtppBadModifier);
    CHECK(error_code("U c1 10.0.0.1 70000 ft") == kRtppBadPort);
    CHECK(error_code("U c1 10.0.0.1 4x ft") == kRtppBadPort);
    CHECK(error_code("U c1 10.0.0.1 4000 ft;0") == kRtppBadMediaNumber);
    CHECK(error_code("U c1 10.0.0.1 4000 ft;x") == kRtppBadMediaNumber);
    CHECK(error_code("U c1 10.0.0.1 4000 ;1") == kRtppBadTag);
    CHECK(error_code("P c1 prompt session ft") == kRtppUnsupported);
    CHECK(error_code("C c1 udp:192.0.2.1:5000") == kRtppArgumentCount);
    auto copy = parse_rtpp("C c1 udp:192.0.2.1:5000 ft tt");
    CHECK(copy.op == RtppOp::copy);
    CHECK(copy.copy_target == "udp:192.0.2.1:5000");
    CHECK(copy.from.tag == "ft");
    CHECK(error_code("R c1") == kRtppArgumentCount);
    CHECK(error_code("Rx c1 ft") == kRtppBadModifier);
    auto r = parse_rtpp("R c1 ft;1 tt");
    CHECK(r.op == RtppOp::record);
    CHECK(r.call_id == "c1");
    CHECK(r.from.tag == "ft");
    CHECK(r.to.tag == "tt");
}
