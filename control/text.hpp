// Small text helpers shared by the control protocols' parsers. Pure functions; any thread.
#pragma once

#include <cctype>
#include <string_view>
#include <vector>

namespace latch {

// The runs of non-blank characters of `s` (spaces, tabs, line ends separate them).
inline std::vector<std::string_view> split_words(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        std::size_t j = i;
        while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
        if (j > i) out.push_back(s.substr(i, j - i));
        i = j;
    }
    return out;
}

}  // namespace latch
