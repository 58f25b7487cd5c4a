// NgClient: a blocking ng protocol client over UDP, for latchctl and tests. One thread at a time.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "endpoint.hpp"
#include "ng_codec.hpp"

namespace latch {

class NgClient {
  public:
    // Throws std::runtime_error when no socket can be opened.
    explicit NgClient(const Endpoint& server);
    NgClient(const NgClient&) = delete;
    NgClient& operator=(const NgClient&) = delete;
    ~NgClient();

    // Sends `dict` with a fresh cookie and waits for the reply carrying that cookie.
    // nullopt on time-out. Throws std::runtime_error when the reply cannot be decoded.
    std::optional<nlohmann::json> request(const nlohmann::json& dict, NgEncoding encoding,
                                          std::chrono::milliseconds timeout);
    // Sends raw bytes and returns the raw reply datagram (for protocol tests).
    std::optional<std::string> exchange_raw(const std::string& datagram,
                                            std::chrono::milliseconds timeout);

    void send_raw(const std::string& datagram);
    // The next datagram from the server, or nullopt at the deadline or if nobody listens.
    std::optional<std::string> receive_raw(std::chrono::steady_clock::time_point deadline);

  private:
    int fd_ = -1;
    Endpoint server_;
    uint64_t next_cookie_ = 1;
    std::string cookie_prefix_;
};

}  // namespace latch
