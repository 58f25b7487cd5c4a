// ng framing and encodings. Any thread.
#include "ng_codec.hpp"

#include "bencode.hpp"

namespace latch {

NgParsed parse_ng(std::string_view datagram) {
    std::size_t space = datagram.find(' ');
    if (space == 0 || space == std::string_view::npos || space > kMaxCookieSize)
        return NgNoCookie{};
    std::string_view cookie = datagram.substr(0, space);
    for (char c : cookie) {
        if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
            return NgNoCookie{};
        }
    }
    std::string_view body = datagram.substr(space + 1);
    if (body.empty() || (body[0] != 'd' && body[0] != '{')) {
        return NgBadRequest{std::string(cookie), NgEncoding::bencode, "Invalid NG data format"};
    }
    NgEncoding encoding = body[0] == 'd' ? NgEncoding::bencode : NgEncoding::json;
    try {
        nlohmann::json dict =
            encoding == NgEncoding::bencode ? bencode_decode(body) : nlohmann::json::parse(body);
        if (!dict.is_object()) {
            return NgBadRequest{std::string(cookie), encoding, "the message is not a dictionary"};
        }
        return NgRequest{std::string(cookie), encoding, std::move(dict)};
    } catch (const BencodeError& e) {
        return NgBadRequest{std::string(cookie), encoding, e.what()};
    } catch (const nlohmann::json::exception& e) {
        return NgBadRequest{std::string(cookie), encoding,
                            std::string("invalid JSON: ") + e.what()};
    }
}

std::string encode_ng(std::string_view cookie, NgEncoding encoding, const nlohmann::json& dict) {
    std::string out(cookie);
    out += ' ';
    if (encoding == NgEncoding::bencode) {
        out += bencode_encode(dict);
    } else {
        out += dict.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    return out;
}

nlohmann::json ng_error(std::string_view reason) {
    return {{"result", "error"}, {"error-reason", std::string(reason)}};
}

namespace {
constexpr std::string_view kInternal = "internal error: ";
}

nlohmann::json ng_internal_error(std::string_view what) {
    return ng_error(std::string(kInternal) + std::string(what));
}

bool is_internal_error(const nlohmann::json& reply) {
    auto reason = reply.find("error-reason");
    return reason != reply.end() && reason->is_string() &&
           reason->get_ref<const std::string&>().rfind(kInternal, 0) == 0;
}

}  // namespace latch
