// latchd's entry point: parse the command line, run the daemon, turn start-up failures into
// one clear line and a non-zero exit. Main thread.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "daemon.hpp"
#include "daemon_config.hpp"

#ifdef LATCH_HAVE_MIMALLOC
#include <mimalloc.h>
#endif

int main(int argc, char* argv[]) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        latch::CommandLine cl = latch::parse_command_line(args);
        if (cl.show_help) {
            std::fputs(latch::usage_text().c_str(), stdout);
            return 0;
        }
        if (cl.show_version) {
            std::printf("latchd %s\n", latch::kLatchVersion);
#ifdef LATCH_HAVE_MIMALLOC
            std::printf("malloc: mimalloc %d\n", mi_version());  // also keeps the library linked
#endif
            return 0;
        }
        latch::run_daemon(cl.config, [args] { return latch::parse_command_line(args).config; });
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "latchd: %s\n", e.what());
        return 1;
    }
}
