#include "hlstm/core/coordinated.hpp"

#include <algorithm>

#include <boost/serialization/string.hpp>
#include <cstdlib>

namespace hlstm {
namespace {
std::string gPhase = "startup";
int gAgreedRank = -1;

// Code and message of an exception, for broadcasting to the other ranks.
std::pair<ExitCode, std::string> describe(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const Error& err) {
        return {err.code(), err.what()};
    } catch (const std::exception& err) {
        return {ExitCode::kRuntime, err.what()};
    } catch (...) {
        return {ExitCode::kRuntime, "unknown exception"};
    }
}
}  // namespace

const std::string& currentPhase() { return gPhase; }

int agreedFailureRank() { return gAgreedRank; }

std::string setCurrentPhase(std::string phase) {
    std::swap(gPhase, phase);
    return phase;
}

void maybeInjectFailure(const std::string& phase, int rank) {
    const char* spec = std::getenv("HLSTM_FAIL_INJECT");
    if (spec == nullptr) return;
    std::string s(spec);
    auto at = s.rfind('@');
    if (at == std::string::npos) return;
    if (s.substr(0, at) == phase && std::atoi(s.c_str() + at + 1) == rank)
        throw RuntimeError("injected failure (HLSTM_FAIL_INJECT=" + s + ")");
}

int injectedSlowdownMs(int rank) {
    const char* spec = std::getenv("HLSTM_SLOW_INJECT");
    if (spec == nullptr) return 0;
    const std::string s(spec);
    const auto colon = s.find(':');
    if (colon == std::string::npos || std::atoi(s.c_str()) != rank) return 0;
    return std::max(0, std::atoi(s.c_str() + colon + 1));
}

namespace detail {
void agreeOnFailure(const Comm& comm, const std::string& phase, std::exception_ptr local) {
    // The lowest failing rank speaks for all; every rank learns who and why.
    int mine = local ? comm.rank() : comm.size();
    int first = comm.allreduce(mine, Reduce::kMin);
    if (first == comm.size()) return;
    std::string message;
    int code = static_cast<int>(ExitCode::kRuntime);
    if (comm.rank() == first) {
        auto [c, m] = describe(local);
        code = static_cast<int>(c);
        message = m;
    }
    comm.bcast(message, first);
    comm.bcast(code, first);
    gAgreedRank = first;
    if (local) std::rethrow_exception(local);
    throw RemoteError(static_cast<ExitCode>(code), first,
                      "rank " + std::to_string(first) + " failed in phase '" + phase + "': " + message);
}
}  // namespace detail

}  // namespace hlstm
