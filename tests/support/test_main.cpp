// Catch2 entry point for every test binary: raises the descriptor limit first, since the
// relay tests open thousands of sockets.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <sys/resource.h>

int main(int argc, char* argv[]) {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
    return Catch::Session().run(argc, argv);
}
