/// Coordinated failure (GROMACS-style): an exception on any rank inside a phase reaches
/// every rank before the next collective, so no rank is left waiting in MPI.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include "hlstm/core/comm.hpp"
#include "hlstm/core/error.hpp"

namespace hlstm {

/// Name of the phase this process is in (for main's error report).
const std::string& currentPhase();
/// Sets the current phase name; returns the previous one.
std::string setCurrentPhase(std::string phase);

/// Throws an injected RuntimeError when the environment variable HLSTM_FAIL_INJECT is
/// "<phase>@<rank>" and matches (tests use it to fail one rank on purpose). Phases: every
/// coordinated() phase name (at its start), and "train:data-parallel" (inside the gradient
/// exchange of a data-parallel candidate's training step, while its group waits in it).
void maybeInjectFailure(const std::string& phase, int rank);

/// Thrown by a `finally` of coordinated() when the failure left other ranks inside collectives
/// of a smaller communicator that can never complete (a data-parallel group in a candidate's
/// training step): coordinated() then rethrows the failure without the agreement (the others
/// would never reach it), so main, finding it not agreed, reports it once from this rank and
/// ends the whole job (MpiSession::abort).
struct AgreementImpossible {};

namespace detail {
/// Collective: agrees on whether any rank failed; rethrows here if so.
void agreeOnFailure(const Comm& comm, const std::string& phase, std::exception_ptr local);
}  // namespace detail

/// Milliseconds to sleep per training minibatch on this rank when the environment variable
/// HLSTM_SLOW_INJECT is "<rank>:<ms>" and names it, else 0 (tests use it to make one rank a
/// slow node, e.g. to show that the others take its work).
int injectedSlowdownMs(int rank);

/// The rank whose failure all ranks agreed on (the lowest failing one), or -1 when the
/// exception now propagating was not agreed on (then main must abort MPI).
int agreedFailureRank();

/// Runs `fn` (rank-local work) as phase `phase`; if it throws on any rank, every rank throws:
/// the failing rank its own exception, the others a RemoteError naming that rank and its
/// message (collective over the communicator). Then every rank, also one whose `fn` threw (or
/// one that an injected failure stopped before `fn`), runs `finally(failed)` before the
/// agreement: e.g. a barrier that keeps answering requests of ranks still at work, which a
/// failed rank must not leave unanswered.
template <class F, class G> void coordinated(const Comm& comm, const std::string& phase, F&& fn, G&& finally) {
    std::string previous = setCurrentPhase(phase);
    std::exception_ptr failure;
    try {
        maybeInjectFailure(phase, comm.rank());
        std::forward<F>(fn)();
    } catch (...) {
        failure = std::current_exception();
    }
    try {
        std::forward<G>(finally)(failure != nullptr);
    } catch (const AgreementImpossible&) {
        if (failure) std::rethrow_exception(failure);
    } catch (...) {
        if (!failure) failure = std::current_exception();
    }
    detail::agreeOnFailure(comm, phase, failure);
    setCurrentPhase(previous);
}

/// The same without a `finally`.
template <class F> void coordinated(const Comm& comm, const std::string& phase, F&& fn) {
    coordinated(comm, phase, std::forward<F>(fn), [](bool) {});
}

}  // namespace hlstm
