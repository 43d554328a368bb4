// hlstm: one binary, subcommands registered by src/cli/cmd_*.cpp. Only main catches:
// it reports rank, phase and message and exits 1 (bad input/config) or 2 (runtime).
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "command.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/version.hpp"

namespace {

// A communicator for the error path only, so that its barrier never meets another collective.
MPI_Comm gErrorComm = MPI_COMM_NULL;

// Whether every rank reached the error path within a few seconds (a failure every rank
// found alike, outside the coordinated phases: configuration, command line, sizes).
bool everyRankFailed() {
    MPI_Request request = MPI_REQUEST_NULL;
    if (gErrorComm == MPI_COMM_NULL || MPI_Ibarrier(gErrorComm, &request) != MPI_SUCCESS) return false;
    constexpr double kWaitSeconds = 3.0;
    const double start = MPI_Wtime();
    int done = 0;
    while (!done && MPI_Wtime() - start < kWaitSeconds) {
        MPI_Test(&request, &done, MPI_STATUS_IGNORE);
        if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done != 0;
}

int report(const hlstm::Comm& comm, int code, const char* kind, const char* what) {
    // An agreed failure is reported once, by the rank it happened on; a failure every rank
    // met alike, once by rank 0; otherwise by each failing rank, and the job is aborted (the
    // others may be stuck in a collective).
    const int agreed = hlstm::agreedFailureRank();
    const bool all = agreed < 0 && comm.size() > 1 && everyRankFailed();
    if ((agreed < 0 && !all) || agreed == comm.rank() || (all && comm.isRoot()))
        std::fprintf(stderr, "hlstm: %s [rank %d of %d, phase %s]: %s\n", kind, comm.rank(), comm.size(),
                     hlstm::currentPhase().c_str(), what);
    std::fflush(stderr);
    if (agreed < 0 && !all && comm.size() > 1) MPI_Abort(comm.raw(), code);
    MPI_Finalize();
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    hlstm::Comm comm(MPI_COMM_WORLD);
    MPI_Comm_dup(MPI_COMM_WORLD, &gErrorComm);
    const char* verbose = std::getenv("HLSTM_LOG");
    hlstm::log::init(comm.rank(), verbose && std::string(verbose) == "debug" ? hlstm::log::Level::kDebug
                                                                              : hlstm::log::Level::kInfo);

    CLI::App app{"hlstm " + std::string(hlstm::kVersion) +
                 ": ground-subsidence prediction from InSAR time series with heterogeneous LSTMs (MPI)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("hlstm ") + hlstm::kVersion);
    hlstm::cli::Action action;
    for (auto& command : hlstm::cli::commands()) {
        CLI::App* sub = app.add_subcommand(command.name, command.help);
        auto setup = command.setup;
        auto made = std::make_shared<hlstm::cli::Action>(setup(*sub));
        sub->callback([made, &action] { action = *made; });
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help and --version exit 0 with CLI11's text; a bad command line is one message.
        const int code = e.get_exit_code();
        if (comm.isRoot()) {
            if (code == 0) app.exit(e);
            else std::fprintf(stderr, "hlstm: bad command line [rank 0 of %d, phase startup]: %s (see hlstm --help)\n",
                              comm.size(), e.what());
        }
        MPI_Finalize();
        return code == 0 ? 0 : static_cast<int>(hlstm::ExitCode::kBadInput);
    }

    try {
        int code = action(comm);
        MPI_Finalize();
        return code;
    } catch (const hlstm::Error& e) {
        return report(comm, static_cast<int>(e.code()), e.code() == hlstm::ExitCode::kBadInput ? "bad input"
                      : e.code() == hlstm::ExitCode::kRequeue ? "stopped"
                                                              : "error",
                      e.what());
    } catch (const std::exception& e) {
        return report(comm, static_cast<int>(hlstm::ExitCode::kRuntime), "error", e.what());
    }
}
