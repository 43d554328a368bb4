#include "hlstm/partition/kdp.hpp"

#include <CGAL/Delaunay_triangulation_2.h>
#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Spatial_sort_traits_adapter_2.h>
#include <CGAL/Triangulation_vertex_base_with_info_2.h>
#include <CGAL/property_map.h>
#include <CGAL/spatial_sort.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "hlstm/core/error.hpp"

namespace hlstm::partition {
namespace {

using Kernel = CGAL::Exact_predicates_inexact_constructions_kernel;
using VertexBase = CGAL::Triangulation_vertex_base_with_info_2<std::uint32_t, Kernel>;
using Tds = CGAL::Triangulation_data_structure_2<VertexBase>;
using Delaunay = CGAL::Delaunay_triangulation_2<Kernel, Tds>;
using Point = Kernel::Point_2;

// Union-find with path halving and union by size.
class DisjointSets {
public:
    explicit DisjointSets(std::size_t n) : parent_(n), size_(n, 1) { std::iota(parent_.begin(), parent_.end(), 0u); }
    std::uint32_t find(std::uint32_t a) {
        while (parent_[a] != a) {
            parent_[a] = parent_[parent_[a]];
            a = parent_[a];
        }
        return a;
    }
    void unite(std::uint32_t a, std::uint32_t b) {
        a = find(a);
        b = find(b);
        if (a == b) return;
        if (size_[a] < size_[b]) std::swap(a, b);
        parent_[b] = a;
        size_[a] += size_[b];
    }

private:
    std::vector<std::uint32_t> parent_, size_;
};

double edgeLength(const std::vector<double>& x, const std::vector<double>& y, std::uint32_t a, std::uint32_t b) {
    const double dx = x[a] - x[b], dy = y[a] - y[b];
    return std::sqrt(dx * dx + dy * dy);
}

}  // namespace

DelaunayGraph delaunayGraph(const std::vector<double>& x, const std::vector<double>& y) {
    const std::size_t n = x.size();
    if (y.size() != n) throw RuntimeError("delaunayGraph: x and y differ in length");
    if (n >= std::numeric_limits<std::uint32_t>::max())
        throw RuntimeError("delaunayGraph: more than 2^32 - 1 points");
    DelaunayGraph g;
    g.representative.resize(n);
    std::iota(g.representative.begin(), g.representative.end(), 0u);
    {
        std::vector<Point> points;
        points.reserve(n);
        for (std::size_t i = 0; i < n; ++i) points.emplace_back(x[i], y[i]);
        // Hilbert (BRIO) order so each insertion starts its walk next to the last vertex.
        std::vector<std::size_t> order(n);
        std::iota(order.begin(), order.end(), std::size_t{0});
        using Traits = CGAL::Spatial_sort_traits_adapter_2<Kernel, CGAL::Pointer_property_map<Point>::type>;
        CGAL::spatial_sort(order.begin(), order.end(), Traits(CGAL::make_property_map(points)));

        Delaunay dt;
        Delaunay::Face_handle hint;
        for (std::size_t i : order) {
            const auto before = dt.number_of_vertices();
            Delaunay::Vertex_handle v = dt.insert(points[i], hint);
            if (dt.number_of_vertices() == before) {
                g.representative[i] = v->info();  // same coordinates as an earlier point
                ++g.duplicates;
            } else {
                v->info() = static_cast<std::uint32_t>(i);
            }
            hint = v->face();
        }
        std::vector<std::size_t>().swap(order);
        std::vector<Point>().swap(points);
        g.edges.reserve(dt.number_of_vertices() > 0 ? 3 * dt.number_of_vertices() : 0);
        for (auto e = dt.finite_edges_begin(); e != dt.finite_edges_end(); ++e) {
            const auto f = e->first;
            const int i = e->second;
            g.edges.emplace_back(f->vertex(Delaunay::cw(i))->info(), f->vertex(Delaunay::ccw(i))->info());
        }
    }
    if (g.duplicates > 0) {
        // The vertex carries the first inserted twin; the representative is the lowest index.
        std::vector<std::uint32_t> lowest(n);
        std::iota(lowest.begin(), lowest.end(), 0u);
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t first = g.representative[i];
            lowest[first] = std::min(lowest[first], static_cast<std::uint32_t>(i));
        }
        for (auto& r : g.representative) r = lowest[r];
        for (auto& [a, b] : g.edges) {
            a = lowest[a];
            b = lowest[b];
        }
    }
    return g;
}

KdpResult kdpSubregions(const DelaunayGraph& g, const std::vector<double>& x, const std::vector<double>& y,
                        const std::vector<std::int32_t>& zone, const KdpOptions& options) {
    const std::size_t n = x.size();
    if (y.size() != n || zone.size() != n || g.representative.size() != n)
        throw RuntimeError("kdpSubregions: coordinates, zones and graph differ in length");
    if (!(options.alpha >= 0.0)) throw ConfigError("partition.alpha must be >= 0");
    KdpResult r;
    r.nEdges = g.edges.size();

    // Edge-length statistics over all edges (two passes for a stable std).
    if (r.nEdges > 0) {
        double sum = 0.0;
        for (const auto& [a, b] : g.edges) sum += edgeLength(x, y, a, b);
        r.edgeMean = sum / static_cast<double>(r.nEdges);
        double ss = 0.0;
        for (const auto& [a, b] : g.edges) {
            const double d = edgeLength(x, y, a, b) - r.edgeMean;
            ss += d * d;
        }
        r.edgeStd = std::sqrt(ss / static_cast<double>(r.nEdges));
    }
    r.edgeThreshold = r.edgeMean + options.alpha * r.edgeStd;

    // Keep edges that are short enough and stay inside one zone; components by union-find.
    DisjointSets sets(n);
    for (const auto& [a, b] : g.edges) {
        const bool tooLong = edgeLength(x, y, a, b) > r.edgeThreshold;
        r.nCutLong += tooLong ? 1 : 0;
        if (tooLong || zone[a] != zone[b]) {
            ++r.nCutEdges;
            continue;
        }
        sets.unite(a, b);
    }

    // Component of every point (duplicates through their representative), its size and the
    // lowest point index in it (points are visited in index order).
    constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::uint32_t> component(n), componentOfRoot(n, kNone);
    std::vector<std::uint64_t> sizes;
    std::vector<std::uint32_t> lowestIndex;
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t root = sets.find(g.representative[i]);
        if (componentOfRoot[root] == kNone) {
            componentOfRoot[root] = static_cast<std::uint32_t>(sizes.size());
            sizes.push_back(0);
            lowestIndex.push_back(static_cast<std::uint32_t>(i));
        }
        component[i] = componentOfRoot[root];
        ++sizes[component[i]];
    }
    r.nComponents = sizes.size();

    // Deterministic ids: large components by size descending, then lowest point index.
    std::vector<std::uint32_t> big;
    for (std::uint32_t c = 0; c < sizes.size(); ++c)
        if (sizes[c] >= options.minPoints) big.push_back(c);
    std::sort(big.begin(), big.end(), [&](std::uint32_t a, std::uint32_t b) {
        return sizes[a] != sizes[b] ? sizes[a] > sizes[b] : lowestIndex[a] < lowestIndex[b];
    });
    const auto nBig = static_cast<std::int32_t>(big.size());
    std::vector<std::int32_t> idOf(sizes.size(), nBig);  // small components: the noise id
    for (std::int32_t s = 0; s < nBig; ++s) idOf[big[static_cast<std::size_t>(s)]] = s;
    r.subregion.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
        r.subregion[i] = idOf[component[i]];
        if (r.subregion[i] == nBig) ++r.nNoise;
    }
    r.noiseId = r.nNoise > 0 ? nBig : -1;
    r.nSubregions = nBig + (r.nNoise > 0 ? 1 : 0);
    return r;
}

}  // namespace hlstm::partition
