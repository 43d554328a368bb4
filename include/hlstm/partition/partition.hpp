/// The partition step of hlstm (paper II-A, KDP): velocity per
/// point, exact 1-D K-means with the Davies-Bouldin choice of k, Delaunay subregions.
#pragma once

#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "hlstm/config/config.hpp"
#include "hlstm/core/comm.hpp"
#include "hlstm/data/point_set.hpp"

namespace hlstm::partition {

/// Which Davies-Bouldin curve chooses k.
enum class DbDistance {
    kVelocity,  ///< Euclidean distance of mean velocities (paper Fig. 6(a))
    kPearson,   ///< 1 - Pearson r of differential series (paper Fig. 6(b))
};

/// Settings of the partition (config section [partition]).
struct PartitionConfig {
    int kMin = 2;   ///< smallest k tried
    int kMax = 10;  ///< largest k tried
    DbDistance dbDistance = DbDistance::kVelocity;
    double alpha = 3.0;              ///< edges longer than mean + alpha * std are cut
    std::uint64_t minPoints = 1000;  ///< smaller components join the noise subregion
    /// Only the first `epochs` epochs are used (honest-forecast holdout hides the rest);
    /// 0 = all epochs.
    std::size_t epochs = 0;

    /// Reads partition.k_min, k_max, db_distance, alpha, min_points; ConfigError on bad
    /// values. `epochs` stays 0 (the caller applies the holdout).
    static PartitionConfig fromConfig(const Config& config);
};

/// One subregion: its points, K-means zone and mean velocity.
struct SubregionInfo {
    std::int32_t id = 0;
    std::int32_t zone = -1;  ///< K-means zone; -1 for the noise subregion
    std::uint64_t nPoints = 0;
    double meanVelocity = 0.0;   ///< mm/yr
    std::uint64_t firstRow = 0;  ///< lowest global row in it
    bool noise = false;

    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) {
        ar& id& zone& nPoints& meanVelocity& firstRow& noise;
    }
};

/// The outcome of a partition that every rank holds identically.
struct PartitionSummary {
    std::uint64_t nPoints = 0;          ///< over all ranks
    std::vector<std::int32_t> kValues;  ///< k_min..k_max
    std::vector<double> dbVelocity;     ///< DB index per k (Euclidean velocity), NaN if infeasible
    std::vector<double> dbPearson;      ///< DB index per k (1 - Pearson r), NaN if undefined
    std::int32_t kChosen = 0;           ///< smallest DB of the configured curve (1 if no k is feasible)
    std::vector<double> zoneCenters;    ///< mean velocity of each zone, ascending (mm/yr)
    std::vector<double> zoneStarts;     ///< smallest velocity of each zone (mm/yr)
    std::vector<std::uint64_t> zoneSizes;
    double alpha = 0.0;
    double edgeMean = 0.0, edgeStd = 0.0, edgeThreshold = 0.0;  ///< coordinate units (metres)
    std::uint64_t nEdges = 0, nCutEdges = 0, nCutLong = 0;
    std::uint64_t nComponents = 0, nNoise = 0, nDuplicates = 0;
    std::int32_t noiseId = -1;                            ///< id of the noise subregion (the last), -1 if none
    std::vector<SubregionInfo> subregions;                ///< by id
    std::vector<std::pair<std::string, double>> timings;  ///< phase -> seconds (root's clock)

    template <class Archive> void serialize(Archive& ar, unsigned /*version*/) {
        ar& nPoints& kValues& dbVelocity& dbPearson& kChosen& zoneCenters& zoneStarts& zoneSizes& alpha& edgeMean&
            edgeStd& edgeThreshold& nEdges& nCutEdges& nCutLong& nComponents& nNoise& nDuplicates& noiseId& subregions&
                timings;
    }
};

/// What the partition gives back: the summary, and this rank's rows in its input order.
struct PartitionResult {
    PartitionSummary summary;
    std::vector<double> velocity;    ///< mm/yr
    std::vector<std::int32_t> zone;  ///< K-means cluster, ordered by centre ascending
    std::vector<std::int32_t> subregion;
};

/// Partitions the points held by all ranks (collective). Each rank passes its block (rows in
/// global order, ranks in rank order) and computes its velocities (OLS slope, mm/yr, over the
/// first config.epochs epochs); rank 0 gathers (x, y, velocity), runs the exact K-means for
/// every k in [kMin, kMax] and then the Delaunay triangulation; the DB index with Pearson
/// distance is reduced from per-rank sums, so no rank needs another's series. Subregion ids
/// do not depend on the number of ranks. A point without a finite velocity is an InputError
/// naming its row (on every rank).
PartitionResult run(const Comm& comm, const PointSet& localBlock, const PartitionConfig& config);
/// The same, and rank 0's series wait in the scratch file `spillPath` (none if empty) from its
/// velocities until the triangulation is cut, so that its peak memory is not its block beside
/// the K-means tables and CGAL's triangulation; they are back, the same values, on return.
PartitionResult run(const Comm& comm, PointSet& localBlock, const PartitionConfig& config,
                    const std::string& spillPath);

}  // namespace hlstm::partition
