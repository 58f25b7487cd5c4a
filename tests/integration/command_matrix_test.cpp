// Every command of both control protocols against the real latchd, in every encoding and over
// every transport, in three states: no calls, a call carrying media, and after its delete. Each
// reply must decode in the request's form with the expected result. The tables are written to
// command_matrix_ng.md and command_matrix_rtpp.md in the test's working directory.
#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "phone_sdp.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

struct Row {
    std::string protocol, form, state, command, result;
    bool pass;
};

std::vector<Row>& rows() {
    static std::vector<Row> all;
    return all;
}

void write_table(const char* path) {
    std::ofstream out(path);
    out << "| protocol | encoding / transport | state | command | reply | as expected |\n"
           "| --- | --- | --- | --- | --- | --- |\n";
    for (const auto& r : rows()) {
        out << "| " << r.protocol << " | " << r.form << " | " << r.state << " | " << r.command
            << " | " << r.result << " | " << (r.pass ? "yes" : "NO") << " |\n";
    }
}

Endpoint relay_target(const std::string& sdp) {
    std::smatch c, m;
    REQUIRE(std::regex_search(sdp, c, std::regex("c=IN IP4 ([0-9.]+)")));
    REQUIRE(std::regex_search(sdp, m, std::regex("m=audio ([0-9]+) ")));
    return *Endpoint::parse(c[1].str(), static_cast<uint16_t>(std::stoi(m[1].str())));
}

// Three packets each way between the phones through the relay.
void media_both_ways(const UdpPeer& a, const Endpoint& a_sends_to, const UdpPeer& b,
                     const Endpoint& b_sends_to) {
    for (uint16_t seq = 1; seq <= 3; ++seq) {
        a.send_to(a_sends_to, make_rtp(0xA, seq));
        REQUIRE(b.receive(2s));
        b.send_to(b_sends_to, make_rtp(0xB, seq));
        REQUIRE(a.receive(2s));
    }
}

// Every key path of a reply ("statistics/control/ng/requests"...), list items under "[]":
// what must match between the two encodings.
void key_paths(const json& v, const std::string& prefix, std::set<std::string>& out) {
    if (v.is_object()) {
        for (const auto& [k, item] : v.items()) {
            out.insert(prefix + "/" + k);
            key_paths(item, prefix + "/" + k, out);
        }
    } else if (v.is_array()) {
        for (const auto& item : v) key_paths(item, prefix + "[]", out);
    }
}

class NgMatrix {
  public:
    NgMatrix(NgEncoding encoding, const char* port_min, const char* port_max)
        : encoding_(encoding),
          form_(encoding == NgEncoding::json ? "JSON" : "bencode"),
          latchd_({"--workers", "2", "--port-min", port_min, "--port-max", port_max}),
          client_(latchd_.ng()) {}

    // Sends `request`; checks that the reply decodes in the request's encoding with the cookie
    // and `result`, and that `check` holds of it. Records a row; returns the reply.
    json run(const std::string& state, const std::string& label, json request,
             const std::string& result, const std::function<bool(const json&)>& check = {}) {
        std::string cookie = fmt::format("{}_{}", form_, ++sent_);
        auto raw = client_.exchange_raw(encode_ng(cookie, encoding_, request), 3s);
        json reply;
        bool pass = false;
        if (raw) {
            NgParsed parsed = parse_ng(*raw);
            if (auto* r = std::get_if<NgRequest>(&parsed)) {
                reply = r->dict;
                pass = r->cookie == cookie && r->encoding == encoding_ &&
                       reply.value("result", "") == result && (!check || check(reply));
            }
        }
        std::string shown = !raw ? "no reply" : reply.value("result", "undecodable");
        if (reply.contains("error-reason"))
            shown += ": " + reply["error-reason"].get<std::string>();
        if (reply.contains("warning"))
            shown += " (warning: " + reply["warning"].get<std::string>() + ")";
        rows().push_back({"ng", form_, state, label, shown, pass});
        INFO(form_ << " / " << state << " / " << label << " -> " << (raw ? *raw : "no reply"));
        CHECK(pass);
        key_paths(reply, "", keys_[state + " " + label]);
        return reply;
    }

    NgEncoding encoding_;
    std::string form_;
    DaemonProcess latchd_;
    NgClient client_;
    int sent_ = 0;
    std::map<std::string, std::set<std::string>> keys_;
};

json offer(const std::string& call_id, uint16_t port) {
    return {{"command", "offer"},
            {"call-id", call_id},
            {"from-tag", "caller"},
            {"sdp", audio_sdp(port)},
            {"supports", {"load limit"}},
            {"replace", {"origin", "session-connection"}},
            {"ICE", "remove"},
            {"received-from", {"IP4", "127.0.0.1"}}};
}

json answer(const std::string& call_id, uint16_t port) {
    json a = offer(call_id, port);
    a["command"] = "answer";
    a["to-tag"] = "callee";
    return a;
}

// One encoding through the three states; the key paths of its replies.
std::map<std::string, std::set<std::string>> ng_matrix(NgEncoding encoding, const char* port_min,
                                                       const char* port_max) {
    NgMatrix m(encoding, port_min, port_max);
    UdpPeer a, b;
    const std::string id = "matrix-call";
    auto no_calls = [](const json& r) { return r["calls"].empty(); };
    auto unknown = [](const json& r) { return r.value("error-reason", "") == "Unknown call-id"; };
    auto warns = [](const json& r) { return r.value("warning", "") == "Unknown call-id"; };
    auto stats_calls = [](uint64_t n) {
        return [n](const json& r) {
            return r["statistics"]["calls"] == n && r["statistics"]["control"].contains("rtpproxy");
        };
    };
    auto relayed = [](const json& r) {
        return r["totals"]["RTP"]["packets"].get<uint64_t>() == 12;
    };

    std::string s = "no calls";
    m.run(s, "ping", {{"command", "ping"}}, "pong");
    m.run(s, "answer", answer(id, b.local().port()), "error", unknown);
    m.run(s, "delete", {{"command", "delete"}, {"call-id", id}}, "ok", warns);
    m.run(s, "query", {{"command", "query"}, {"call-id", id}}, "error", unknown);
    m.run(s, "list", {{"command", "list"}}, "ok", no_calls);
    m.run(s, "statistics", {{"command", "statistics"}}, "ok", stats_calls(0));
    json bad = offer("bad-sdp", a.local().port());
    bad["sdp"] = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n";
    m.run(s, "offer (SDP without o=)", bad, "error", [](const json& r) {
        return r.value("error-reason", "").find("no origin line (o=)") != std::string::npos;
    });
    m.run(s, "list (after the bad offer)", {{"command", "list"}}, "ok", no_calls);
    json offered = m.run(s, "offer", offer(id, a.local().port()), "ok",
                         [](const json& r) { return r.contains("sdp"); });

    s = "a call carrying media";
    json answered = m.run(s, "answer", answer(id, b.local().port()), "ok",
                          [](const json& r) { return r.contains("sdp"); });
    media_both_ways(a, relay_target(answered["sdp"]), b, relay_target(offered["sdp"]));
    m.run(s, "ping", {{"command", "ping"}}, "pong");
    m.run(s, "offer (re-INVITE)", offer(id, a.local().port()), "ok",
          [&](const json& r) { return relay_target(r["sdp"]) == relay_target(offered["sdp"]); });
    m.run(s, "answer (re-INVITE)", answer(id, b.local().port()), "ok",
          [&](const json& r) { return relay_target(r["sdp"]) == relay_target(answered["sdp"]); });
    media_both_ways(a, relay_target(answered["sdp"]), b, relay_target(offered["sdp"]));
    m.run(s, "query", {{"command", "query"}, {"call-id", id}}, "ok", relayed);
    m.run(s, "list", {{"command", "list"}}, "ok",
          [&](const json& r) { return r["calls"] == json::array({id}); });
    m.run(s, "statistics", {{"command", "statistics"}}, "ok", [](const json& r) {
        return r["statistics"]["calls"] == 1 &&
               r["statistics"]["packets"]["relayed"].get<uint64_t>() == 12;
    });
    m.run(s, "delete", {{"command", "delete"}, {"call-id", id}}, "ok", relayed);

    s = "after the delete";
    m.run(s, "ping", {{"command", "ping"}}, "pong");
    m.run(s, "answer", answer(id, b.local().port()), "error", unknown);
    m.run(s, "delete", {{"command", "delete"}, {"call-id", id}}, "ok", warns);
    m.run(s, "delete (fatal)", {{"command", "delete"}, {"call-id", id}, {"flags", {"fatal"}}},
          "error", unknown);
    m.run(s, "query", {{"command", "query"}, {"call-id", id}}, "error", unknown);
    m.run(s, "list", {{"command", "list"}}, "ok", no_calls);
    m.run(s, "statistics", {{"command", "statistics"}}, "ok", stats_calls(0));
    m.run(s, "offer (a new call)", offer("another", a.local().port()), "ok");
    CHECK(m.latchd_.stop() == 0);
    return m.keys_;
}

// rtpproxy: each command's reply without cookie and line end, over UDP or a unix socket.
using RtppSend = std::function<std::optional<std::string>(const std::string& command)>;

std::optional<std::string> unix_command(const std::string& path, const std::string& command) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    std::optional<std::string> reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::write(fd, command.data(), command.size()) == static_cast<ssize_t>(command.size())) {
        std::string got;
        char buf[1024];
        pollfd p{fd, POLLIN, 0};
        // The reply ends with a line end; I's lines come in one write.
        while (::poll(&p, 1, 2000) == 1) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
            if (got.back() == '\n') break;
        }
        if (!got.empty() && got.back() == '\n') reply = got.substr(0, got.size() - 1);
    }
    ::close(fd);
    return reply;
}

void rtpp_matrix(const std::string& form, DaemonProcess& latchd, const RtppSend& send) {
    UdpPeer a, b;
    const std::string id = "rtpp-matrix-" + std::to_string(form.size());  // no spaces: a token
    auto run = [&](const std::string& state, const std::string& command,
                   const std::function<bool(const std::string&)>& ok) {
        auto reply = send(command);
        bool pass = reply && ok(*reply);
        std::string shown = reply ? *reply : "no reply";
        std::replace(shown.begin(), shown.end(), '\n', ';');
        rows().push_back(
            {"rtpproxy", form, state, command.substr(0, command.find(' ')), shown, pass});
        INFO(form << " / " << state << " / " << command << " -> " << shown);
        CHECK(pass);
        return reply.value_or("");
    };
    auto is = [](std::string want) { return [want](const std::string& r) { return r == want; }; };
    auto matches = [](std::string re) {
        return [re](const std::string& r) { return std::regex_match(r, std::regex(re)); };
    };
    const std::string port_addr = "[0-9]+ 127\\.0\\.0\\.1";
    std::string u = fmt::format("U {} 127.0.0.1 {} caller;1", id, a.local().port());
    std::string l = fmt::format("L {} 127.0.0.1 {} caller;1 callee;1", id, b.local().port());
    std::string q = fmt::format("Q {} caller callee", id),
                d = fmt::format("D {} caller callee", id);

    std::string s = "no calls";
    run(s, "V", is("20040107"));
    run(s, "VF 20050322", is("1"));
    run(s, l, is("0"));
    run(s, q, is("E50"));
    run(s, d, is("E50"));
    run(s, "I", matches("sessions created: 0\nactive sessions: 0\n[^]*"));
    run(s, "G", matches("[0-9 ]+"));
    run(s, "Gv nsess_active", is("nsess_active=0"));
    run(s, "X", is("0"));
    run(s, fmt::format("R {} caller callee", id), is("E3"));
    std::string offered = run(s, u, matches(port_addr));

    s = "a call carrying media";
    std::string answered = run(s, l, matches(port_addr));
    auto endpoint = [](const std::string& reply) {
        auto sp = reply.find(' ');
        return *Endpoint::parse(reply.substr(sp + 1),
                                static_cast<uint16_t>(std::stoi(reply.substr(0, sp))));
    };
    REQUIRE(!offered.empty());
    REQUIRE(!answered.empty());
    media_both_ways(a, endpoint(answered), b, endpoint(offered));
    run(s, "V", is("20040107"));
    run(s, u, is(offered));
    run(s, l, is(answered));
    run(s, q, matches("[0-9]+ 3 3 6 0"));
    run(s, fmt::format("Qv {} caller callee", id),
        matches(
            "ttl=[0-9]+ npkts_ina=3 npkts_ino=3 nrelayed=6 ndropped=0 nexpected_ina=3 "
            "nlost_ina=0 jitter_ina_us=[0-9]+ nexpected_ino=3 nlost_ino=0 jitter_ino_us=[0-9]+"));
    run(s, "I", matches("sessions created: 1\nactive sessions: 1\n[^]*"));
    run(s, "Gv nsess_active npkt_relayed", is("nsess_active=1 npkt_relayed=6"));
    run(s, d, is("0"));

    s = "after the delete";
    run(s, "V", is("20040107"));
    run(s, q, is("E50"));
    run(s, d, is("E50"));
    run(s, l, is("0"));
    run(s, "Gv nsess_active", is("nsess_active=0"));
    run(s, "X", is("0"));
    run(s, fmt::format("U {}-new 127.0.0.1 {} caller;1", id, a.local().port()), matches(port_addr));
    CHECK(latchd.stop() == 0);
}

}  // namespace

TEST_CASE("every ng command in bencode and JSON, with no calls, with media and after a delete",
          "[matrix][ng]") {
    auto bencode = ng_matrix(NgEncoding::bencode, "32000", "32099");
    auto as_json = ng_matrix(NgEncoding::json, "32100", "32199");
    // Both encodings carry the same keys in every reply.
    for (const auto& [reply, keys] : bencode) {
        INFO(reply);
        CHECK(keys == as_json[reply]);
    }
    write_table("command_matrix_ng.md");
}

TEST_CASE("every rtpproxy command over UDP and over the unix socket, in the same three states",
          "[matrix][rtpp]") {
    {
        DaemonProcess latchd({"--workers", "2", "--port-min", "32200", "--port-max", "32299"});
        REQUIRE(latchd.rtpp().is_set());
        NgClient client(latchd.rtpp());
        int cookie = 0;
        rtpp_matrix("UDP", latchd, [&](const std::string& command) -> std::optional<std::string> {
            std::string c = std::to_string(++cookie);
            auto reply = client.exchange_raw(c + " " + command, 2s);
            if (!reply || reply->rfind(c + " ", 0) != 0 || reply->back() != '\n')
                return std::nullopt;
            return reply->substr(c.size() + 1, reply->size() - c.size() - 2);
        });
    }
    std::string path = "/tmp/latch-matrix-" + std::to_string(::getpid()) + ".sock";
    DaemonProcess latchd({"--workers", "2", "--port-min", "32300", "--port-max", "32399",
                          "--listen-rtpp", "off", "--listen-rtpp-unix", path});
    rtpp_matrix("unix socket", latchd,
                [&](const std::string& command) { return unix_command(path, command); });
    write_table("command_matrix_rtpp.md");
}
