// rtpproxy command parsing. Any thread.
#include "rtpp_command.hpp"

#include "text.hpp"

#include <cctype>
#include <charconv>

namespace latch {
namespace {

[[noreturn]] void fail(int code, std::string why) {
    throw RtppError{code, std::move(why)};
}

RtppTag tag(std::string_view text) {
    RtppTag t;
    auto semi = text.find(';');
    t.tag = std::string(text.substr(0, semi));
    if (t.tag.empty()) fail(kRtppBadTag, "empty tag");
    if (semi != std::string_view::npos) {
        std::string_view n = text.substr(semi + 1);
        unsigned v = 0;
        auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
        if (ec != std::errc{} || end != n.data() + n.size() || v == 0 || v > 64) {
            fail(kRtppBadMediaNumber, "bad media number in '" + std::string(text) + "'");
        }
        t.media = v;
    }
    return t;
}

// U/L modifiers: letters, some followed by a value (c<list>, z<ms>, l<addr>/l{label}, r<addr>).
void modifiers(std::string_view mods, RtppCommand& c) {
    std::string bridge;  // e/i letters in order: the first names the caller's side
    for (std::size_t i = 0; i < mods.size(); ++i) {
        char m = static_cast<char>(std::tolower(static_cast<unsigned char>(mods[i])));
        // The value after c, z (digits and commas) or l, r (an address, or {label}).
        auto value = [&](bool address) {
            std::size_t start = i + 1;
            if (start < mods.size() && mods[start] == '{') {
                auto close = mods.find('}', start);
                if (close == std::string_view::npos) fail(kRtppBadModifier, "unterminated {label}");
                i = close;
                return std::string(mods.substr(start + 1, close - start - 1));
            }
            std::size_t end = start;
            auto part_of_value = [&](char ch) {
                if (std::isdigit(static_cast<unsigned char>(ch)) || ch == ',') return true;
                return address &&
                       (ch == '.' || ch == ':' || std::isxdigit(static_cast<unsigned char>(ch)));
            };
            while (end < mods.size() && part_of_value(mods[end])) ++end;
            i = end - 1;
            return std::string(mods.substr(start, end - start));
        };
        switch (m) {
            case 'a':
                c.asymmetric = true;
                break;
            case 's':
                c.asymmetric = false;
                break;  // symmetric (Kamailio also sends 'S' for weak)
            case 'w':
            case 'n':
                break;  // weak reference, new port: nothing to do
            case '6':
                c.ipv6 = true;
                break;
            case '4':
                c.ipv6 = false;
                break;
            case 'e':
                bridge += 'e';
                break;
            case 'i':
                bridge += 'i';
                break;
            case 'c':
            case 'z':
                value(false);
                break;  // codecs, ptime: not acted on (VF says so)
            case 'r':
                value(true);
                break;  // the remote's address hint: not needed
            case 'l': {
                std::string v = value(true);
                if (v.empty()) fail(kRtppBadModifier, "l needs an address or {label}");
                bool label = mods[i] == '}';
                if (label) {
                    c.from_interface = c.to_interface = v;
                } else {
                    c.local_address = v;
                }
                break;
            }
            default:
                fail(kRtppBadModifier, std::string("unsupported modifier '") + mods[i] + "'");
        }
    }
    auto side = [](char ei) {
        return ei == 'e' ? std::string("external") : std::string("internal");
    };
    if (!bridge.empty()) {
        c.from_interface = side(bridge[0]);
        c.to_interface = side(bridge.size() > 1 ? bridge[1] : bridge[0]);
    }
}

uint16_t port(std::string_view text) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v > 65535) {
        fail(kRtppBadPort, "bad port '" + std::string(text) + "'");
    }
    return static_cast<uint16_t>(v);
}

}  // namespace

bool rtpp_feature_supported(std::string_view date) {
    return date == "20040107"      // the basic protocol
           || date == "20050322"   // several streams per call (tag;N)
           || date == "20081224";  // timeout notification
}

RtppCommand parse_rtpp(std::string_view line) {
    auto w = split_words(line);
    if (w.empty()) fail(kRtppUnknownCommand, "empty command");
    RtppCommand c;
    std::string_view head = w[0];
    char op = static_cast<char>(std::toupper(static_cast<unsigned char>(head[0])));
    std::string_view mods = head.substr(1);
    auto args = [&](std::size_t min, std::size_t max) {
        if (w.size() < min + 1 || w.size() > max + 1) {
            fail(kRtppArgumentCount, "wrong number of arguments for " + std::string(head));
        }
    };
    switch (op) {
        case 'V':
            if (mods.empty()) {
                args(0, 0);
                c.op = RtppOp::version;
            } else if (mods == "F" || mods == "f") {
                args(1, 1);
                c.op = RtppOp::feature;
                c.feature = std::string(w[1]);
            } else {
                fail(kRtppBadModifier, "unknown V form " + std::string(head));
            }
            return c;
        case 'U':
        case 'L': {
            c.op = op == 'U' ? RtppOp::update : RtppOp::lookup;
            if (op == 'U') {
                args(4, 7);
            } else {
                args(5, 5);
            }
            modifiers(mods, c);
            c.call_id = std::string(w[1]);
            c.address = std::string(w[2]);
            c.port = port(w[3]);
            c.from = tag(w[4]);
            // U callid addr port ftag [ttag] [notify_socket notify_tag]
            std::size_t n = w.size() - 1;
            if (n == 5 || n == 7) c.to = tag(w[5]);
            if (n == 6) {
                c.notify_socket = std::string(w[5]);
                c.notify_tag = std::string(w[6]);
            }
            if (n == 7) {
                c.notify_socket = std::string(w[6]);
                c.notify_tag = std::string(w[7]);
            }
            return c;
        }
        case 'D':
        case 'Q':
            c.op = op == 'D' ? RtppOp::remove : RtppOp::query;
            args(2, 3);
            for (char m : mods) {
                if (op == 'Q' && (m == 'v' || m == 'V')) {
                    c.verbose = true;
                } else if (!(op == 'D' && (m == 'w' || m == 'W'))) {
                    fail(kRtppBadModifier, std::string("unsupported modifier '") + m + "'");
                }
            }
            c.call_id = std::string(w[1]);
            c.from = tag(w[2]);
            if (w.size() > 3) c.to = tag(w[3]);
            return c;
        case 'I':
            c.op = RtppOp::info;
            args(0, 0);
            if (mods == "b" || mods == "B") {
                c.brief = true;
            } else if (!mods.empty()) {
                fail(kRtppBadModifier, "unsupported modifier for I");
            }
            return c;
        case 'G':
            c.op = RtppOp::get_stats;
            if (mods == "v" || mods == "V") {
                c.verbose = true;
            } else if (!mods.empty()) {
                fail(kRtppBadModifier, "unsupported modifier for G");
            }
            for (std::size_t i = 1; i < w.size(); ++i) c.names.emplace_back(w[i]);
            return c;
        case 'X':
            args(0, 0);
            c.op = RtppOp::delete_all;
            return c;
        case 'R':
            // R callid from_tag [to_tag]: record the session (into --recording-dir).
            c.op = RtppOp::record;
            args(2, 3);
            if (!mods.empty()) fail(kRtppBadModifier, "unsupported modifier for R");
            c.call_id = std::string(w[1]);
            c.from = tag(w[2]);
            if (w.size() > 3) c.to = tag(w[3]);
            return c;
        case 'C':
            // C callid target from_tag [to_tag]: a copy to "udp:ADDR:PORT", or a recording.
            c.op = RtppOp::copy;
            args(3, 4);
            if (!mods.empty()) fail(kRtppBadModifier, "unsupported modifier for C");
            c.call_id = std::string(w[1]);
            c.copy_target = std::string(w[2]);
            c.from = tag(w[3]);
            if (w.size() > 4) c.to = tag(w[4]);
            return c;
        case 'P':
        case 'S':
        case 'N':
            fail(kRtppUnsupported, "play is not supported");
        default:
            fail(kRtppUnknownCommand, "unknown command '" + std::string(head) + "'");
    }
}

}  // namespace latch
