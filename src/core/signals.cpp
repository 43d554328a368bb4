#include "hlstm/core/signals.hpp"

#include <csignal>

namespace hlstm {
namespace {
volatile std::sig_atomic_t gStopSignal = 0;
extern "C" void onStopSignal(int signal) { gStopSignal = signal; }
}  // namespace

void installStopHandlers() {
    struct sigaction action {};
    action.sa_handler = onStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

int stopSignal() noexcept { return static_cast<int>(gStopSignal); }

}  // namespace hlstm
