/// KDP subregions (paper II-A): the Delaunay graph of the point coordinates, cut where an edge
/// is abnormally long or joins two K-means zones; connected components are the subregions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace hlstm::partition {

/// Delaunay triangulation (CGAL, exact predicates, insertion in Hilbert-curve order) reduced
/// to its undirected finite edges. Points with identical coordinates are one vertex; vertices
/// are numbered along the Hilbert curve, so neighbours have nearby numbers.
struct DelaunayGraph {
    std::vector<std::uint32_t> vertexOf;                         ///< per point: its vertex
    std::vector<std::uint32_t> vertexPoint;                      ///< per vertex: lowest index of the points at it
    std::vector<std::pair<std::uint32_t, std::uint32_t>> edges;  ///< vertex pairs, each finite edge once
    std::uint64_t duplicates = 0;                                ///< points that share another point's vertex

    /// Lowest index of the points with point i's coordinates (i itself when unique).
    [[nodiscard]] std::uint32_t representative(std::size_t i) const { return vertexPoint[vertexOf[i]]; }
};

/// Triangulates points (x[i], y[i]) (metres, or any planar unit); 0, 1, 2 and collinear points
/// are fine (0, 0, 1 and n - 1 edges). At most 2^32 - 1 points.
DelaunayGraph delaunayGraph(const std::vector<double>& x, const std::vector<double>& y);

/// Cut and component settings.
struct KdpOptions {
    double alpha = 3.0;              ///< edges longer than mean + alpha * std are cut
    std::uint64_t minPoints = 1000;  ///< smaller components join the noise subregion
};

/// Subregions of every point plus the edge statistics of the cut.
struct KdpResult {
    std::vector<std::int32_t> subregion;   ///< per point, 0..nSubregions-1
    std::int32_t nSubregions = 0;          ///< including the noise subregion
    std::int32_t noiseId = -1;             ///< id of the noise subregion (the last id), -1 if none
    std::uint64_t nNoise = 0;              ///< points in the noise subregion
    std::uint64_t nForeignDuplicates = 0;  ///< duplicates of another zone than their vertex's: noise
    std::uint64_t nComponents = 0;         ///< connected components before the noise merge
    std::uint64_t nEdges = 0;              ///< finite Delaunay edges
    std::uint64_t nCutEdges = 0;           ///< edges cut for length or zone
    std::uint64_t nCutLong = 0;            ///< of which longer than the threshold
    double edgeMean = 0.0, edgeStd = 0.0;  ///< of all edge lengths (population std)
    double edgeThreshold = 0.0;            ///< mean + alpha * std
};

/// Cuts the graph's edges longer than mean + alpha * std of all edge lengths or whose ends lie
/// in different zones (a vertex has its representative's zone), takes connected components (union-find),
/// merges components with fewer than minPoints points (duplicates counted) into one noise
/// subregion, and numbers the others by size descending, then lowest point index; the noise
/// subregion, if any, gets the last id. Every duplicate shares its representative's subregion.
KdpResult kdpSubregions(const DelaunayGraph& graph, const std::vector<double>& x, const std::vector<double>& y,
                        const std::vector<std::int32_t>& zone, const KdpOptions& options);

}  // namespace hlstm::partition
