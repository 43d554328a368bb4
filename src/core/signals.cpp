#include "hlstm/core/signals.hpp"

#include <csignal>
#include <string>
#include <vector>

namespace hlstm {
namespace {
volatile std::sig_atomic_t gStopSignal = 0;
extern "C" void onStopSignal(int signal) { gStopSignal = signal; }
}  // namespace

void installStopHandlers() {
    // The handler runs on its own stack: some JIT kernels (oneDNN 2.6 gemm) point rsp into
    // the heap while they run, and a signal frame written there corrupts it. The model
    // engine also blocks signals around oneDNN calls; this is the second line of defence.
    static std::vector<char> altStack(static_cast<std::size_t>(4 * SIGSTKSZ));
    stack_t stack{};
    stack.ss_sp = altStack.data();
    stack.ss_size = altStack.size();
    sigaltstack(&stack, nullptr);
    struct sigaction action {};
    action.sa_handler = onStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART | SA_ONSTACK;
    sigaction(SIGUSR1, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
}

int stopSignal() noexcept { return static_cast<int>(gStopSignal); }

std::string stopReason() {
    const int s = stopSignal();
    if (s == 0) return "stop requested by another rank of its data-parallel group (which received the signal)";
    const char* name = s == SIGTERM ? "SIGTERM" : s == SIGINT ? "SIGINT" : s == SIGUSR1 ? "SIGUSR1" : "signal";
    return std::string(name) + " (signal " + std::to_string(s) + ") received";
}

}  // namespace hlstm
