/// Spatial statistics of one variable over planar points (serial, O(n log n)): k-nearest-neighbour
/// weights, global Moran's I, Getis-Ord Gi*, the geodetector q (factor detector) and the
/// Clark-Evans nearest-neighbour index. Coordinates in projected metres; values in their own unit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hlstm::spatial {

/// The k nearest neighbours of every point (the point itself excluded), row i at
/// index[i * k .. i * k + k), nearest first; ties broken by the lower point index, so the graph
/// does not depend on how the tree was built. A kd-tree: O(n log n) to build and to query.
struct Neighbours {
    std::size_t k = 0;
    std::vector<std::uint32_t> index;
    std::vector<double> distance;  ///< metres, parallel to index
    [[nodiscard]] std::size_t size() const noexcept { return k == 0 ? 0 : index.size() / k; }
};
/// Throws InputError when there are not more than k points or more than 2^32 - 1.
Neighbours nearestNeighbours(const std::vector<double>& x, const std::vector<double>& y, std::size_t k);

/// Global Moran's I with row-standardised kNN weights, its expectation and variance under
/// randomisation and the one-sided (greater) normal p-value, as spdep's
/// moran.test(randomisation = TRUE).
struct Moran {
    std::size_t n = 0;
    double I = 0, expected = 0, variance = 0, z = 0, p = 0;
};
Moran moranI(const std::vector<double>& values, const Neighbours& nb);

/// Getis-Ord Gi* z-value per point with binary weights over the kNN neighbourhood plus the point
/// itself, as spdep's localG on include.self(nb) with style "B".
std::vector<double> giStar(const std::vector<double>& values, const Neighbours& nb);

/// Hot (+1), cold (-1) and not significant (0) points of Gi* z-values: two-sided at `alpha`
/// (|z| > 1.96 for 0.05), or with the Benjamini-Hochberg false discovery rate `alpha` over all points.
enum class Multiple { kNone, kFdr };
std::vector<std::int8_t> hotColdClasses(const std::vector<double>& z, double alpha, Multiple multiple);

/// Agreement of two class maps of equal length: the share of equal classes and Cohen's kappa.
struct Agreement {
    double share = 0, kappa = 0;
};
Agreement classAgreement(const std::vector<std::int8_t>& a, const std::vector<std::int8_t>& b);

/// Geodetector factor detector (Wang, Zhang & Fu 2016): q = 1 - SSW / SST of `values` over the
/// strata, F = (N - L) q / ((L - 1)(1 - q)) and p = P(F' > F) for F' noncentral F(L - 1, N - L)
/// with noncentrality (sum of squared stratum means - (sum sqrt(N_h) mean_h)^2 / N) / s^2, as
/// the geodetector R package computes it. NaN q and p with fewer than two strata.
struct Geodetector {
    std::size_t n = 0, strata = 0;
    double q = 0, p = 0;
};
Geodetector factorDetector(const std::vector<double>& values, const std::vector<std::int64_t>& stratum);

/// Convex hull (Andrew's monotone chain) area (m^2) and perimeter (m).
struct Hull {
    double area = 0, perimeter = 0;
};
Hull convexHull(const std::vector<double>& x, const std::vector<double>& y);

/// Clark-Evans nearest-neighbour index over the convex hull's area A: R = mean nearest distance /
/// expected; z and two-sided p. Donnelly's edge correction (expected 0.5 sqrt(A/n) + (0.0514 +
/// 0.041 / sqrt(n)) P / n, variance 0.0703 A / n^2 + 0.037 P sqrt(A / n^5), P the hull's
/// perimeter) in R, z, p; without it (ArcGIS' Average Nearest Neighbor, the paper's tool:
/// expected 0.5 sqrt(A/n), standard error 0.26136 / sqrt(n^2 / A)) in rPlain, zPlain, pPlain.
struct Nni {
    std::size_t n = 0;
    double meanDistance = 0, area = 0, perimeter = 0;
    double R = 0, z = 0, p = 0;
    double rPlain = 0, zPlain = 0, pPlain = 0;
};
Nni clarkEvans(const std::vector<double>& x, const std::vector<double>& y, const Neighbours& nb);

}  // namespace hlstm::spatial
