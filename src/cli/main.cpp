// hlstm: one binary, subcommands registered by src/cli/cmd_*.cpp. Only main catches:
// it reports rank, phase and message and exits 1 (bad input/config) or 2 (runtime).
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "command.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/version.hpp"

namespace {

int report(const hlstm::MpiSession& mpi, int code, const char* kind, const char* what) {
    // An agreed failure is reported once, by the rank it happened on; a failure every rank
    // met alike (configuration, command line, sizes: every rank reaches this point within a
    // few seconds), once by rank 0; otherwise by each failing rank, and the job is aborted
    // (the others may be stuck in a collective).
    const hlstm::Comm& comm = mpi.world();
    constexpr double kWaitSeconds = 3.0;
    const int agreed = hlstm::agreedFailureRank();
    const bool all = agreed < 0 && comm.size() > 1 && mpi.allReachWithin(kWaitSeconds);
    if ((agreed < 0 && !all) || agreed == comm.rank() || (all && comm.isRoot()))
        std::fprintf(stderr, "hlstm: %s [rank %d of %d, phase %s]: %s\n", kind, comm.rank(), comm.size(),
                     hlstm::currentPhase().c_str(), what);
    std::fflush(stderr);
    if (agreed < 0 && !all && comm.size() > 1) mpi.abort(code);
    return code;
}

int runMain(const hlstm::MpiSession& mpi, int argc, char** argv) {
    const hlstm::Comm& comm = mpi.world();

    const char* verbose = std::getenv("HLSTM_LOG");
    hlstm::log::init(comm.rank(),
                     verbose && std::string(verbose) == "debug" ? hlstm::log::Level::kDebug : hlstm::log::Level::kInfo);
    hlstm::log::debug() << "MPI transport: " << mpi.transport();

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
            if (code == 0)
                app.exit(e);
            else
                std::fprintf(stderr, "hlstm: bad command line [rank 0 of %d, phase startup]: %s (see hlstm --help)\n",
                             comm.size(), e.what());
        }
        return code == 0 ? 0 : static_cast<int>(hlstm::ExitCode::kBadInput);
    }

    try {
        return action(comm);
    } catch (const hlstm::Error& e) {
        return report(mpi, static_cast<int>(e.code()),
                      e.code() == hlstm::ExitCode::kBadInput  ? "bad input"
                      : e.code() == hlstm::ExitCode::kRequeue ? "stopped"
                                                              : "error",
                      e.what());
    } catch (const std::exception& e) {
        return report(mpi, static_cast<int>(hlstm::ExitCode::kRuntime), "error", e.what());
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::unique_ptr<hlstm::MpiSession> mpi;
    try {
        mpi = std::make_unique<hlstm::MpiSession>(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "hlstm: error [phase startup]: %s\n", e.what());
        return static_cast<int>(hlstm::ExitCode::kRuntime);
    }
    const int code = runMain(*mpi, argc, argv);
    mpi->finalize();
    return code;
}
