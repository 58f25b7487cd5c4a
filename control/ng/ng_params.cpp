// Reading ng request keys. Control thread.
#include "ng_params.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace latch {
namespace {

std::string key_form(std::string_view key) {
    std::string k(key);
    std::replace(k.begin(), k.end(), ' ', '-');
    return k;
}

std::string text(const nlohmann::json& v, const std::string& key) {
    if (!v.is_string()) throw NgParamError("'" + key + "' must be a string");
    return v.get<std::string>();
}

std::vector<std::string> text_list(const nlohmann::json& v, const std::string& key) {
    std::vector<std::string> out;
    if (v.is_string()) {  // some clients send a single value where a list is expected
        out.push_back(v.get<std::string>());
        return out;
    }
    if (!v.is_array()) throw NgParamError("'" + key + "' must be a list of strings");
    for (const auto& item : v) {
        if (!item.is_string()) throw NgParamError("'" + key + "' must be a list of strings");
        out.push_back(item.get<std::string>());
    }
    return out;
}

int64_t integer(const nlohmann::json& v, const std::string& key) {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_string()) {  // bencode clients often send numbers as strings
        const auto& s = v.get_ref<const std::string&>();
        int64_t n = 0;
        auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec == std::errc{} && end == s.data() + s.size()) return n;
    }
    throw NgParamError("'" + key + "' must be an integer");
}

}  // namespace

std::string normalize_flag(std::string_view flag) {
    std::string f;
    for (char c : flag)
        f += c == ' ' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return f;
}

void require(const std::string& value, const char* name) {
    if (value.empty()) throw NgParamError(std::string("missing key '") + name + "'");
}

NgParams read_ng_params(const nlohmann::json& dict) {
    NgParams p;
    for (const auto& [raw_key, v] : dict.items()) {
        std::string key = key_form(raw_key);
        if (key == "command")
            p.command = text(v, key);
        else if (key == "call-id")
            p.call_id = text(v, key);
        else if (key == "from-tag")
            p.from_tag = text(v, key);
        else if (key == "to-tag")
            p.to_tag = text(v, key);
        else if (key == "via-branch")
            p.via_branch = text(v, key);
        else if (key == "sdp")
            p.sdp = text(v, key);
        else if (key == "flags") {
            for (auto& f : text_list(v, key)) p.flags.insert(normalize_flag(f));
        } else if (key == "replace") {
            for (auto& r : text_list(v, key)) p.replace.insert(normalize_flag(r));
        } else if (key == "received-from") {
            auto parts = text_list(v, key);
            if (parts.size() != 2) throw NgParamError("'received-from' must be [family, address]");
            p.received_from = parts[1];
        } else if (key == "ICE" || key == "ice")
            p.ice = normalize_flag(text(v, key));
        else if (key == "direction")
            p.direction = text_list(v, key);
        else if (key == "interface")
            p.from_interface = p.to_interface = text(v, key);
        else if (key == "from-interface")
            p.from_interface = text(v, key);
        else if (key == "to-interface")
            p.to_interface = text(v, key);
        else if (key == "address-family")
            p.address_family = text(v, key);
        else if (key == "media-address")
            p.media_address = text(v, key);
        else if (key == "learning")
            p.learning = normalize_flag(text(v, key));
        else if (key == "rtcp-mux") {
            for (auto& m : text_list(v, key)) p.rtcp_mux.insert(normalize_flag(m));
        } else if (key == "supports") {
            for (auto& s : text_list(v, key))
                p.supports_load_limit |= normalize_flag(s) == "load-limit";
        } else if (key == "delete-delay")
            p.delete_delay = integer(v, key);
        else if (key == "limit")
            p.limit = integer(v, key);
        else if (key == "TOS" || key == "tos")
            p.tos = integer(v, key);
        else if (key == "label")
            p.label = text(v, key);
        else if (key == "metadata")
            p.metadata = text(v, key);
        else if (key == "record-call") {
            std::string on = normalize_flag(text(v, key));
            p.record_call = on == "yes" || on == "on" || on == "true";
        }
    }
    if (p.direction.size() > 2) throw NgParamError("'direction' must name at most two interfaces");
    if (!p.direction.empty()) {
        p.from_interface = p.direction[0];
        p.to_interface = p.direction.size() > 1 ? p.direction[1] : p.direction[0];
    }
    if (!p.address_family.empty() && p.address_family != "IP4" && p.address_family != "IP6") {
        throw NgParamError("'address family' must be IP4 or IP6");
    }
    if (p.delete_delay && *p.delete_delay < 0)
        throw NgParamError("'delete-delay' must not be negative");
    if (p.limit < 0) throw NgParamError("'limit' must not be negative");
    if (p.tos && (*p.tos < 0 || *p.tos > 255)) throw NgParamError("'TOS' must be from 0 to 255");
    if (p.flag("record-call")) p.record_call = true;
    if (p.metadata.size() > kMaxMetadata)
        throw NgParamError("'metadata' must be at most " + std::to_string(kMaxMetadata) +
                           " characters");
    if (p.label.size() > kMaxLabel)
        throw NgParamError("'label' must be at most " + std::to_string(kMaxLabel) + " characters");
    return p;
}

}  // namespace latch
