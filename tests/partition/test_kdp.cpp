// KDP subregions: Delaunay edge counts, long-edge and cross-zone cuts, numbering, noise,
// duplicates, collinear and tiny inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "hlstm/partition/kdp.hpp"

using namespace hlstm::partition;

namespace {

struct Points {
    std::vector<double> x, y;
    std::vector<std::int32_t> zone;
    void add(double px, double py, std::int32_t z = 0) {
        x.push_back(px);
        y.push_back(py);
        zone.push_back(z);
    }
    void grid(int nx, int ny, double x0, double y0, std::int32_t z = 0) {
        for (int j = 0; j < ny; ++j)
            for (int i = 0; i < nx; ++i) add(x0 + i, y0 + j, z);
    }
    KdpResult kdp(double alpha, std::uint64_t minPoints) const {
        return kdpSubregions(delaunayGraph(x, y), x, y, zone, {alpha, minPoints});
    }
};

}  // namespace

TEST(Kdp, GridHasTheDelaunayEdgeCount) {
    Points p;
    p.grid(10, 10, 0, 0);
    const DelaunayGraph g = delaunayGraph(p.x, p.y);
    // 90 horizontal + 90 vertical + 81 diagonals = 3n - 3 - (36 hull vertices)
    EXPECT_EQ(g.edges.size(), 261u);
    EXPECT_EQ(g.duplicates, 0u);
    const KdpResult r = p.kdp(3.0, 1);
    EXPECT_EQ(r.nSubregions, 1);
    EXPECT_EQ(r.nCutEdges, 0u);
    EXPECT_NEAR(r.edgeMean, (180.0 + 81.0 * std::sqrt(2.0)) / 261.0, 1e-12);
}

TEST(Kdp, SeparatedBlobsSplitAndAreNumberedBySize) {
    Points p;
    p.grid(10, 10, 0, 0);    // 100 points, indices 0..99
    p.grid(12, 10, 500, 0);  // 120 points, far away
    p.grid(10, 10, 0, 500);  // 100 points
    const KdpResult r = p.kdp(3.0, 50);
    ASSERT_EQ(r.nSubregions, 3);
    EXPECT_EQ(r.noiseId, -1);
    // biggest first; equal sizes by lowest point index
    for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(r.subregion[i], 1);
    for (std::size_t i = 100; i < 220; ++i) EXPECT_EQ(r.subregion[i], 0);
    for (std::size_t i = 220; i < 320; ++i) EXPECT_EQ(r.subregion[i], 2);
    EXPECT_GT(r.nCutLong, 0u);
    EXPECT_EQ(r.nCutEdges, r.nCutLong);
}

TEST(Kdp, ZoneBoundariesAreCut) {
    Points p;
    for (int j = 0; j < 10; ++j)
        for (int i = 0; i < 20; ++i) p.add(i, j, i < 7 ? 0 : 1);  // 70 | 130 points
    const KdpResult r = p.kdp(3.0, 1);
    ASSERT_EQ(r.nSubregions, 2);
    for (std::size_t i = 0; i < p.x.size(); ++i) EXPECT_EQ(r.subregion[i], p.x[i] < 7 ? 1 : 0) << i;
    // 10 horizontal + 9 diagonal edges cross the zone line (no edge is long in a grid)
    EXPECT_EQ(r.nCutLong, 0u);
    EXPECT_EQ(r.nCutEdges, 19u);
}

TEST(Kdp, TinyClustersJoinTheNoiseSubregionWithTheLastId) {
    Points p;
    p.grid(10, 10, 0, 0, 0);
    p.add(4.5, 4.5, 1);   // a 1-point cluster inside the blob
    p.add(20.0, 3.0, 2);  // a 2-point cluster beside it
    p.add(21.0, 3.0, 2);
    const KdpResult r = p.kdp(3.0, 10);
    ASSERT_EQ(r.nSubregions, 2);
    EXPECT_EQ(r.noiseId, 1);
    EXPECT_EQ(r.nNoise, 3u);
    EXPECT_EQ(r.nComponents, 3u);
    for (std::size_t i = 0; i < 100; ++i) EXPECT_EQ(r.subregion[i], 0);  // the blob stays whole
    EXPECT_EQ(r.subregion[100], 1);
    EXPECT_EQ(r.subregion[101], 1);
    EXPECT_EQ(r.subregion[102], 1);
    // with min_points 1 every component is a subregion, singles last among equals
    const KdpResult all = p.kdp(3.0, 1);
    EXPECT_EQ(all.nSubregions, 3);
    EXPECT_EQ(all.noiseId, -1);
    EXPECT_EQ(all.subregion[101], 1);
    EXPECT_EQ(all.subregion[100], 2);
}

TEST(Kdp, DuplicatesFollowTheirTwinWithoutSpuriousComponents) {
    Points p;
    p.grid(8, 8, 0, 0, 0);    // 0..63
    p.grid(8, 8, 100, 0, 1);  // 64..127
    const std::size_t base = p.x.size();
    for (std::size_t i = 0; i < base; i += 3) p.add(p.x[i], p.y[i], p.zone[i]);  // duplicates
    p.add(p.x[5], p.y[5], 1);  // a twin in the other zone: the noise subregion
    p.add(p.x[5], p.y[5], 0);  // a triplicate
    const DelaunayGraph g = delaunayGraph(p.x, p.y);
    EXPECT_EQ(g.duplicates, p.x.size() - base);
    for (std::size_t i = base; i < p.x.size(); ++i) {
        EXPECT_LT(g.representative(i), base);
        EXPECT_EQ(p.x[g.representative(i)], p.x[i]);
        EXPECT_EQ(p.y[g.representative(i)], p.y[i]);
    }
    EXPECT_EQ(g.representative(p.x.size() - 1), 5u);  // the lowest index of the three
    const KdpResult r = kdpSubregions(g, p.x, p.y, p.zone, {3.0, 1});
    // A subregion is one velocity zone: the other-zone twin cannot follow its location.
    ASSERT_EQ(r.nSubregions, 3);
    EXPECT_EQ(r.nComponents, 2u);
    EXPECT_EQ(r.noiseId, 2);
    EXPECT_EQ(r.nNoise, 1u);
    EXPECT_EQ(r.nForeignDuplicates, 1u);
    for (std::size_t i = 0; i < p.x.size(); ++i)
        if (i != p.x.size() - 2) EXPECT_EQ(r.subregion[i], r.subregion[g.representative(i)]) << i;
    EXPECT_EQ(r.subregion[p.x.size() - 2], r.noiseId);
    EXPECT_EQ(r.subregion[p.x.size() - 1], r.subregion[5]);
    // same edges as without the duplicates
    Points unique;
    for (std::size_t i = 0; i < base; ++i) unique.add(p.x[i], p.y[i], p.zone[i]);
    EXPECT_EQ(g.edges.size(), delaunayGraph(unique.x, unique.y).edges.size());
}

TEST(Kdp, CollinearPointsFormAPathCutAtTheGap) {
    Points p;
    for (int i = 0; i < 10; ++i) p.add(2.0 * i, 1.0 * i);                  // 0..9 on a line
    for (int i = 0; i < 10; ++i) p.add(2.0 * (i + 100), 1.0 * (i + 100));  // far along it
    const DelaunayGraph g = delaunayGraph(p.x, p.y);
    EXPECT_EQ(g.edges.size(), 19u);
    const KdpResult r = p.kdp(3.0, 1);
    EXPECT_EQ(r.nCutLong, 1u);
    ASSERT_EQ(r.nSubregions, 2);
    for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(r.subregion[i], 0);
    for (std::size_t i = 10; i < 20; ++i) EXPECT_EQ(r.subregion[i], 1);
    // all collinear duplicates of one point: one component
    Points same;
    for (int i = 0; i < 5; ++i) same.add(1.0, 1.0);
    const KdpResult s = same.kdp(3.0, 1);
    EXPECT_EQ(s.nSubregions, 1);
    EXPECT_EQ(s.nEdges, 0u);
}

TEST(Kdp, ZeroOneAndTwoPoints) {
    Points none;
    const KdpResult r0 = none.kdp(3.0, 1000);
    EXPECT_EQ(r0.nSubregions, 0);
    EXPECT_EQ(r0.nEdges, 0u);
    EXPECT_TRUE(r0.subregion.empty());

    Points one;
    one.add(3.0, 4.0);
    const KdpResult r1 = one.kdp(3.0, 1000);
    EXPECT_EQ(r1.nSubregions, 1);  // the noise subregion
    EXPECT_EQ(r1.noiseId, 0);
    EXPECT_EQ(r1.nNoise, 1u);
    EXPECT_EQ(one.kdp(3.0, 1).noiseId, -1);

    Points two;
    two.add(0.0, 0.0);
    two.add(3.0, 4.0);
    const KdpResult r2 = two.kdp(3.0, 1);
    EXPECT_EQ(r2.nEdges, 1u);
    EXPECT_DOUBLE_EQ(r2.edgeMean, 5.0);
    EXPECT_DOUBLE_EQ(r2.edgeStd, 0.0);
    EXPECT_EQ(r2.nSubregions, 1);  // the only edge equals the threshold: kept
    two.zone[1] = 1;
    EXPECT_EQ(two.kdp(3.0, 1).nSubregions, 2);
}
