// The rtpproxy protocol against the real latchd: over UDP (with cookies) and over a unix
// stream socket, calls with RTP both ways, one call driven by both protocols, the timeout
// notification, and the protocol's error replies.
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <sstream>

#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> args(const char* port_min, const char* port_max,
                              std::vector<std::string> more = {}) {
    std::vector<std::string> a = {"--workers", "2", "--port-min", port_min, "--port-max", port_max};
    a.insert(a.end(), more.begin(), more.end());
    return a;
}

// One command over UDP with a cookie; the reply without cookie and line end.
std::string udp_command(NgClient& client, const std::string& cookie, const std::string& command) {
    auto reply = client.exchange_raw(cookie + " " + command, 2s);
    REQUIRE(reply);
    REQUIRE(reply->rfind(cookie + " ", 0) == 0);
    REQUIRE(reply->back() == '\n');
    return reply->substr(cookie.size() + 1, reply->size() - cookie.size() - 2);
}

// One command on a fresh unix stream connection, written without a line end, as the modules do.
std::string unix_command(const std::string& path, const std::string& command) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::write(fd, command.data(), command.size()) == static_cast<ssize_t>(command.size())) {
        pollfd p{fd, POLLIN, 0};
        char buf[512];
        if (::poll(&p, 1, 2000) == 1) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) reply.assign(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    if (!reply.empty() && reply.back() == '\n') reply.pop_back();
    return reply;
}

// "33000 127.0.0.1" -> the relay endpoint
Endpoint port_reply(const std::string& reply) {
    std::istringstream in(reply);
    unsigned port = 0;
    std::string address;
    in >> port >> address;
    auto ep = Endpoint::parse(address, static_cast<uint16_t>(port));
    REQUIRE(ep);
    return *ep;
}

void expect_packet(const UdpPeer& peer, const Bytes& data, const Endpoint& from) {
    auto got = peer.receive(2s);
    REQUIRE(got);
    CHECK(got->data == data);
    CHECK(got->from == from);
}

void rtp_both_ways(const UdpPeer& uac, const Endpoint& uac_sends_to, const UdpPeer& uas,
                   const Endpoint& uas_sends_to) {
    for (uint16_t seq = 0; seq < 3; ++seq) {
        auto a = make_rtp(0x1111, seq, seq);
        uac.send_to(uac_sends_to, a);
        expect_packet(uas, a, uas_sends_to);
        auto b = make_rtp(0x2222, seq, 10 + seq);
        uas.send_to(uas_sends_to, b);
        expect_packet(uac, b, uac_sends_to);
    }
}

}  // namespace

TEST_CASE("rtpproxy over UDP: the capture's start-up, call and delete, with RTP both ways",
          "[rtpp]") {
    DaemonProcess latchd(args("27200", "27399"));
    REQUIRE(latchd.rtpp().is_set());
    NgClient client(latchd.rtpp());
    CHECK(udp_command(client, "31211_0", "V") == "20040107");
    CHECK(udp_command(client, "31211_1", "VF 20050322") == "1");
    CHECK(udp_command(client, "31211_2", "VF 20071116") == "0");
    CHECK(udp_command(client, "31211_3", "VF 20081102") == "0");

    UdpPeer uac, uas;
    std::string u =
        udp_command(client, "31212_4",
                    fmt::format("U bdf76fb5@test 127.0.0.1 {} uac-6b3fe163;1", uac.local().port()));
    Endpoint uas_sends_to = port_reply(u);  // goes into the INVITE toward the callee
    CHECK(uas_sends_to.port() >= 27200);
    CHECK(uas_sends_to.port() % 2 == 0);
    std::string l =
        udp_command(client, "31212_5",
                    fmt::format("L bdf76fb5@test 127.0.0.1 {} uac-6b3fe163;1 uas-75616059;1",
                                uas.local().port()));
    Endpoint uac_sends_to = port_reply(l);  // goes into the 200 OK toward the caller
    CHECK(uac_sends_to.port() != uas_sends_to.port());
    rtp_both_ways(uac, uac_sends_to, uas, uas_sends_to);

    // A retransmitted U gets the same reply and does not run again.
    CHECK(udp_command(
              client, "31212_4",
              fmt::format("U bdf76fb5@test 127.0.0.1 {} uac-6b3fe163;1", uac.local().port())) == u);

    std::string q = udp_command(client, "31212_6", "Q bdf76fb5@test uac-6b3fe163 uas-75616059");
    CHECK_THAT(q, Catch::Matches("[0-9]+ 3 3 6 0"));
    CHECK_THAT(udp_command(client, "31212_7", "Qv bdf76fb5@test uac-6b3fe163 uas-75616059"),
               Catch::Matches("ttl=[0-9]+ npkts_ina=3 npkts_ino=3 nrelayed=6 ndropped=0 "
                              "nexpected_ina=3 nlost_ina=0 jitter_ina_us=[0-9]+ "
                              "nexpected_ino=3 nlost_ino=0 jitter_ino_us=[0-9]+"));
    CHECK_THAT(udp_command(client, "31212_8", "Ib"),
               Catch::Contains("active sessions: 1\nactive streams: 1"));
    CHECK(udp_command(client, "31212_9", "Gv nsess_active npkt_relayed") ==
          "nsess_active=1 npkt_relayed=6");
    CHECK(udp_command(client, "31212_10", "D bdf76fb5@test uac-6b3fe163 uas-75616059") == "0");
    CHECK(udp_command(client, "31212_11", "D bdf76fb5@test uac-6b3fe163 uas-75616059") == "E50");
    CHECK(udp_command(client, "31212_12", "G nsess_active") == "0");
    CHECK_THAT(latchd.log(), Catch::Contains("call bdf76fb5@test deleted: party uac-6b3fe163"));
    CHECK(latchd.stop() == 0);
}

TEST_CASE("rtpproxy over a unix socket, one command per connection", "[rtpp][unix]") {
    std::string path = "/tmp/latch-rtpp-test-" + std::to_string(::getpid()) + ".sock";
    DaemonProcess latchd(
        args("27400", "27599", {"--listen-rtpp", "off", "--listen-rtpp-unix", path}));
    CHECK_FALSE(latchd.rtpp().is_set());
    CHECK(unix_command(path, "V") == "20040107");
    UdpPeer uac, uas;
    Endpoint uas_sends_to = port_reply(
        unix_command(path, fmt::format("U c-unix 127.0.0.1 {} ft;1", uac.local().port())));
    Endpoint uac_sends_to = port_reply(
        unix_command(path, fmt::format("L c-unix 127.0.0.1 {} ft;1 tt;1", uas.local().port())));
    rtp_both_ways(uac, uac_sends_to, uas, uas_sends_to);
    // Several commands on one connection, a line each.
    CHECK(unix_command(path, "VF 20050322\n") == "1");
    CHECK(unix_command(path, "D c-unix ft tt") == "0");
    CHECK(unix_command(path, "L c-unix 127.0.0.1 4000 ft;1 tt;1") == "0");  // unknown session
    CHECK(latchd.stop() == 0);
    CHECK(::access(path.c_str(), F_OK) != 0);  // the socket file is removed at shutdown
}

TEST_CASE("one call, created by rtpproxy and driven by ng, and the reverse", "[rtpp][ng]") {
    DaemonProcess latchd(args("27600", "27799"));
    NgClient rtpp(latchd.rtpp());
    NgClient ng(latchd.ng());
    UdpPeer uac, uas;
    Endpoint uas_sends_to = port_reply(
        udp_command(rtpp, "1_1", fmt::format("U mixed 127.0.0.1 {} ft;1", uac.local().port())));
    Endpoint uac_sends_to = port_reply(udp_command(
        rtpp, "1_2", fmt::format("L mixed 127.0.0.1 {} ft;1 tt;1", uas.local().port())));
    rtp_both_ways(uac, uac_sends_to, uas, uas_sends_to);
    auto query = ng.request({{"command", "query"}, {"call-id", "mixed"}}, NgEncoding::json, 2s);
    REQUIRE(query);
    CHECK((*query)["totals"]["RTP"]["packets"] == 6);
    CHECK((*query)["tags"]["ft"]["medias"][0]["streams"][0]["local port"] == uac_sends_to.port());
    auto deleted = ng.request({{"command", "delete"}, {"call-id", "mixed"}}, NgEncoding::json, 2s);
    REQUIRE(deleted);
    CHECK((*deleted)["result"] == "ok");
    CHECK(udp_command(rtpp, "1_3", "D mixed ft tt") == "E50");

    std::string sdp = fmt::format(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {} "
        "RTP/AVP 0\r\n",
        uac.local().port());
    auto offer =
        ng.request({{"command", "offer"}, {"call-id", "mixed2"}, {"from-tag", "a"}, {"sdp", sdp}},
                   NgEncoding::bencode, 2s);
    REQUIRE(offer);
    REQUIRE((*offer)["result"] == "ok");
    CHECK_THAT(udp_command(rtpp, "1_4", "Q mixed2 a"), Catch::Matches("[0-9]+ 0 0 0 0"));
    CHECK(udp_command(rtpp, "1_5", "D mixed2 a") == "0");
    CHECK(ng.request({{"command", "list"}}, NgEncoding::json, 2s)->at("calls").empty());
    CHECK(latchd.stop() == 0);
}

TEST_CASE("an idle rtpproxy call is reported to the notify socket", "[rtpp][notify]") {
    std::string path = "/tmp/latch-notify-test-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path.c_str());
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener, 4) == 0);

    DaemonProcess latchd(args("27800", "27899", {"--idle-timeout", "1"}));
    NgClient rtpp(latchd.rtpp());
    CHECK_THAT(
        udp_command(rtpp, "2_1", fmt::format("U idle 127.0.0.1 4000 ft;1 unix:{} 1234:5678", path)),
        Catch::Matches("[0-9]+ 127.0.0.1"));
    pollfd p{listener, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 5000) == 1);  // the timeout sweep runs every second
    int conn = ::accept(listener, nullptr, nullptr);
    REQUIRE(conn >= 0);
    char buf[64] = {};
    pollfd pc{conn, POLLIN, 0};
    REQUIRE(::poll(&pc, 1, 2000) == 1);
    ssize_t n = ::read(conn, buf, sizeof buf - 1);
    CHECK(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) == "1234:5678\n");
    ::close(conn);
    ::close(listener);
    ::unlink(path.c_str());
    CHECK(udp_command(rtpp, "2_2", "D idle ft") == "E50");  // gone
    CHECK(latchd.stop() == 0);
}

TEST_CASE("rtpproxy errors: malformed commands, unknown sessions, unsupported features",
          "[rtpp][errors]") {
    DaemonProcess latchd(
        args("27900", "27999",
             {"--interface", "default=127.0.0.1", "--interface", "pub=127.0.0.1!198.51.100.9"}));
    NgClient c(latchd.rtpp());
    CHECK(udp_command(c, "3_1", "Z") == "E0");
    CHECK(udp_command(c, "3_2", "U call 127.0.0.1") == "E1");
    CHECK(udp_command(c, "3_3", "Uq call 127.0.0.1 4000 ft") == "E2");
    CHECK(udp_command(c, "3_4", "P call prompt.wav session ft") == "E3");
    CHECK(udp_command(c, "3_5", "U call 127.0.0.1 99999 ft") == "E5");
    CHECK(udp_command(c, "3_6", "U call not-an-address 4000 ft") == "E6");
    CHECK(udp_command(c, "3_7", "U6 call 127.0.0.1 4000 ft") == "E6");  // 6 says IPv6
    CHECK(udp_command(c, "3_8", "U call 127.0.0.1 4000 ft;0") == "E7");
    CHECK(udp_command(c, "3_9", "Ul{nowhere} call 127.0.0.1 4000 ft") == "E31");
    CHECK(udp_command(c, "3_10", "Ul192.0.2.77 call 127.0.0.1 4000 ft") == "E31");
    CHECK(udp_command(c, "3_11", "L nope 127.0.0.1 4000 ft tt") == "0");
    CHECK(udp_command(c, "3_12", "D nope ft") == "E50");
    CHECK(udp_command(c, "3_13", "Q nope ft") == "E50");
    CHECK(udp_command(c, "3_14", "G no_such_counter") == "E3");
    // The interface label picks the advertised address.
    CHECK_THAT(udp_command(c, "3_15", "Ul{pub} call 127.0.0.1 4000 ft"),
               Catch::Matches("[0-9]+ 198.51.100.9"));
    CHECK(udp_command(c, "3_16", "X") == "0");
    CHECK(udp_command(c, "3_17", "G nsess_active") == "0");
    // Garbage without a cookie gets no reply; the listener still serves.
    CHECK_FALSE(c.exchange_raw("garbage", 300ms));
    CHECK(udp_command(c, "3_18", "V") == "20040107");
    CHECK(latchd.stop() == 0);
}
