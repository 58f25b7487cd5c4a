// Calls that outlive the process: the real latchd with --redis against a redis-server of the
// test's own. Restarts (kill -9 and SIGTERM), Redis going away and coming back, records that do
// not parse, a port another program took meanwhile, and recorded calls that go on being
// recorded.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include "daemon_process.hpp"
#include "ng_client.hpp"
#include "phone_sdp.hpp"
#include "redis_server.hpp"
#include "rtp_builder.hpp"
#include "udp_peer.hpp"

using namespace latch;
using namespace latch::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The ng port is fixed, so that a restarted latchd answers where the last one did.
std::vector<std::string> args(const RedisServer& redis, const char* port_min,
                              const char* port_max) {
    return {"--workers", "2",           "--port-min",
            port_min,    "--port-max",  port_max,
            "--redis",   redis.url(),   "--instance-id",
            "test-a",    "--listen-ng", fmt::format("127.0.0.1:{}", redis.port() + 1000)};
}

Endpoint relay_port(const std::string& body) {
    std::smatch m;
    REQUIRE(std::regex_search(body, m, std::regex("m=audio ([0-9]+) ")));
    return *Endpoint::parse("127.0.0.1", static_cast<uint16_t>(std::stoi(m[1].str())));
}

// A call between two phones on 127.0.0.1, set up over ng, with media both ways.
struct MediaCall {
    std::string id;
    UdpPeer a, b;
    Endpoint a_sends_to, b_sends_to;
    uint16_t seq = 1;

    MediaCall(NgClient& client, std::string call_id) : id(std::move(call_id)) {
        auto offer = client.request({{"command", "offer"},
                                     {"call-id", id},
                                     {"from-tag", "A"},
                                     {"sdp", audio_sdp(a.local().port())}},
                                    NgEncoding::bencode, 3s);
        REQUIRE(offer);
        REQUIRE((*offer)["result"] == "ok");
        auto answer = client.request({{"command", "answer"},
                                      {"call-id", id},
                                      {"from-tag", "A"},
                                      {"to-tag", "B"},
                                      {"sdp", audio_sdp(b.local().port())}},
                                     NgEncoding::bencode, 3s);
        REQUIRE(answer);
        REQUIRE((*answer)["result"] == "ok");
        a_sends_to = relay_port((*answer)["sdp"]);
        b_sends_to = relay_port((*offer)["sdp"]);
    }
    // Sends from A every 20 ms until B receives (at most `limit`): how long that took.
    std::chrono::milliseconds until_media(std::chrono::milliseconds limit = 3s) {
        auto start = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - start < limit) {
            a.send_to(a_sends_to, make_rtp(0xA, seq++));
            if (b.receive(20ms)) break;
        }
        while (b.try_receive()) {
        }
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
    }
    // `n` packets each way; how many arrived, in both directions together.
    int talk(int n, std::chrono::milliseconds wait = 500ms) {
        int arrived = 0;
        for (int i = 0; i < n; ++i, ++seq) {
            a.send_to(a_sends_to, make_rtp(0xA, seq));
            if (b.receive(wait)) ++arrived;
            b.send_to(b_sends_to, make_rtp(0xB, seq));
            if (a.receive(wait)) ++arrived;
        }
        return arrived;
    }
};

json statistics(NgClient& client) {
    auto s = client.request({{"command", "statistics"}}, NgEncoding::json, 3s);
    REQUIRE(s);
    return (*s)["statistics"]["control"]["replication"];
}

// Polls `done` for up to `timeout`.
template <typename Done>
bool eventually(Done done, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
    return true;
}

}  // namespace

TEST_CASE("calls outlive a kill -9: restored on their ports with their learned sources",
          "[redis][restart]") {
    if (!RedisServer::available()) {
        WARN("redis-server is not installed: skipped");
        return;
    }
    RedisServer redis(16401);
    auto latchd = std::make_unique<DaemonProcess>(args(redis, "34000", "34099"));
    NgClient client(latchd->ng());
    std::vector<std::unique_ptr<MediaCall>> calls;
    for (int i = 0; i < 5; ++i) {
        calls.push_back(std::make_unique<MediaCall>(client, "kept-" + std::to_string(i)));
        REQUIRE(calls.back()->talk(3) == 6);
    }
    // Every record complete: both parties and their learned sources. (A record exists from
    // the offer on; what a kill -9 lands before the next write, a few milliseconds later, is
    // lost as a crash would lose it. The test is about what Redis had.)
    REQUIRE(eventually([&] {
        for (auto& c : calls) {
            auto r = redis.command({"GET", "latch:test-a:call:" + c->id});
            if (!r || r->find("\"tags\":[\"A\",\"B\"]") == std::string::npos) return false;
            std::size_t confirmed = 0;
            for (auto at = r->find("\"confirmed\""); at != std::string::npos;
                 at = r->find("\"confirmed\"", at + 1))
                ++confirmed;
            if (confirmed < 2) return false;  // both parties' RTP
        }
        return true;
    }));

    latchd->kill();
    latchd = std::make_unique<DaemonProcess>(args(redis, "34000", "34099"));
    // Every call forwards again, within moments of the new process announcing itself, and
    // both ways from then on: nothing is learned anew. (Moments: the kernel lets go of a
    // killed process's sockets a little after it is gone, an io_uring's after its teardown,
    // which a busy machine has stretched past a second.)
    for (auto& c : calls) {
        auto gap = c->until_media(5s);
        INFO("media back " << gap.count() << " ms after latchd's start-up line");
        CHECK(gap < 3s);
        CHECK(c->talk(3) == 6);
    }
    // The learned sources came back locked: a stranger is refused at once, in what would be
    // a new learning window had the call been set up again.
    UdpPeer stranger("127.0.0.9");
    for (uint16_t seq = 1; seq <= 60; ++seq)
        stranger.send_to(calls[0]->a_sends_to, make_rtp(0x5, seq, 0xBAD));
    CHECK_FALSE(calls[0]->b.receive(300ms));
    json repl = statistics(client);
    CHECK(repl["restored"] == 5);
    CHECK(repl["restore failures"] == 0);
    CHECK(repl["records"] == 5);

    // Commands work on restored calls: a re-offer keeps the port, a query counts, a delete
    // removes the record.
    auto reoffer = client.request({{"command", "offer"},
                                   {"call-id", "kept-1"},
                                   {"from-tag", "A"},
                                   {"sdp", audio_sdp(calls[1]->a.local().port())}},
                                  NgEncoding::json, 3s);
    REQUIRE(reoffer);
    CHECK(relay_port((*reoffer)["sdp"]) == calls[1]->b_sends_to);
    CHECK(calls[1]->talk(2) == 4);
    auto query =
        client.request({{"command", "query"}, {"call-id", "kept-2"}}, NgEncoding::json, 3s);
    REQUIRE(query);
    CHECK((*query)["totals"]["RTP"]["packets"].get<int>() >= 6);  // counted since the restart
    auto deleted =
        client.request({{"command", "delete"}, {"call-id", "kept-2"}}, NgEncoding::bencode, 3s);
    REQUIRE(deleted);
    CHECK((*deleted)["result"] == "ok");
    CHECK(eventually([&] { return redis.keys("latch:test-a:call:*").size() == 4; }));
    CHECK(redis.command({"EXISTS", "latch:test-a:call:kept-2"}) == "0");

    // A SIGTERM deletes nothing: the next start finds the four calls again.
    CHECK(latchd->stop() == 0);
    CHECK(redis.keys("latch:test-a:call:*").size() == 4);
    latchd = std::make_unique<DaemonProcess>(args(redis, "34000", "34099"));
    CHECK(calls[3]->until_media() < 1s);
    CHECK(calls[3]->talk(2) == 4);
    CHECK(eventually([&] { return statistics(client)["restored"] == 4; }));
    // A record keeps its expiry: the idle timeout and some.
    auto ttl = std::stoi(redis.command({"TTL", "latch:test-a:call:kept-3"}).value_or("-1"));
    CHECK(ttl > 0);
    CHECK(ttl <= 90);
    CHECK(latchd->stop() == 0);
}

TEST_CASE("Redis away for a while: calls go on, and the records are written again when it is back",
          "[redis][outage]") {
    if (!RedisServer::available()) {
        WARN("redis-server is not installed: skipped");
        return;
    }
    RedisServer redis(16402);
    DaemonProcess latchd(args(redis, "34100", "34199"));
    NgClient client(latchd.ng());
    MediaCall first(client, "before");
    REQUIRE(eventually([&] { return redis.keys().size() == 1; }));
    redis.stop();
    // New calls, media and deletes go on without Redis.
    MediaCall second(client, "during");
    MediaCall third(client, "ended-during");
    CHECK(second.talk(3) == 6);
    CHECK(first.talk(3) == 6);
    auto gone =
        client.request({{"command", "delete"}, {"call-id", "ended-during"}}, NgEncoding::json, 3s);
    REQUIRE(gone);
    CHECK((*gone)["result"] == "ok");
    CHECK(eventually([&] { return statistics(client)["outages"] == 1; }));
    CHECK(statistics(client)["connected"] == 0);
    // Back, empty (it kept nothing): every live call's record is written again.
    redis.start();
    CHECK(eventually([&] { return redis.keys().size() == 2; }, 10s));
    CHECK(redis.command({"EXISTS", "latch:test-a:call:before"}) == "1");
    CHECK(redis.command({"EXISTS", "latch:test-a:call:during"}) == "1");
    CHECK(redis.command({"EXISTS", "latch:test-a:call:ended-during"}) == "0");
    json repl = statistics(client);
    CHECK(repl["connected"] == 1);
    CHECK(repl["rewrites"].get<int>() >= 1);
    CHECK_THAT(latchd.log(), Catch::Contains("unreachable"));
    CHECK(latchd.stop() == 0);
}

TEST_CASE("records that do not parse are skipped and counted, a taken port costs its call only",
          "[redis][records]") {
    if (!RedisServer::available()) {
        WARN("redis-server is not installed: skipped");
        return;
    }
    RedisServer redis(16403);
    auto latchd = std::make_unique<DaemonProcess>(args(redis, "34200", "34299"));
    NgClient client(latchd->ng());
    MediaCall good(client, "good");
    MediaCall squatted(client, "squatted");
    REQUIRE(eventually([&] { return redis.keys().size() == 2; }));
    latchd->stop();
    std::string record = *redis.command({"GET", "latch:test-a:call:good"});
    redis.command({"SET", "latch:test-a:call:garbage", "{not json"});
    redis.command({"SET", "latch:test-a:call:newer",
                   std::regex_replace(record, std::regex("\"version\":1"), "\"version\":99")});
    redis.command({"SET", "latch:test-a:call:other-id", record});  // names the call 'good'
    redis.command({"SET", "latch:test-b:call:foreign", record});   // another instance's: not ours
    // Another program holds the first call's relay port now.
    UdpPeer squatter("127.0.0.1", squatted.a_sends_to.port());
    latchd = std::make_unique<DaemonProcess>(args(redis, "34200", "34299"));
    CHECK(good.until_media() < 1s);
    CHECK(good.talk(3) == 6);
    // The taken port is tried again for 11 s (a killed process's sockets can take that long to
    // go) before its call counts as not restored.
    json repl;
    CHECK(eventually(
        [&] {
            repl = statistics(client);
            return repl["restored"] == 1 && repl["restore failures"] == 1;
        },
        15s));
    CHECK(repl["skipped records"] == 3);
    CHECK_THAT(latchd->log(),
               Catch::Contains("record latch:test-a:call:garbage skipped: not JSON"));
    CHECK_THAT(latchd->log(), Catch::Contains("format version 99"));
    CHECK_THAT(latchd->log(), Catch::Contains("call squatted not restored"));
    CHECK(latchd->stop() == 0);
}

TEST_CASE("a standby copies the active instance's calls, follows their end, and takes no new call",
          "[redis][standby]") {
    if (!RedisServer::available()) {
        WARN("redis-server is not installed: skipped");
        return;
    }
    RedisServer redis(16404);
    // The active instance holds no floating address: it serves. The standby's floating address
    // (a test address no host here holds) is elsewhere: it follows, its copies bound there.
    DaemonProcess active({"--workers", "1", "--port-min", "34300", "--port-max", "34399", "--redis",
                          redis.url(), "--instance-id", "pair"});
    DaemonProcess standby({"--workers", "1", "--port-min", "34300", "--port-max", "34399",
                           "--redis", redis.url(), "--instance-id", "pair", "--floating-address",
                           "198.18.255.1", "--interface", "default=198.18.255.1"});
    NgClient to_active(active.ng()), to_standby(standby.ng());
    auto listed = [](NgClient& c) {
        auto r = c.request({{"command", "list"}}, NgEncoding::json, 3s);
        return r ? (*r)["calls"].size() : 999u;
    };
    MediaCall one(to_active, "copied-1"), two(to_active, "copied-2");
    CHECK(one.talk(2) == 4);
    CHECK(eventually([&] { return listed(to_standby) == 2; }));
    json repl = statistics(to_standby);
    CHECK(repl["active"] == 0);
    CHECK(repl["followed"].get<int>() >= 2);
    // The copy sits on the active's ports, on the floating address.
    // The learned source reaches the copy with the record's next write, which may come after
    // the copy itself.
    json stream;
    CHECK(eventually([&] {
        auto copy = to_standby.request({{"command", "query"}, {"call-id", "copied-1"}},
                                       NgEncoding::json, 3s);
        if (!copy) return false;
        stream = (*copy)["tags"]["A"]["medias"][0]["streams"][0];
        return stream["latch"] == "confirmed";  // the source the active learned
    }));
    CHECK(stream["local address"] == "198.18.255.1");
    CHECK(stream["local port"] == one.a_sends_to.port());
    // The active ends a call: the standby's copy goes too.
    auto gone =
        to_active.request({{"command", "delete"}, {"call-id", "copied-2"}}, NgEncoding::json, 3s);
    REQUIRE(gone);
    CHECK(eventually([&] { return listed(to_standby) == 1; }));
    // A standby takes no new call: the active instance does.
    auto refused = to_standby.request(
        {{"command", "offer"}, {"call-id", "new"}, {"from-tag", "A"}, {"sdp", audio_sdp(4000)}},
        NgEncoding::json, 3s);
    REQUIRE(refused);
    CHECK((*refused)["result"] == "error");
    CHECK_THAT((*refused)["error-reason"].get<std::string>(), Catch::Contains("standby"));
    CHECK(standby.stop() == 0);
    CHECK(active.stop() == 0);
}

TEST_CASE("a recorded call goes on being recorded after a restart, in a file naming the one before",
          "[redis][restart][recording]") {
    if (!RedisServer::available()) {
        WARN("redis-server is not installed: skipped");
        return;
    }
    RedisServer redis(16405);
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / fmt::format("latch-redis-rec-{}", ::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto with_dir = [&] {
        auto a = args(redis, "34400", "34499");
        a.insert(a.end(), {"--recording-dir", dir.string()});
        return a;
    };
    auto metadata_files = [&] {
        std::map<std::string, json> found;  // by pcap file name
        for (const auto& e : std::filesystem::directory_iterator(dir)) {
            if (e.path().extension() != ".json") continue;
            json j = json::parse(std::ifstream(e.path()));
            found[j["file"].get<std::string>()] = j;
        }
        return found;
    };
    auto recorded_file = [](NgClient& c, const std::string& id) {
        auto q = c.request({{"command", "query"}, {"call-id", id}}, NgEncoding::json, 3s);
        REQUIRE(q);
        return (*q).value("recording", json::object()).value("file", std::string());
    };
    auto latchd = std::make_unique<DaemonProcess>(with_dir());
    NgClient client(latchd->ng());
    MediaCall recorded(client, "rec-1"), plain(client, "plain-1");
    auto start = client.request(
        {{"command", "start recording"}, {"call-id", "rec-1"}, {"metadata", "ticket-9"}},
        NgEncoding::bencode, 3s);
    REQUIRE(start);
    REQUIRE((*start)["result"] == "ok");
    CHECK(recorded.talk(10) == 20);
    CHECK(plain.talk(2) == 4);
    std::string first = recorded_file(client, "rec-1");
    REQUIRE_FALSE(first.empty());
    // The record says so (written a moment after the worker copies).
    CHECK(eventually([&] {
        auto r = redis.command({"GET", "latch:test-a:call:rec-1"});
        return r && r->find("\"recording\"") != std::string::npos &&
               r->find("ticket-9") != std::string::npos;
    }));

    // A clean stop closes the file; the next start goes on in a new one.
    CHECK(latchd->stop() == 0);
    latchd = std::make_unique<DaemonProcess>(with_dir());
    CHECK(recorded.until_media() < 2s);
    CHECK(recorded.talk(10) == 20);
    CHECK(plain.talk(2) == 4);
    std::string second = recorded_file(client, "rec-1");
    CHECK_FALSE(second.empty());
    CHECK(second != first);
    CHECK(recorded_file(client, "plain-1").empty());
    CHECK(latchd->wait_for_log("call rec-1: recording goes on in .* \\(it was .* before\\)"));

    // A re-offer brings new metadata: the record keeps it for the next instance.
    auto reoffer = client.request({{"command", "offer"},
                                   {"call-id", "rec-1"},
                                   {"from-tag", "A"},
                                   {"sdp", audio_sdp(recorded.a.local().port())},
                                   {"metadata", "ticket-10"}},
                                  NgEncoding::json, 3s);
    REQUIRE(reoffer);
    CHECK((*reoffer)["result"] == "ok");
    // A kill -9 (once the record names the second file): the next start goes on in a third.
    CHECK(eventually([&] {
        auto r = redis.command({"GET", "latch:test-a:call:rec-1"});
        return r && r->find(second.substr(second.rfind('/') + 1)) != std::string::npos &&
               r->find("ticket-10") != std::string::npos;
    }));
    latchd->kill();
    latchd = std::make_unique<DaemonProcess>(with_dir());
    CHECK(recorded.until_media(5s) < 3s);
    // The copies start a moment after the session is back (a command of their own): once a
    // query (which its worker answers after that command) names the file, every packet is in.
    std::string third = recorded_file(client, "rec-1");
    CHECK(recorded.talk(10) == 20);
    CHECK_FALSE(third.empty());
    CHECK(third != second);
    auto stop =
        client.request({{"command", "stop recording"}, {"call-id", "rec-1"}}, NgEncoding::json, 3s);
    REQUIRE(stop);
    CHECK((*stop)["result"] == "ok");
    // Stopped: the record no longer carries it, and a restart would not record it again.
    CHECK(eventually([&] {
        auto r = redis.command({"GET", "latch:test-a:call:rec-1"});
        return r && r->find("\"recording\"") == std::string::npos;
    }));
    CHECK(latchd->stop() == 0);

    auto name = [](const std::string& path) { return path.substr(path.rfind('/') + 1); };
    auto meta = metadata_files();
    // The first two closed cleanly; the killed process's file has no metadata, as it died.
    REQUIRE(meta.count(name(first)) == 1);
    REQUIRE(meta.count(name(third)) == 1);
    CHECK(meta.count(name(second)) == 0);
    CHECK(meta.size() == 2);
    const json& one = meta[name(first)];
    CHECK(one["ended by"] == "latchd stopped");
    CHECK(one["metadata"] == "ticket-9");
    CHECK(one["packets recorded"].get<int>() >= 20);
    CHECK_FALSE(one.contains("continues"));
    const json& three = meta[name(third)];
    CHECK(three["continues"] == name(second));
    CHECK(three["metadata"] == "ticket-10");
    CHECK(three["ended by"] == "stopped");
    CHECK(three["packets recorded"].get<int>() >= 20);
    // Only the recorded call has files.
    for (const auto& e : std::filesystem::directory_iterator(dir))
        CHECK(e.path().filename().string().rfind("rec-1-", 0) == 0);
    std::filesystem::remove_all(dir);
}
