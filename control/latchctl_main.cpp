// latchctl: command-line client of latchd's ng control socket. Main thread.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ng_client.hpp"

namespace {

const char* kUsage = R"(usage: latchctl [--server ADDR:PORT] [--json] [--timeout MS] COMMAND

  ping        check that latchd answers, and how fast

  --server    latchd's ng control socket (default 127.0.0.1:2223)
  --json      print the reply dictionary as JSON
  --timeout   how long to wait for the reply (default 2000 ms)
)";

int fail(const std::string& message) {
    std::fprintf(stderr, "latchctl: %s\n", message.c_str());
    return 1;
}

}  // namespace

int main(int argc, char* argv[]) {
    std::string server_text = "127.0.0.1:2223";
    bool json = false;
    long timeout_ms = 2000;
    std::vector<std::string> words;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        } else if (arg == "--json") {
            json = true;
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

    if (words[0] != "ping") return fail("unknown command '" + words[0] + "' (see --help)");
    try {
        latch::NgClient client(*server);
        auto start = std::chrono::steady_clock::now();
        auto reply = client.request({{"command", "ping"}}, latch::NgEncoding::json,
                                    std::chrono::milliseconds(timeout_ms));
        auto elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
        if (!reply) {
            return fail(fmt::format("no answer from latchd at {} within {} ms (is it running? is --server right?)",
                                    server->to_string(), timeout_ms));
        }
        if (json) {
            std::puts(reply->dump().c_str());
        } else if (reply->value("result", "") == "pong") {
            std::printf("pong from %s in %.2f ms\n", server->to_string().c_str(), elapsed.count());
        } else {
            return fail("unexpected reply: " + reply->dump());
        }
        return reply->value("result", "") == "pong" ? 0 : 1;
    } catch (const std::exception& e) {
        return fail(e.what());
    }
}
