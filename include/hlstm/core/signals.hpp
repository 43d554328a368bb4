/// Graceful stop on Slurm's warning signal (SIGUSR1, sent by --signal=B:USR1@T and
/// forwarded by mpirun), SIGTERM or SIGINT: a flag that training checks at every minibatch
/// boundary (it then checkpoints and stops with exit code 3).
#pragma once

#include <string>

#include "hlstm/core/error.hpp"

namespace hlstm {

/// Installs handlers for SIGUSR1, SIGTERM and SIGINT that only set the stop flag (async-signal-safe).
void installStopHandlers();
/// Whether a stop signal arrived; the number of the signal, 0 if none.
int stopSignal() noexcept;
/// "SIGTERM (signal 15) received", or on a rank that stopped because its data-parallel group
/// agreed to (another rank got the signal) a sentence saying so (not "signal 0").
std::string stopReason();

/// Thrown at a task boundary after a stop signal: exit code 3 (stopped for requeue).
class StopRequested : public Error {
public:
    explicit StopRequested(const std::string& what) : Error(ExitCode::kRequeue, what) {}
};

}  // namespace hlstm
