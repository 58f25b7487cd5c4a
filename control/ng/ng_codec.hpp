// The ng protocol's framing: "COOKIE SP DICT", the dictionary in bencode or JSON, told apart by
// its first byte; replies in the request's encoding. Pure functions; any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <variant>

namespace latch {

enum class NgEncoding { bencode, json };

struct NgRequest {
    std::string cookie;
    NgEncoding encoding = NgEncoding::bencode;
    nlohmann::json dict;  // always an object
};

// A datagram with a cookie that could not be decoded: answered with an error reply.
struct NgBadRequest {
    std::string cookie;
    NgEncoding encoding = NgEncoding::bencode;
    std::string reason;
};

// A datagram without a usable cookie: counted and dropped, never answered.
struct NgNoCookie {};

using NgParsed = std::variant<NgRequest, NgBadRequest, NgNoCookie>;

inline constexpr std::size_t kMaxCookieSize = 128;

NgParsed parse_ng(std::string_view datagram);

// "COOKIE SP DICT". Binary strings that are not UTF-8 are replaced, not rejected, in JSON.
std::string encode_ng(std::string_view cookie, NgEncoding encoding, const nlohmann::json& dict);

// {"result": "error", "error-reason": reason}
nlohmann::json ng_error(std::string_view reason);
// An error that is latch's own failure, not the request's: "internal error: " + what. The ng
// listener counts the replies that carry one.
nlohmann::json ng_internal_error(std::string_view what);
bool is_internal_error(const nlohmann::json& reply);

}  // namespace latch
