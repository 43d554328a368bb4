#include "hlstm/partition/kdp.hpp"

#include <CGAL/Delaunay_triangulation_2.h>
#include <CGAL/Exact_predicates_inexact_constructions_kernel.h>
#include <CGAL/Triangulation_vertex_base_with_info_2.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "hlstm/core/error.hpp"
#include "hlstm/core/memory.hpp"

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

// Index of (x, y) (each in [0, 2^16)) along the Hilbert curve of order 16.
std::uint32_t hilbertIndex(std::uint32_t x, std::uint32_t y) {
    constexpr std::uint32_t kSide = 1u << 16;
    std::uint32_t d = 0;
    for (std::uint32_t s = kSide / 2; s > 0; s /= 2) {
        const std::uint32_t rx = (x & s) ? 1 : 0, ry = (y & s) ? 1 : 0;
        d += s * s * ((3 * rx) ^ ry);
        if (ry == 0) {  // rotate the quadrant
            if (rx == 1) {
                x = kSide - 1 - x;
                y = kSide - 1 - y;
            }
            std::swap(x, y);
        }
    }
    return d;
}

// Point indices in Hilbert-curve order of their coordinates on a 2^16 x 2^16 grid over the
// bounding box (LSD radix sort, stable: ties keep index order). Consecutive insertions are
// then close, so each walk from the last vertex is short.
std::vector<std::uint32_t> hilbertOrder(const std::vector<double>& x, const std::vector<double>& y) {
    const std::size_t n = x.size();
    if (n == 0) return {};
    const auto [xmin, xmax] = std::minmax_element(x.begin(), x.end());
    const auto [ymin, ymax] = std::minmax_element(y.begin(), y.end());
    constexpr std::uint32_t kLast = 65535;
    const double sx = *xmax > *xmin ? kLast / (*xmax - *xmin) : 0.0;
    const double sy = *ymax > *ymin ? kLast / (*ymax - *ymin) : 0.0;
    std::vector<std::uint64_t> items(n), buffer(n);  // key << 32 | index
    for (std::size_t i = 0; i < n; ++i) {
        const auto cx = std::min(static_cast<std::uint32_t>((x[i] - *xmin) * sx), kLast);
        const auto cy = std::min(static_cast<std::uint32_t>((y[i] - *ymin) * sy), kLast);
        items[i] = static_cast<std::uint64_t>(hilbertIndex(cx, cy)) << 32 | i;
    }
    for (int shift = 32; shift < 64; shift += 8) {
        std::size_t count[257] = {};
        for (std::uint64_t v : items) ++count[((v >> shift) & 0xFF) + 1];
        for (int b = 0; b < 256; ++b) count[b + 1] += count[b];
        for (std::uint64_t v : items) buffer[count[(v >> shift) & 0xFF]++] = v;
        items.swap(buffer);
    }
    std::vector<std::uint32_t> order(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint32_t>(items[i]);
    return order;
}

}  // namespace

DelaunayGraph delaunayGraph(const std::vector<double>& x, const std::vector<double>& y) {
    const std::size_t n = x.size();
    if (y.size() != n) throw RuntimeError("delaunayGraph: x and y differ in length");
    if (n >= std::numeric_limits<std::uint32_t>::max()) throw RuntimeError("delaunayGraph: more than 2^32 - 1 points");
    DelaunayGraph g;
    g.vertexOf.resize(n);
    Delaunay dt;
    {
        const std::vector<std::uint32_t> order = hilbertOrder(x, y);
        Delaunay::Face_handle hint;
        for (std::uint32_t i : order) {
            const auto before = dt.number_of_vertices();
            Delaunay::Vertex_handle v = dt.insert(Point(x[i], y[i]), hint);
            if (dt.number_of_vertices() == before) {  // same coordinates as an earlier point
                g.vertexPoint[v->info()] = std::min(g.vertexPoint[v->info()], i);
                ++g.duplicates;
            } else {
                v->info() = static_cast<std::uint32_t>(g.vertexPoint.size());
                g.vertexPoint.push_back(i);
            }
            g.vertexOf[i] = v->info();
            hint = v->face();
        }
    }
    logMemory("delaunay: triangulated");
    g.edges.reserve(3 * dt.number_of_vertices());
    for (auto e = dt.finite_edges_begin(); e != dt.finite_edges_end(); ++e) {
        const auto f = e->first;
        const int i = e->second;
        const std::uint32_t a = f->vertex(Delaunay::cw(i))->info(), b = f->vertex(Delaunay::ccw(i))->info();
        g.edges.emplace_back(std::min(a, b), std::max(a, b));
    }
    // One canonical order: CGAL's edge iteration follows where its faces sit in memory, which
    // varied between runs of the same input (seen: the edge-length mean differed in the last
    // bits in 2 of 5 runs of a 1M-point scene), and every statistic and cut below follows it.
    std::sort(g.edges.begin(), g.edges.end());
    logMemory("delaunay: edges listed");
    return g;
}

KdpResult kdpSubregions(const DelaunayGraph& g, const std::vector<double>& x, const std::vector<double>& y,
                        const std::vector<std::int32_t>& zone, const KdpOptions& options) {
    const std::size_t n = x.size(), nv = g.vertexPoint.size();
    if (y.size() != n || zone.size() != n || g.vertexOf.size() != n)
        throw RuntimeError("kdpSubregions: coordinates, zones and graph differ in length");
    if (!(options.alpha >= 0.0)) throw ConfigError("partition.alpha must be >= 0");
    KdpResult r;
    r.nEdges = g.edges.size();

    // Vertex coordinates and zones in vertex (Hilbert) order: edges touch nearby memory.
    std::vector<double> vx(nv), vy(nv);
    std::vector<std::int32_t> vzone(nv);
    for (std::size_t v = 0; v < nv; ++v) {
        vx[v] = x[g.vertexPoint[v]];
        vy[v] = y[g.vertexPoint[v]];
        vzone[v] = zone[g.vertexPoint[v]];
    }
    auto length = [&](const std::pair<std::uint32_t, std::uint32_t>& e) {
        const double dx = vx[e.first] - vx[e.second], dy = vy[e.first] - vy[e.second];
        return std::sqrt(dx * dx + dy * dy);
    };

    // Edge-length statistics over all edges (two passes for a stable population std).
    if (r.nEdges > 0) {
        double sum = 0.0;
        for (const auto& e : g.edges) sum += length(e);
        r.edgeMean = sum / static_cast<double>(r.nEdges);
        double ss = 0.0;
        for (const auto& e : g.edges) {
            const double d = length(e) - r.edgeMean;
            ss += d * d;
        }
        r.edgeStd = std::sqrt(ss / static_cast<double>(r.nEdges));
    }
    r.edgeThreshold = r.edgeMean + options.alpha * r.edgeStd;

    // Keep edges that are short enough and stay inside one zone; components by union-find.
    DisjointSets sets(nv);
    for (const auto& e : g.edges) {
        const bool tooLong = length(e) > r.edgeThreshold;
        r.nCutLong += tooLong ? 1 : 0;
        if (tooLong || vzone[e.first] != vzone[e.second]) {
            ++r.nCutEdges;
            continue;
        }
        sets.unite(e.first, e.second);
    }

    // Component of every vertex, its size in points (duplicates included) and its lowest
    // point index (vertices are visited through their lowest points in index order).
    constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
    std::vector<std::uint32_t> componentOfRoot(nv, kNone), component(nv);
    for (std::size_t v = 0; v < nv; ++v) component[v] = sets.find(static_cast<std::uint32_t>(v));
    std::vector<std::uint64_t> sizes;
    std::vector<std::uint32_t> lowestIndex;
    // A duplicate of another zone than its location's first point: it cannot join that point's
    // subregion (a subregion is one velocity zone), so it goes to the noise subregion.
    auto foreign = [&](std::size_t i) { return zone[i] != vzone[g.vertexOf[i]]; };
    for (std::size_t i = 0; i < n; ++i) {
        if (foreign(i)) {
            ++r.nForeignDuplicates;
            continue;
        }
        const std::uint32_t root = component[g.vertexOf[i]];
        if (componentOfRoot[root] == kNone) {
            componentOfRoot[root] = static_cast<std::uint32_t>(sizes.size());
            sizes.push_back(0);
            lowestIndex.push_back(static_cast<std::uint32_t>(i));
        }
        ++sizes[componentOfRoot[root]];
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
        r.subregion[i] = foreign(i) ? nBig : idOf[componentOfRoot[component[g.vertexOf[i]]]];
        if (r.subregion[i] == nBig) ++r.nNoise;
    }
    r.noiseId = r.nNoise > 0 ? nBig : -1;
    r.nSubregions = nBig + (r.nNoise > 0 ? 1 : 0);
    return r;
}

}  // namespace hlstm::partition
