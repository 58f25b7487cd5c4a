// NgClient over a POSIX UDP socket. Caller's thread.
#include "ng_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace latch {

NgClient::NgClient(const Endpoint& server)
    : server_(server), cookie_prefix_(std::to_string(::getpid()) + "_") {
    fd_ = ::socket(server.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    if (::connect(fd_, server.sockaddr_ptr(), server.sockaddr_len()) != 0) {
        int err = errno;
        ::close(fd_);
        throw std::runtime_error("connect " + server.to_string() + ": " + std::strerror(err));
    }
}

NgClient::~NgClient() {
    if (fd_ >= 0) ::close(fd_);
}

void NgClient::send_raw(const std::string& datagram) {
    if (::send(fd_, datagram.data(), datagram.size(), 0) < 0) {
        throw std::runtime_error("send to " + server_.to_string() + ": " + std::strerror(errno));
    }
}

std::optional<std::string> NgClient::exchange_raw(const std::string& datagram,
                                                  std::chrono::milliseconds timeout) {
    send_raw(datagram);
    return receive_raw(std::chrono::steady_clock::now() + timeout);
}

std::optional<std::string> NgClient::receive_raw(std::chrono::steady_clock::time_point deadline) {
    std::string buf(65536, '\0');
    while (true) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() < 0) return std::nullopt;
        pollfd pfd{fd_, POLLIN, 0};
        int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
        if (ready == 0) return std::nullopt;
        if (ready < 0 && errno != EINTR) return std::nullopt;
        ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n >= 0) return buf.substr(0, static_cast<std::size_t>(n));
        // ECONNREFUSED: nobody listens (an ICMP error on the connected socket).
        if (errno == ECONNREFUSED) return std::nullopt;
    }
}

std::optional<nlohmann::json> NgClient::request(const nlohmann::json& dict, NgEncoding encoding,
                                                std::chrono::milliseconds timeout) {
    std::string cookie = cookie_prefix_ + std::to_string(next_cookie_++);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    send_raw(encode_ng(cookie, encoding, dict));
    while (auto raw = receive_raw(deadline)) {
        NgParsed parsed = parse_ng(*raw);
        if (auto* reply = std::get_if<NgRequest>(&parsed); reply && reply->cookie == cookie) {
            return std::move(reply->dict);
        }
        if (auto* bad = std::get_if<NgBadRequest>(&parsed); bad && bad->cookie == cookie) {
            throw std::runtime_error("undecodable reply: " + bad->reason);
        }
        // A late reply to an earlier request: keep waiting for ours.
    }
    return std::nullopt;
}

}  // namespace latch
