// Bencode decoding and encoding. Any thread.
#include "bencode.hpp"

#include <fmt/format.h>

#include <charconv>

namespace latch {
namespace {

class Decoder {
  public:
    Decoder(std::string_view in, int max_depth) : in_(in), max_depth_(max_depth) {}

    nlohmann::json document() {
        nlohmann::json v = value(0);
        if (pos_ != in_.size()) fail("trailing data after the bencoded value");
        return v;
    }

  private:
    [[noreturn]] void fail(std::string_view what) const {
        throw BencodeError(fmt::format("invalid bencode at offset {}: {}", pos_, what));
    }
    char peek() const {
        if (pos_ >= in_.size()) {
            throw BencodeError(fmt::format("truncated bencode: input ends at offset {}", pos_));
        }
        return in_[pos_];
    }

    nlohmann::json value(int depth) {
        if (depth > max_depth_) fail("nested too deeply");
        char c = peek();
        if (c == 'd') return dictionary(depth);
        if (c == 'l') return list(depth);
        if (c == 'i') return integer();
        if (c >= '0' && c <= '9') return string();
        fail(fmt::format("unexpected byte 0x{:02x}", static_cast<unsigned char>(c)));
    }

    nlohmann::json dictionary(int depth) {
        ++pos_;
        nlohmann::json obj = nlohmann::json::object();
        while (peek() != 'e') {
            if (peek() < '0' || peek() > '9') fail("dictionary key is not a string");
            std::string key = string();
            obj[key] = value(depth + 1);  // a repeated key: the last one wins
        }
        ++pos_;
        return obj;
    }

    nlohmann::json list(int depth) {
        ++pos_;
        nlohmann::json arr = nlohmann::json::array();
        while (peek() != 'e') arr.push_back(value(depth + 1));
        ++pos_;
        return arr;
    }

    nlohmann::json integer() {
        ++pos_;
        std::size_t end = in_.find('e', pos_);
        if (end == std::string_view::npos) {
            pos_ = in_.size();
            peek();
        }
        std::string_view digits = in_.substr(pos_, end - pos_);
        bool negative = !digits.empty() && digits[0] == '-';
        std::string_view magnitude = negative ? digits.substr(1) : digits;
        if (magnitude.empty() || (magnitude.size() > 1 && magnitude[0] == '0') ||
            (negative && magnitude == "0")) {
            fail("malformed integer");
        }
        int64_t v = 0;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        if (ec != std::errc{} || ptr != digits.data() + digits.size()) fail("malformed integer");
        pos_ = end + 1;
        return v;
    }

    std::string string() {
        std::size_t colon = in_.find(':', pos_);
        if (colon == std::string_view::npos) {
            pos_ = in_.size();
            peek();
        }
        std::string_view digits = in_.substr(pos_, colon - pos_);
        std::size_t len = 0;
        auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
        if (ec != std::errc{} || ptr != digits.data() + digits.size() ||
            (digits.size() > 1 && digits[0] == '0')) {
            fail("malformed string length");
        }
        pos_ = colon + 1;
        if (len > in_.size() - pos_) {
            throw BencodeError(fmt::format(
                "truncated bencode: string of {} bytes at offset {} runs past the end", len, pos_));
        }
        std::string s(in_.substr(pos_, len));
        pos_ += len;
        return s;
    }

    std::string_view in_;
    std::size_t pos_ = 0;
    int max_depth_;
};

void encode(const nlohmann::json& v, std::string& out) {
    switch (v.type()) {
        case nlohmann::json::value_t::object:
            out += 'd';
            for (const auto& [key, item] : v.items()) {  // std::map: keys already sorted
                out += std::to_string(key.size());
                out += ':';
                out += key;
                encode(item, out);
            }
            out += 'e';
            break;
        case nlohmann::json::value_t::array:
            out += 'l';
            for (const auto& item : v) encode(item, out);
            out += 'e';
            break;
        case nlohmann::json::value_t::string: {
            const auto& s = v.get_ref<const std::string&>();
            out += std::to_string(s.size());
            out += ':';
            out += s;
            break;
        }
        case nlohmann::json::value_t::number_integer:
            out += fmt::format("i{}e", v.get<int64_t>());
            break;
        case nlohmann::json::value_t::number_unsigned:
            out += fmt::format("i{}e", v.get<uint64_t>());
            break;
        case nlohmann::json::value_t::boolean:
            out += v.get<bool>() ? "i1e" : "i0e";
            break;
        default:
            throw BencodeError(fmt::format("bencode cannot carry a {} value", v.type_name()));
    }
}

}  // namespace

nlohmann::json bencode_decode(std::string_view input, int max_depth) {
    return Decoder(input, max_depth).document();
}

std::string bencode_encode(const nlohmann::json& value) {
    std::string out;
    encode(value, out);
    return out;
}

}  // namespace latch
