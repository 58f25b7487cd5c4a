// Bencode codec over nlohmann::json values: dictionaries, lists, integers and binary-safe
// strings (bytes are kept as they are in std::string). Pure functions; any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>

namespace latch {

class BencodeError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Decodes exactly one value filling all of `input`. Throws BencodeError with a sentence that
// says what was wrong and at which byte offset.
nlohmann::json bencode_decode(std::string_view input, int max_depth = 32);

// Encodes objects, arrays, strings, integers and booleans (as 0/1). Dictionary keys come out
// sorted, as bencode requires. Throws BencodeError for floats and nulls.
std::string bencode_encode(const nlohmann::json& value);

}  // namespace latch
