#include "hlstm/core/mpi_transport.hpp"

#include <mpi.h>

#include <cstdlib>

namespace hlstm::mpi {

namespace {
constexpr const char* kSingleNodePml = "ob1";
constexpr const char* kSingleNodeBtl = "self,vader,tcp";  // tcp: a fallback where shared memory fails
}  // namespace

TransportChoice chooseTransport(const EnvLookup& env) {
    TransportChoice choice;
#ifndef OPEN_MPI
    (void)env;
    choice.why = "not Open MPI: its defaults kept";
    return choice;
#else
    if (const char* pml = env("OMPI_MCA_pml")) {
        choice.why = std::string("OMPI_MCA_pml=") + pml + " set by the user: kept";
        return choice;
    }
    const char* worldSize = env("OMPI_COMM_WORLD_SIZE");
    const char* localSize = env("OMPI_COMM_WORLD_LOCAL_SIZE");
    const char* slurmNodes = env("SLURM_STEP_NUM_NODES");
    bool oneNode = false;
    if (worldSize != nullptr) {  // started by mpirun/mpiexec (ORTE)
        oneNode = localSize != nullptr && std::string(localSize) == worldSize;
        choice.why =
            std::string("mpirun: ") + (localSize ? localSize : "?") + " of " + worldSize + " rank(s) on this node";
    } else if (env("SLURM_PROCID") != nullptr && slurmNodes != nullptr) {  // srun direct launch
        oneNode = std::string(slurmNodes) == "1";
        choice.why = std::string("srun: step on ") + slurmNodes + " node(s)";
    } else if (env("PMIX_RANK") != nullptr || env("PMI_RANK") != nullptr) {  // another launcher
        choice.why = "launcher without a node count: Open MPI's default kept";
        return choice;
    } else {
        oneNode = true;
        choice.why = "one process";
    }
    if (!oneNode) {
        choice.why += ": several nodes, Open MPI's default kept";
        return choice;
    }
    choice.set.emplace_back("OMPI_MCA_pml", kSingleNodePml);
    if (env("OMPI_MCA_btl") == nullptr) choice.set.emplace_back("OMPI_MCA_btl", kSingleNodeBtl);
    choice.why += std::string(": one node, pml ") + kSingleNodePml + " (set OMPI_MCA_pml to choose another)";
    return choice;
#endif
}

std::string applyTransportChoice() {
    const TransportChoice choice = chooseTransport([](const char* name) { return std::getenv(name); });
    for (const auto& [name, value] : choice.set) ::setenv(name.c_str(), value.c_str(), 0);
    return choice.why;
}

}  // namespace hlstm::mpi
