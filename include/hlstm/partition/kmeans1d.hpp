/// Exact one-dimensional K-means (optimal, deterministic) for every k of a range at once, by
/// dynamic programming over sorted values in the manner of Ckmeans.1d.dp (SMAWK row minima).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hlstm::partition {

/// The distinct values of a sample in ascending order with their multiplicities. Equal
/// values always share a cluster, so the DP runs over distinct values (weighted).
struct SortedSample {
    std::vector<double> values;          ///< distinct, strictly ascending
    std::vector<std::uint64_t> weights;  ///< how often each distinct value occurs
    std::uint64_t total = 0;             ///< sum of weights (sample size)

    /// Sorts and counts `sample` (every value must be finite; checked by the caller).
    static SortedSample from(std::vector<double> sample);
};

/// One clustering of a 1-D sample into k contiguous value ranges, clusters ordered by
/// centre ascending. Cluster c holds the values v with starts[c] <= v < starts[c + 1].
struct Clustering1d {
    int k = 0;
    std::vector<double> starts;              ///< smallest member value of each cluster (ascending)
    std::vector<double> centers;             ///< mean of each cluster
    std::vector<std::uint64_t> sizes;        ///< members of each cluster
    std::vector<std::size_t> firstDistinct;  ///< index in SortedSample::values where each cluster starts
    double sse = 0.0;                        ///< within-cluster sum of squares

    /// Cluster of a value (any finite value; below starts[0] counts as cluster 0).
    [[nodiscard]] int clusterOf(double value) const;
};

/// The clustering of `sample` whose clusters start at the given values (which must be
/// members of the sample, ascending, starts[0] = its minimum). Used to evaluate any
/// contiguous clustering, e.g. one given by a reference.
Clustering1d clusteringFromStarts(const SortedSample& sample, const std::vector<double>& starts);

/// Optimal (least within-cluster sum of squares) clusterings for k = kMin..kMax, element
/// k - kMin of the result. A k larger than the number of distinct values is infeasible and
/// returned with k = 0. One DP to kMax gives every smaller k: O(kMax * n) after sorting,
/// with O(kMax * n) 32-bit back-pointers. Deterministic; ties go to the leftmost split.
std::vector<Clustering1d> kmeans1d(const SortedSample& sample, int kMin, int kMax);

}  // namespace hlstm::partition
