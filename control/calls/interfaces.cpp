// Logical interface parsing and lookup. Any thread (start-up and control thread).
#include "interfaces.hpp"

#include <stdexcept>

namespace latch {

Interface parse_interface(std::string_view text) {
    Interface i;
    std::string_view rest = text;
    if (auto eq = text.find('='); eq != std::string_view::npos) {
        i.name = std::string(text.substr(0, eq));
        rest = text.substr(eq + 1);
    } else {
        i.name = "default";
    }
    std::string_view bind = rest.substr(0, rest.find('!'));
    auto ep = Endpoint::parse(bind, 0);
    if (i.name.empty() || !ep) {
        throw std::invalid_argument("interface '" + std::string(text) +
                                    "' is not NAME=ADDRESS[!ADVERTISED-ADDRESS]");
    }
    i.bind = *ep;
    if (auto bang = rest.find('!'); bang != std::string_view::npos) {
        auto adv = Endpoint::parse(rest.substr(bang + 1), 0);
        if (!adv || adv->family() != ep->family()) {
            throw std::invalid_argument(
                "interface '" + std::string(text) +
                "': the advertised address must be an address of the same family");
        }
        i.advertised = adv->address_string();
    }
    return i;
}

const Interface* find_interface(const std::vector<Interface>& interfaces, std::string_view name,
                                int family) {
    const Interface* any = nullptr;
    std::string_view wanted = name.empty() && !interfaces.empty() ? interfaces[0].name : name;
    for (const auto& i : interfaces) {
        if (i.name != wanted) continue;
        if (family == AF_UNSPEC || i.bind.family() == family) return &i;
        if (!any) any = &i;
    }
    return any;
}

}  // namespace latch
