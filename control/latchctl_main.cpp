// latchctl: command-line client of latchd's ng control socket. Main thread.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "ng_client.hpp"

namespace {

using nlohmann::json;

const char* kUsage = R"(usage: latchctl [--server ADDR:PORT] [--json] [--timeout MS] COMMAND [ARGS]

commands:
  ping              check that latchd answers, and how fast
  list [LIMIT]      the call-ids of active calls (at most LIMIT, default 1000), and where
                    the recorded ones are recorded
  query CALL-ID     one call: its parties, streams, learned addresses and counters, and each
                    RTP stream's loss, jitter, round trip and MOS
  delete CALL-ID    end a call now and print its final counters
  statistics        calls, packets, drops, recordings and port use of the whole relay

options:
  --server ADDR:PORT  latchd's ng control socket (default 127.0.0.1:2223)
  --json              print latchd's reply as JSON, for scripts
  --timeout MS        how long to wait for the reply (default 2000)
)";

int fail(const std::string& message) {
    std::fprintf(stderr, "latchctl: %s\n", message.c_str());
    return 1;
}

// Left-aligned columns, widths from the content.
void print_table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& row : rows) {
        width.resize(std::max(width.size(), row.size()), 0);
        for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], width[i]) : row[i];
        }
        std::puts(line.c_str());
    }
}

std::string endpoint_text(const json& ep) {
    if (!ep.is_object() || !ep.contains("address")) return "-";
    std::string addr = ep["address"].get<std::string>();
    if (ep.value("family", "") == "IPv6") addr = "[" + addr + "]";
    return addr + ":" + std::to_string(ep["port"].get<int>());
}

std::string age_text(int64_t when) {
    if (when == 0) return "never";
    int64_t age = static_cast<int64_t>(std::time(nullptr)) - when;
    return age <= 0 ? "now" : fmt::format("{} s ago", age);
}

// "4.1" from MOS times ten; "-" when not rated.
std::string mos_text(const json& mos, const char* key) {
    if (!mos.contains(key)) return "-";
    unsigned x10 = mos[key].get<unsigned>();
    return fmt::format("{}.{}", x10 / 10, x10 % 10);
}

// What each RTP stream measured: a second table, after the counters.
void print_quality(const json& reply) {
    std::vector<std::vector<std::string>> rows = {
        {"PARTY", "MEDIA", "SSRC", "EXPECTED", "LOST", "LOSS %", "DUPS", "LATE", "JITTER ms",
         "MAX JITTER", "RTT ms", "MOS AVG", "MOS LOW", "REPORTED LOSS %"}};
    const json tags = reply.value("tags", json::object());
    for (const auto& [key, party] : tags.items()) {
        for (const auto& media : party.value("medias", json::array())) {
            for (const auto& s : media.value("streams", json::array())) {
                if (!s.contains("quality")) continue;
                const json& q = s["quality"];
                const json mos = q.value("MOS", json::object());
                const json reported = q.value("reported by receiver", json::object());
                auto ms = [](uint64_t us) { return fmt::format("{:.1f}", us / 1000.0); };
                rows.push_back(
                    {key, std::to_string(media.value("index", 0)),
                     std::to_string(s.value("SSRC", 0u)),
                     std::to_string(q.value("packets expected", 0ull)),
                     std::to_string(q.value("packets lost", 0ull)),
                     fmt::format("{:.2f}", q.value("loss ppm", 0u) / 10000.0),
                     std::to_string(q.value("duplicates", 0ull)),
                     std::to_string(q.value("reordered", 0ull)), ms(q.value("jitter us", 0u)),
                     ms(q.value("highest jitter us", 0u)),
                     q.contains("sender round-trip time us")
                         ? ms(q["sender round-trip time us"].get<uint64_t>())
                         : "-",
                     mos_text(mos, "average"), mos_text(mos, "lowest"),
                     reported.contains("fraction lost")
                         ? fmt::format("{:.1f}",
                                       reported["fraction lost"].get<unsigned>() * 100.0 / 256)
                         : "-"});
            }
        }
    }
    if (rows.size() == 1) return;
    std::puts("");
    print_table(rows);
}

void print_call(const json& reply) {
    std::vector<std::vector<std::string>> rows = {{"PARTY", "MEDIA", "STREAM", "RELAY PORT",
                                                   "ENDPOINT", "LATCH", "PACKETS IN", "BYTES IN",
                                                   "DROPS", "PACKETS OUT", "LAST PACKET"}};
    const json tags = reply.value("tags", json::object());  // items() must not outlive it
    for (const auto& [key, party] : tags.items()) {
        for (const auto& media : party.value("medias", json::array())) {
            for (const auto& s : media.value("streams", json::array())) {
                rows.push_back(
                    {key, fmt::format("{} {}", media.value("index", 0), media.value("type", "")),
                     s["flags"].empty() ? "" : s["flags"][0].get<std::string>(),
                     std::to_string(s.value("local port", 0)), endpoint_text(s["endpoint"]),
                     s.value("latch", ""), std::to_string(s["stats"].value("packets", 0)),
                     std::to_string(s["stats"].value("bytes", 0)),
                     std::to_string(s["stats"].value("errors", 0)),
                     std::to_string(s.value("sent", json::object()).value("packets", 0)),
                     age_text(s.value("last packet", int64_t{0}))});
            }
        }
    }
    print_table(rows);
    print_quality(reply);
    if (reply.contains("recording")) {
        const json& r = reply["recording"];
        std::printf("\nrecording: %s to %s, %llu packets recorded, %llu not (ring full)%s%s\n",
                    r.value("state", "").c_str(), r.value("file", "").c_str(),
                    r.value("packets recorded", 0ull), r.value("packets not recorded", 0ull),
                    r.contains("error") ? ": " : "", r.value("error", "").c_str());
    }
    const json& t = reply["totals"];
    std::printf("\ntotals: RTP %llu packets, %llu bytes; RTCP %llu packets\n",
                t["RTP"].value("packets", 0ull), t["RTP"].value("bytes", 0ull),
                t["RTCP"].value("packets", 0ull));
}

void print_statistics(const json& s) {
    std::vector<std::vector<std::string>> rows = {
        {"calls", std::to_string(s.value("calls", 0))},
        {"sessions created", std::to_string(s["sessions"].value("created", 0))},
        {"sessions timed out", std::to_string(s["sessions"].value("timed out", 0))},
        {"packets received", std::to_string(s["packets"].value("received", 0ull))},
        {"packets relayed", std::to_string(s["packets"].value("relayed", 0ull))},
        {"bytes relayed", std::to_string(s["bytes"].value("relayed", 0ull))},
        {"sources learned", std::to_string(s.value("learned", 0ull))},
        {"port pairs free", fmt::format("{} of {}", s["port pairs"].value("free", 0),
                                        s["port pairs"].value("total", 0))},
    };
    const json drops = s.value("drops", json::object());
    for (const auto& [reason, n] : drops.items()) {
        rows.push_back({"dropped: " + reason, std::to_string(n.get<uint64_t>())});
    }
    const json control = s.value("control", json::object());
    for (const char* protocol : {"ng", "rtpproxy"}) {
        const json c = control.value(protocol, json::object());
        if (c.empty()) continue;
        rows.push_back({fmt::format("{} requests", protocol),
                        fmt::format("{} ({} bad, {} retransmitted, {} refused, {} internal errors)",
                                    c.value("requests", 0ull), c.value("bad requests", 0ull),
                                    c.value("retransmissions", 0ull), c.value("refused", 0ull),
                                    c.value("internal errors", 0ull))});
    }
    if (control.value("stopped exceptions", 0ull) != 0) {
        rows.push_back(
            {"stopped exceptions", std::to_string(control.value("stopped exceptions", 0ull)) +
                                       " (a defect: see latchd's log)"});
    }
    const json rec = s.value("recording", json::object());
    if (rec.contains("files opened")) {
        rows.push_back(
            {"recordings",
             fmt::format("{} active, {} opened, {} failed; {} packets written, {} not "
                         "(ring full)",
                         rec.value("active", 0ull), rec.value("files opened", 0ull),
                         rec.value("files failed", 0ull), rec.value("packets written", 0ull),
                         rec.value("packets not recorded (ring full)", 0ull))});
    }
    for (const auto& w : s.value("workers", json::array())) {
        rows.push_back({fmt::format("worker {}", w.value("worker", 0)),
                        fmt::format("{} sessions, {} of {} port pairs free, {} packets relayed",
                                    w.value("sessions", 0), w.value("port pairs free", 0),
                                    w.value("port pairs", 0), w.value("packets relayed", 0ull))});
    }
    print_table(rows);
}

}  // namespace

int main(int argc, char* argv[]) {
    std::string server_text = "127.0.0.1:2223";
    bool as_json = false;
    long timeout_ms = 2000;
    std::vector<std::string> words;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (arg == "--json") {
            as_json = true;
        } else if (arg == "--server" && i + 1 < argc) {
            server_text = argv[++i];
        } else if (arg == "--timeout" && i + 1 < argc) {
            timeout_ms = std::strtol(argv[++i], nullptr, 10);
        } else if (arg.rfind("--", 0) == 0) {
            return fail("unknown option '" + arg + "' (see --help)");
        } else {
            words.push_back(arg);
        }
    }
    if (words.empty()) return fail("no command given (see --help)");
    auto server = latch::Endpoint::parse(server_text);
    if (!server) return fail("--server: '" + server_text + "' is not ADDRESS:PORT");
    if (timeout_ms <= 0) return fail("--timeout must be a positive number of milliseconds");

    const std::string& command = words[0];
    json request = {{"command", command}};
    if (command == "query" || command == "delete") {
        if (words.size() != 2) return fail(command + " needs exactly one CALL-ID");
        request["call-id"] = words[1];
    } else if (command == "list") {
        long limit = words.size() > 1 ? std::strtol(words[1].c_str(), nullptr, 10) : 1000;
        if (limit <= 0) return fail("list: LIMIT must be a positive number");
        request["limit"] = limit;
    } else if (command != "ping" && command != "statistics") {
        return fail("unknown command '" + command + "' (see --help)");
    }

    try {
        latch::NgClient client(*server);
        auto start = std::chrono::steady_clock::now();
        auto reply =
            client.request(request, latch::NgEncoding::json, std::chrono::milliseconds(timeout_ms));
        auto elapsed =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
        if (!reply) {
            return fail(fmt::format(
                "no answer from latchd at {} within {} ms (is it running? is --server right?)",
                server->to_string(), timeout_ms));
        }
        std::string result = reply->value("result", "");
        if (as_json) {
            std::puts(reply->dump(2).c_str());
            return result == "ok" || result == "pong" ? 0 : 1;
        }
        if (result == "error") return fail(reply->value("error-reason", "error without a reason"));
        if (command == "ping") {
            if (result != "pong") return fail("unexpected reply: " + reply->dump());
            std::printf("pong from %s in %.2f ms\n", server->to_string().c_str(), elapsed.count());
        } else if (command == "list") {
            const json& calls = (*reply)["calls"];
            std::printf("%zu active call%s\n", calls.size(), calls.size() == 1 ? "" : "s");
            const json recorded = reply->value("recorded", json::object());
            for (const auto& id : calls) {
                const std::string& name = id.get<std::string>();
                if (recorded.contains(name))
                    std::printf("%s  (%s to %s)\n", name.c_str(),
                                recorded[name].value("state", "").c_str(),
                                recorded[name].value("file", "").c_str());
                else
                    std::puts(name.c_str());
            }
        } else if (command == "query" || command == "delete") {
            if (reply->contains("warning"))
                return fail(words[1] + ": " + (*reply)["warning"].get<std::string>());
            if (command == "delete")
                std::printf("deleted %s; final counters:\n\n", words[1].c_str());
            print_call(*reply);
        } else if (command == "statistics") {
            print_statistics((*reply)["statistics"]);
        }
        return 0;
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}
