// Command-line and config-file parsing for latchd. Main thread, at start-up and on reload.
#include "daemon_config.hpp"

#include <fmt/format.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace latch {
namespace {

template <typename T>
T number(const std::string& option, const std::string& text, T min, T max) {
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
        throw std::invalid_argument(
            fmt::format("{}: '{}' is not a number from {} to {}", option, text, min, max));
    }
    return value;
}

}  // namespace

std::string usage_text() {
    return R"(usage: latchd [options]

RTP media relay driven by a SIP proxy over the ng control protocol.

  --config FILE             read options from FILE ("option = value" lines; the command
                            line overrides them)
  --listen-ng ADDR:PORT     ng control socket (default 127.0.0.1:2223; [::1]:2223 for IPv6)
  --interface NAME=ADDR[!ADV]
                            a logical interface: media sockets bind ADDR, SDP says ADV
                            (default: default=127.0.0.1); repeat for more interfaces, or
                            once per family under one name; the first is the default
  --listen-rtpp ADDR:PORT   rtpproxy protocol over UDP, for the rtpproxy modules of Kamailio,
                            OpenSIPS and SER (default: off; their customary address is
                            127.0.0.1:22222, where rtpproxy itself listens)
  --listen-rtpp-unix PATH   rtpproxy protocol over a unix stream socket (default: off)
  --control-allow NET       accept control datagrams only from this network, e.g. 10.0.0.0/8 or
                            192.0.2.7; repeat for more (default: 127.0.0.0/8 and ::1)
  --max-sessions N          refuse new calls while N are active (default 0: no limit)
  --max-packet-rate N       refuse new calls while more than N packets/s are relayed
                            (default 0: no limit)
  --metrics ADDR:PORT       serve Prometheus metrics at http://ADDR:PORT/metrics (default: off;
                            for example 127.0.0.1:9900)
  --workers N               forwarding threads (default: one per core)
  --packet-io MODE          how workers read and send media: auto (default: io_uring where
                            the kernel allows it, else epoll), io_uring or epoll
  --kernel-path MODE        forward established streams in the kernel (a BPF program on the
                            devices that hold the interfaces' addresses; needs CAP_BPF and
                            CAP_NET_ADMIN): auto (default: where the kernel and the process's
                            capabilities allow it, else userspace), on (or refuse to start),
                            off
  --connected-sockets yes|no
                            on io_uring, give each stream that carries media a second socket
                            on its port, connected to its endpoint: cheaper to send and
                            receive (default yes)
  --quality-figures yes|no  measure each stream's loss, jitter, round trip and MOS (default
                            yes)
  --port-min N              lowest media port (default 30000)
  --port-max N              highest media port (default 40000)
  --idle-timeout SECONDS    end a call after this long without media or signalling (default 60)
  --learning MODE           heuristic (default): in the learning window the source that best
                            matches the signalled address wins; immediate: the first valid
                            source is locked at once; off: never learn, send where signalled
  --learning-window MS      how long after signalling a source may be learned (default 3000)
  --redis URL               keep every call's state in Redis (redis://[:PASSWORD@]HOST[:PORT][/DB];
                            default: off), so that a restart or a standby takes the calls over
  --instance-id NAME        this instance's name in Redis: a restart restores the calls of its
                            own name (default: the host name)
  --floating-address ADDR   an address keepalived moves between this instance and its
                            standby (repeat for more): the instance that holds it serves the
                            calls of --instance-id and writes their records; the other keeps
                            copies with their sockets bound on it, ready. Needs --redis
  --recording-dir DIR       record calls asked to be recorded (ng start recording, record-call;
                            rtpproxy R) into DIR: a pcap file and a JSON file per call, 0640
                            (default: off; the directory must exist and be writable)
  --log-level LEVEL         error, warning, info or debug (default info)
  --help                    this text
  --version                 the version

SIGHUP (systemctl reload) reads the config file again: log level, control allow-list, load
limits and learning take effect at once, the rest at the next restart (latchd.conf(5)).
)";
}

std::vector<ConfigArgument> read_config_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw std::invalid_argument(
            fmt::format("--config: cannot read '{}': {}", path, std::strerror(errno)));
    }
    std::vector<ConfigArgument> args;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        auto trim = [](std::string s) {
            auto b = s.find_first_not_of(" \t\r");
            auto e = s.find_last_not_of(" \t\r");
            return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
        };
        line = trim(line.substr(0, line.find('#')));
        if (line.empty()) continue;
        std::string origin = fmt::format("{} line {}", path, number);
        auto eq = line.find('=');
        std::string name = eq == std::string::npos ? "" : trim(line.substr(0, eq));
        if (name.empty() || name.rfind("-", 0) == 0 || name.find_first_of(" \t") != name.npos) {
            throw std::invalid_argument(origin + ": expected 'option = value'");
        }
        if (name == "config" || name == "help" || name == "version")
            throw std::invalid_argument(origin + ": '" + name + "' has no place in a config file");
        args.push_back({"--" + name, origin});
        args.push_back({trim(line.substr(eq + 1)), origin});
    }
    if (in.bad()) {
        throw std::invalid_argument(
            fmt::format("--config: cannot read '{}': {}", path, std::strerror(errno)));
    }
    return args;
}

CommandLine parse_command_line(const std::vector<std::string>& cli_args) {
    // The config file's options go first, so that the command line overrides them.
    std::vector<ConfigArgument> args;
    std::size_t from_files = 0;  // args[0, from_files) came from config files
    auto insert_file = [&](const std::string& path) {
        auto from_file = read_config_file(path);
        args.insert(args.begin() + static_cast<long>(from_files), from_file.begin(),
                    from_file.end());
        from_files += from_file.size();
    };
    for (std::size_t i = 0; i < cli_args.size(); ++i) {
        const std::string& a = cli_args[i];
        if (a == "--config" && i + 1 < cli_args.size()) {
            insert_file(cli_args[++i]);
        } else if (a.rfind("--config=", 0) == 0) {
            insert_file(a.substr(9));
        } else if (a == "--config") {
            throw std::invalid_argument("--config needs a value");
        } else {
            args.push_back({a, {}});
        }
    }
    CommandLine cl;
    DaemonConfig& c = cl.config;
    c.relay.kernel_path = KernelMode::automatic;
    bool cli_interfaces = false;  // interfaces on the command line replace the file's
    bool allow_from_cli = false;  // the first --control-allow replaces the default
    std::vector<Network> allowed = AllowList::loopback().networks();
    for (std::size_t i = 0; i < args.size(); ++i) {
        // An error in a config file's setting names the file and line.
        const std::string origin = args[i].origin;
        try {
            std::string option = args[i].text;
            std::string value;
            bool inline_value = false;
            if (auto eq = option.find('='); option.rfind("--", 0) == 0 && eq != std::string::npos) {
                value = option.substr(eq + 1);
                option = option.substr(0, eq);
                inline_value = true;
            }
            auto take = [&]() -> const std::string& {
                if (inline_value) return value;
                if (i + 1 >= args.size()) throw std::invalid_argument(option + " needs a value");
                value = args[++i].text;
                return value;
            };
            if (option == "--help" || option == "-h") {
                cl.show_help = true;
            } else if (option == "--version") {
                cl.show_version = true;
            } else if (option == "--listen-ng") {
                auto ep = Endpoint::parse(take());
                if (!ep)
                    throw std::invalid_argument("--listen-ng: '" + value + "' is not ADDRESS:PORT");
                c.listen_ng = *ep;
            } else if (option == "--interface") {
                if (i >= from_files && !cli_interfaces) {
                    c.interfaces.clear();
                    cli_interfaces = true;
                }
                c.interfaces.push_back(parse_interface(take()));
            } else if (option == "--listen-rtpp") {
                if (take() == "off") {
                    c.listen_rtpp.reset();
                } else {
                    auto ep = Endpoint::parse(value);
                    if (!ep)
                        throw std::invalid_argument("--listen-rtpp: '" + value +
                                                    "' is not ADDRESS:PORT or off");
                    c.listen_rtpp = *ep;
                }
            } else if (option == "--listen-rtpp-unix") {
                c.listen_rtpp_unix = take();
                if (c.listen_rtpp_unix == "off") c.listen_rtpp_unix.clear();
            } else if (option == "--control-allow") {
                if (!allow_from_cli) {
                    allowed.clear();
                    allow_from_cli = true;
                }
                try {
                    allowed.push_back(parse_network(take()));
                } catch (const std::invalid_argument& e) {
                    throw std::invalid_argument(std::string("--control-allow: ") + e.what());
                }
            } else if (option == "--max-sessions") {
                c.max_sessions = number<uint64_t>(option, take(), 0, 10000000);
            } else if (option == "--max-packet-rate") {
                c.max_packet_rate = number<uint64_t>(option, take(), 0, 1000000000);
            } else if (option == "--metrics") {
                auto ep = Endpoint::parse(take());
                if (!ep)
                    throw std::invalid_argument("--metrics: '" + value + "' is not ADDRESS:PORT");
                c.metrics = *ep;
            } else if (option == "--workers") {
                c.relay.workers = number<unsigned>(option, take(), 1, 256);
            } else if (option == "--packet-io") {
                auto mode = parse_packet_io(take());
                if (!mode)
                    throw std::invalid_argument("--packet-io: '" + value +
                                                "' is not auto, io_uring or epoll");
                c.relay.packet_io = *mode;
            } else if (option == "--kernel-path") {
                auto mode = parse_kernel_mode(take());
                if (!mode)
                    throw std::invalid_argument("--kernel-path: '" + value +
                                                "' is not auto, on or off");
                c.relay.kernel_path = *mode;
            } else if (option == "--connected-sockets") {
                if (take() == "yes")
                    c.relay.connected_sockets = true;
                else if (value == "no")
                    c.relay.connected_sockets = false;
                else
                    throw std::invalid_argument("--connected-sockets: '" + value +
                                                "' is not yes or no");
            } else if (option == "--recording-dir") {
                c.recording_dir = take();
                while (c.recording_dir.size() > 1 && c.recording_dir.back() == '/')
                    c.recording_dir.pop_back();
                if (c.recording_dir.empty())
                    throw std::invalid_argument("--recording-dir: a directory is needed");
                struct stat st {};
                if (::stat(c.recording_dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
                    throw std::invalid_argument("--recording-dir: '" + c.recording_dir +
                                                "' is not a directory");
                if (::access(c.recording_dir.c_str(), W_OK | X_OK) != 0)
                    throw std::invalid_argument("--recording-dir: cannot write to '" +
                                                c.recording_dir + "': " + std::strerror(errno));
                // Room for a few hundred milliseconds of a busy worker's recorded media.
                c.relay.tap_slots = 4096;
            } else if (option == "--quality-figures") {
                if (take() == "yes")
                    c.relay.quality_figures = true;
                else if (value == "no")
                    c.relay.quality_figures = false;
                else
                    throw std::invalid_argument("--quality-figures: '" + value +
                                                "' is not yes or no");
            } else if (option == "--port-min") {
                c.relay.port_min = number<uint16_t>(option, take(), 1024, 65535);
            } else if (option == "--port-max") {
                c.relay.port_max = number<uint16_t>(option, take(), 1024, 65535);
            } else if (option == "--idle-timeout") {
                c.relay.idle_timeout_ms = number<uint32_t>(option, take(), 1, 86400) * 1000;
            } else if (option == "--learning") {
                auto mode = parse_learning_mode(take());
                if (!mode) {
                    throw std::invalid_argument("--learning: '" + value +
                                                "' is not heuristic, immediate or off");
                }
                c.learning = *mode;
            } else if (option == "--learning-window") {
                c.relay.learning_window_ms = number<uint32_t>(option, take(), 0, 60000);
            } else if (option == "--redis") {
                try {
                    c.redis = parse_redis_url(take());
                } catch (const std::invalid_argument& e) {
                    throw std::invalid_argument(std::string("--redis: ") + e.what());
                }
            } else if (option == "--floating-address") {
                auto ep = Endpoint::parse(take(), 0);
                if (!ep)
                    throw std::invalid_argument("--floating-address: '" + value +
                                                "' is not an IP address");
                c.relay.floating.push_back(*ep);
            } else if (option == "--instance-id") {
                c.instance_id = take();
                if (c.instance_id.empty() ||
                    c.instance_id.find_first_of(" :\t\n") != std::string::npos) {
                    throw std::invalid_argument("--instance-id: '" + c.instance_id +
                                                "' must be a word without ':'");
                }
            } else if (option == "--log-level") {
                auto level = parse_log_level(take());
                if (!level)
                    throw std::invalid_argument("--log-level: '" + value +
                                                "' is not error, warning, info or debug");
                c.log_level = *level;
            } else {
                throw std::invalid_argument("unknown option '" + args[i].text + "' (see --help)");
            }
        } catch (const std::invalid_argument& e) {
            if (origin.empty()) throw;
            throw std::invalid_argument(origin + ": " + e.what());
        }
    }
    if (c.interfaces.empty()) c.interfaces.push_back(parse_interface("default=127.0.0.1"));
    if (!c.relay.floating.empty() && !c.redis) {
        throw std::invalid_argument(
            "--floating-address needs --redis: the standby follows the calls there");
    }
    if (c.instance_id.empty()) {
        char host[256] = {};
        c.instance_id = ::gethostname(host, sizeof host - 1) == 0 && host[0] ? host : "latch";
    }
    c.control_allow = AllowList(std::move(allowed));
    if (c.relay.port_min > c.relay.port_max) {
        throw std::invalid_argument(fmt::format("--port-min {} is above --port-max {}",
                                                c.relay.port_min, c.relay.port_max));
    }
    return cl;
}

}  // namespace latch
