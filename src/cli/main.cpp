// hlstm: one binary, subcommands registered by src/cli/cmd_*.cpp. Only main catches:
// it reports rank, phase and message and exits 1 (bad input/config) or 2 (runtime).
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

#include "command.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/core/signals.hpp"
#include "hlstm/version.hpp"

namespace {

int report(const hlstm::Comm& comm, int code, const char* kind, const char* what) {
    // An agreed failure is reported once, by the rank it happened on.
    const int agreed = hlstm::agreedFailureRank();
    if (agreed < 0 || agreed == comm.rank())
        std::fprintf(stderr, "hlstm: %s [rank %d of %d, phase %s]: %s\n", kind, comm.rank(), comm.size(),
                     hlstm::currentPhase().c_str(), what);
    std::fflush(stderr);
    if (agreed < 0 && comm.size() > 1) MPI_Abort(comm.raw(), code);  // others may be stuck
    MPI_Finalize();
    return code;
}

}  // namespace

int main(int argc, char** argv) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    hlstm::Comm comm(MPI_COMM_WORLD);
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
        int code = 0;
        if (comm.isRoot()) code = app.exit(e);
        else code = e.get_exit_code();
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
