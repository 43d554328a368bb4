#include "signal_shield.hpp"

#include <omp.h>
#include <pthread.h>

#include <initializer_list>

namespace hlstm::model::detail {
namespace {

// Runs on the team oneDNN is about to use (same size, same pooled threads); each worker
// blocks once, workers created later inside a shield inherit the blocked mask.
void maskWorkers() {
    const int threads = omp_get_max_threads();
    if (threads <= 1 || omp_in_parallel()) return;
#pragma omp parallel num_threads(threads)
    {
        static thread_local bool masked = false;
        if (omp_get_thread_num() != 0 && !masked) {
            pthread_sigmask(SIG_BLOCK, &asyncSignals(), nullptr);
            masked = true;
        }
    }
}

}  // namespace

const sigset_t& asyncSignals() {
    static const sigset_t set = [] {
        sigset_t s;
        sigfillset(&s);
        for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS, SIGKILL, SIGSTOP})
            sigdelset(&s, sig);
        return s;
    }();
    return set;
}

SignalShield::SignalShield() {
    maskWorkers();
    pthread_sigmask(SIG_BLOCK, &asyncSignals(), &previous_);
}

SignalShield::~SignalShield() { pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }

}  // namespace hlstm::model::detail
