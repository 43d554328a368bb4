/// Davies-Bouldin index (paper eq. 1-2) of velocity clusterings, with the Euclidean distance
/// of velocities or with the Pearson-correlation distance (1 - r) of differential series.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "hlstm/core/comm.hpp"
#include "hlstm/data/point_set.hpp"
#include "hlstm/partition/kmeans1d.hpp"

namespace hlstm::partition {

/// Eq. (1)-(2) as scikit-learn's davies_bouldin_score defines it: S_i = `intra[i]` (mean
/// distance of cluster i's members to its centroid), d_ij = `centroidDistance[i * k + j]`,
/// DB = mean_i max_{j != i} (S_i + S_j) / d_ij. Returns 0 when every S_i or every d_ij is
/// within 1e-8 of 0; a d_ij of exactly 0 makes its ratio 0, as in scikit-learn.
double daviesBouldin(const std::vector<double>& intra, const std::vector<double>& centroidDistance);

/// DB index of a 1-D clustering with the Euclidean (absolute) velocity distance.
double daviesBouldinVelocity(const SortedSample& sample, const Clustering1d& clustering);

/// Per-velocity-bin sums of the points' differential series, from which the DB index with
/// Pearson distance of every clustering whose cluster starts are bin boundaries follows:
/// a cluster's centroid is its members' mean differential series; S_i is the mean of
/// 1 - r(member, centroid) (summed exactly as the dot product of the centroid with the sum of
/// members' unit-normalised centred series); d_ij = 1 - r(centroid_i, centroid_j). A series
/// of zero variance has r = 0. Sums are fixed point (64-bit integers), so the result is
/// bit-identical for any number of ranks.
class PearsonSums {
public:
    PearsonSums() = default;

    /// Accumulates this rank's points (velocity[i] of points' point i; only the first
    /// `epochs` epochs of each series, 0 = all) into bins starting at `boundaries`
    /// (ascending; bin b holds boundaries[b - 1] <= v < boundaries[b]) and sums over all
    /// ranks. Every rank passes the same boundaries (collective).
    static PearsonSums accumulate(const Comm& comm, const PointSet& points, const std::vector<double>& velocity,
                                  std::vector<double> boundaries, std::size_t epochs);
    /// The same from `n` points of `nEpochs` epochs whose series come from `seriesOf(i)`, asked
    /// for in row order (twice): the series need not be in memory (partition.cpp's root).
    using SeriesOf = std::function<const float*(std::size_t i)>;
    static PearsonSums accumulate(const Comm& comm, std::size_t n, std::size_t nEpochs, const SeriesOf& seriesOf,
                                  const std::vector<double>& velocity, std::vector<double> boundaries,
                                  std::size_t epochs);

    /// Which code sums the rows: kNative 8 rows side by side in AVX-512 lanes where the CPU has
    /// it, kPortable one row at a time; the same sums bit for bit. HLSTM_PARTITION_ISA=portable
    /// selects kPortable; a test hook otherwise.
    enum class Isa { kNative, kPortable };
    static Isa isa();
    static void setIsa(Isa isa);

    /// DB index with Pearson distance of a clustering whose starts (except the first) are
    /// all bin boundaries; NaN when undefined (fewer than 2 differentials, or k < 2).
    [[nodiscard]] double dbIndex(const Clustering1d& clustering) const;

    [[nodiscard]] std::size_t bins() const noexcept { return boundaries_.size() + 1; }
    [[nodiscard]] std::size_t differentials() const noexcept { return steps_; }

private:
    std::vector<double> boundaries_;
    std::size_t steps_ = 0;               // differentials per series (epochs - 1)
    double scaleD_ = 1.0, scaleU_ = 1.0;  // fixed-point scales of the two sums
    std::vector<std::int64_t> sums_;      // per bin: count, sumD[steps], sumU[steps]
};

}  // namespace hlstm::partition
