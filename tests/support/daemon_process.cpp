// DaemonProcess and run_program with posix_spawn and pipes. Test thread.
#include "daemon_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <regex>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace latch::test {
namespace {

struct Spawned {
    pid_t pid;
    int out_fd;
};

Spawned spawn_with_pipe(const std::string& path, const std::vector<std::string>& args) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        throw std::runtime_error("cannot start " + path + ": " + std::strerror(rc));
    }
    return {pid, fds[0]};
}

// Reads what the pipe has within `timeout_ms`; false at end of file.
bool read_pipe(int fd, std::string& into, int timeout_ms) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, timeout_ms) <= 0) return true;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    into.append(buf, static_cast<std::size_t>(n));
    return true;
}

// Reads whatever is already in the pipe, without waiting.
void drain_pipe(int fd, std::string& into) {
    for (;;) {
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, 0) <= 0 || !read_pipe(fd, into, 0)) return;
    }
}

// waitpid with a deadline, polling since there is no timed waitpid.
int wait_exit(pid_t pid, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
}

}  // namespace

DaemonProcess::DaemonProcess(std::vector<std::string> args, const std::string& program) {
    // The test's own --listen-ng (last) wins over this default.
    std::vector<std::string> defaults = {"--listen-ng", "127.0.0.1:0", "--listen-rtpp",
                                         "127.0.0.1:0"};
    auto at = args.begin();
    if (program != LATCHD_PATH) {  // a wrapper: latchd's options follow its path
        at = std::find(args.begin(), args.end(), std::string(LATCHD_PATH));
        if (at != args.end()) ++at;
    }
    args.insert(at, defaults.begin(), defaults.end());
    Spawned s = spawn_with_pipe(program, args);
    pid_ = s.pid;
    log_fd_ = s.out_fd;
    static const std::regex kListening("ng control on ([0-9.]+:[0-9]+|\\[[0-9a-f:]+\\]:[0-9]+)");
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    std::smatch m;
    while (!std::regex_search(log_, m, kListening)) {
        if (std::chrono::steady_clock::now() > deadline || !read_pipe(log_fd_, log_, 100)) {
            stop(std::chrono::seconds(2));
            throw std::runtime_error("latchd did not start; it said: " + log_);
        }
    }
    ng_ = *Endpoint::parse(m[1].str());
    static const std::regex kRtpp("rtpproxy control on udp ([0-9.]+:[0-9]+)");
    if (std::regex_search(log_, m, kRtpp)) rtpp_ = *Endpoint::parse(m[1].str());
}

DaemonProcess::~DaemonProcess() {
    stop();
    if (log_fd_ >= 0) ::close(log_fd_);
}

const std::string& DaemonProcess::log() {
    if (log_fd_ >= 0) drain_pipe(log_fd_, log_);
    return log_;
}

std::optional<std::string> DaemonProcess::wait_for_log(const std::string& pattern,
                                                       std::chrono::milliseconds timeout) {
    std::regex re(pattern);
    std::smatch m;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!std::regex_search(log_, m, re)) {
        if (std::chrono::steady_clock::now() > deadline || log_fd_ < 0 ||
            !read_pipe(log_fd_, log_, 100)) {
            return std::nullopt;
        }
    }
    return m.size() > 1 ? m[1].str() : m[0].str();
}

int DaemonProcess::stop(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int code = wait_exit(pid_, timeout);
    pid_ = -1;
    if (log_fd_ >= 0) drain_pipe(log_fd_, log_);
    return code;
}

void DaemonProcess::kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    if (log_fd_ >= 0) drain_pipe(log_fd_, log_);
}

ProgramResult run_program(const std::string& path, const std::vector<std::string>& args,
                          std::chrono::milliseconds timeout) {
    Spawned s = spawn_with_pipe(path, args);
    ProgramResult result;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    // Read until the program closes its end (it exited) or the deadline passes.
    while (std::chrono::steady_clock::now() < deadline && read_pipe(s.out_fd, result.output, 50)) {
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    result.exit_code = wait_exit(s.pid, std::max(left, std::chrono::milliseconds(100)));
    drain_pipe(s.out_fd, result.output);
    ::close(s.out_fd);
    return result;
}

// GET http://ep/path over a plain TCP socket; the body, or "" on failure.
std::string http_get(const Endpoint& ep, const std::string& path) {
    int fd = ::socket(ep.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    if (::connect(fd, ep.sockaddr_ptr(), ep.sockaddr_len()) == 0) {
        std::string req = "GET " + path + " HTTP/1.0\r\nHost: test\r\n\r\n";
        if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
            char buf[4096];
            ssize_t n;
            while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
                out.append(buf, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    auto body = out.find("\r\n\r\n");
    return body == std::string::npos ? "" : out.substr(body + 4);
}

}  // namespace latch::test
