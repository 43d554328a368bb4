/// `hlstm spatial`: the paper's spatial evidence (Tables II and V) of an hlstm run output -
/// Moran's I, Getis-Ord Gi*, geodetector q and the Clark-Evans index of the velocity, the
/// held-out observations, their forecast and the residual - written to one hlstm-spatial file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/spatial/statistics.hpp"

namespace hlstm::spatial {

/// The spatial.* keys.
struct SpatialOptions {
    std::size_t k = 8;     ///< spatial.k: neighbours of the Moran and Gi* weights
    double cell = 1000;    ///< spatial.cell: side of the geodetector's grid strata (metres)
    double alpha = 0.05;   ///< spatial.alpha: significance of hot/cold spots and of q
    bool enabled = false;  ///< spatial.enabled: `hlstm run` writes OUT's spatial file at its end
    /// Parses and validates the keys; ConfigError naming the key.
    static SpatialOptions fromConfig(const Config& config);
};

/// Variables analysed, in /moran/variable order.
inline const std::vector<std::string>& variableNames() {
    static const std::vector<std::string> kNames{"velocity", "holdout_observed", "holdout_predicted", "residual"};
    return kNames;
}

/// Everything but the per-point Gi* values: small, identical on every rank after analyse().
struct SpatialSummary {
    std::uint64_t points = 0;  ///< rows of the output's /points
    int holdoutSteps = 0;      ///< Y summed into holdout_observed / holdout_predicted
    std::vector<std::string> moranVariable;
    std::vector<double> moranI, moranExpected, moranVariance, moranZ, moranP;
    std::vector<std::int64_t> moranN;
    std::vector<std::int64_t> hot, cold, hotFdr, coldFdr;  ///< per moranVariable
    double agreementShare = 0, agreementKappa = 0, agreementShareFdr = 0, agreementKappaFdr = 0;
    std::vector<std::string> gdVariable, gdStrata;
    std::vector<std::int32_t> gdSubregion;  ///< -1: the whole scene; else q inside that subregion
    std::vector<std::int64_t> gdN, gdNStrata;
    std::vector<double> gdQ, gdP;
    Nni nni;

    template <class Archive> void serialize(Archive& ar, unsigned /*version*/);
};

/// The summary and, on root, each variable's Gi* z per /points row (NaN where not finite).
struct SpatialResult {
    SpatialSummary summary;
    std::vector<std::vector<double>> giStar;  ///< root only; per moranVariable
};

/// Reads the run output `input` on root, computes every statistic there and broadcasts the
/// summary (collective). InputError naming the file when it is not a complete hlstm-output
/// file or lacks /points/x, /points/y or /points/velocity.
SpatialResult analyse(const Comm& comm, const std::string& input, const SpatialOptions& options);

/// The default spatial file of a run output: OUT.h5 -> OUT.spatial.h5.
std::string defaultSpatialPath(const std::string& runOutput);

/// `hlstm spatial INPUT -o OUTPUT`: checks OUTPUT (never INPUT, nor a missing directory), analyses,
/// writes OUTPUT (hlstm-spatial) atomically and logs Tables II and V (collective).
void runSpatial(const Comm& comm, const std::string& input, const std::string& output, const SpatialOptions& options);

}  // namespace hlstm::spatial
