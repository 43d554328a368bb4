/// Open MPI's transport for a job on one node: chosen before MPI_Init from the launcher's
/// environment, so that single-node runs do not pay the network probe (README "MPI start-up").
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace hlstm::mpi {

/// What to set before MPI_Init, and why (one line for the debug log).
struct TransportChoice {
    std::vector<std::pair<std::string, std::string>> set;  ///< environment variables to set
    std::string why;
};

/// Looks an environment variable up: nullptr when it is not set.
using EnvLookup = std::function<const char*(const char*)>;

/// The choice for the environment `env` (pure; Open MPI only). Open MPI's default PML
/// selection probes the cm (libfabric, PSM) and UCX transports at every MPI_Init, 0.2 s
/// here, and then takes ob1 on a node without them anyway. When every rank of the job is
/// on one node - mpirun's OMPI_COMM_WORLD_LOCAL_SIZE equals OMPI_COMM_WORLD_SIZE, an srun
/// step on one node (SLURM_STEP_NUM_NODES = 1), or a process started alone - the choice is
/// OMPI_MCA_pml = ob1 and, unless set, OMPI_MCA_btl = self,vader,tcp. Nothing is set when
/// the user chose a PML (OMPI_MCA_pml set, even empty; `mpirun --mca pml X` sets it too),
/// when the ranks span nodes, or when the launcher does not say where they run.
[[nodiscard]] TransportChoice chooseTransport(const EnvLookup& env);

/// chooseTransport on this process's environment, applied with setenv. Call once, before
/// MPI_Init; returns the choice's reason.
std::string applyTransportChoice();

}  // namespace hlstm::mpi
