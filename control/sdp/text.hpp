// Small text helpers shared by the control protocols' parsers. Pure functions; any thread.
#pragma once

#include <cctype>
#include <string_view>
#include <utility>
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

// Where the n-th word of `s` (as split_words counts them) starts and ends; npos if absent.
inline std::pair<std::size_t, std::size_t> word_span(std::string_view s, std::size_t n) {
    std::size_t i = 0;
    for (std::size_t word = 0;; ++word) {
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        if (i >= s.size()) return {std::string_view::npos, std::string_view::npos};
        std::size_t j = i;
        while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
        if (word == n) return {i, j};
        i = j;
    }
}

}  // namespace latch
