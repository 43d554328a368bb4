// The own method's forecast increments pooled over space (run.position_pool, stages.hpp). A
// subregion is spatially connected and homogeneous by construction (the partition), so its
// points' next increments - their trend and season over the next epochs - vary smoothly in
// space, while each point's own estimate of them carries its own noise. Each point's increments
// become a local-linear fit in x, y through the increments of its k nearest points of the same
// subregion, evaluated at the point; its level (the position it starts from) stays its own.
// Every rank holds every row and pools its own rows in its subregions' grid cell order; a row's
// neighbours and arithmetic do not depend on which rank pools it, nor on the rank count.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <map>
#include <vector>

#include "hlstm/core/log.hpp"
#include "hlstm/pipeline/position_choice.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// A subregion's points in the cells of a uniform grid of about k / 4 points a cell, stored in
// cell order (a query reads neighbouring memory); nearest() gives the k nearest points of a point,
// itself included, in order of distance, ties to the smaller original index.
class NearestGrid {
public:
    struct Near {
        double d2;           // squared distance
        std::uint32_t id;    // original index (into the subregion's rows)
        std::uint32_t slot;  // position in cell order
        bool operator<(const Near& o) const { return d2 < o.d2 || (d2 == o.d2 && id < o.id); }
    };

    NearestGrid(const std::vector<float>& x, const std::vector<float>& y, std::size_t k) : k_(k) {
        const std::size_t n = x.size();
        double x0 = x[0], x1 = x[0], y0 = y[0], y1 = y[0];
        for (std::size_t i = 1; i < n; ++i)
            x0 = std::min<double>(x0, x[i]), x1 = std::max<double>(x1, x[i]), y0 = std::min<double>(y0, y[i]),
            y1 = std::max<double>(y1, y[i]);
        x0_ = x0, y0_ = y0;
        // About k / 4 points in each occupied cell (measured at 1,000,000 points: 9.6 s on one
        // core, 15.0 s with k / 2): a subregion may fill a small part of its bounding box (a
        // velocity zone spread over a scene), so the size follows the occupied cells, not the
        // box; at most 4 cells a point.
        const double area = std::max((x1 - x0) * (y1 - y0), 1e-12);
        const double want = std::max(1.0, static_cast<double>(k) / 4.0);
        const double smallest = std::max(std::sqrt(area / (4.0 * static_cast<double>(n))), 1e-9);
        cell_ = std::max(std::sqrt(area / static_cast<double>(n) * want), smallest);
        for (int pass = 0;; ++pass) {
            layout(x, y, x1, y1);
            if (pass == 3) break;
            std::size_t occupied = 0;
            for (std::size_t c = 0; c < nx_ * ny_; ++c) occupied += start_[c + 1] != start_[c] ? 1 : 0;
            const double perCell = static_cast<double>(n) / static_cast<double>(std::max<std::size_t>(occupied, 1));
            const double next = std::max(cell_ * std::sqrt(want / perCell), smallest);
            if (perCell <= 2 * want || next == cell_) break;
            cell_ = next;
        }
        order_.resize(n);
        std::vector<std::size_t> fill(start_.begin(), start_.end() - 1);
        for (std::size_t i = 0; i < n; ++i) order_[fill[cellOf(x[i], y[i])]++] = static_cast<std::uint32_t>(i);
        x_.resize(n), y_.resize(n);
        for (std::size_t m = 0; m < n; ++m) x_[m] = x[order_[m]], y_[m] = y[order_[m]];
    }

    /// The original index of the point at `slot` in cell order.
    std::uint32_t id(std::size_t slot) const { return order_[slot]; }
    std::size_t size() const { return order_.size(); }

    /// The k nearest points of the point at `slot` (cell order), sorted.
    void nearest(std::size_t slot, std::vector<Near>& out) const {
        out.clear();
        const float qx = x_[slot], qy = y_[slot];
        const auto cx = static_cast<long>(column(qx)), cy = static_cast<long>(row(qy));
        const std::size_t want = std::min(k_, x_.size());
        for (long r = 0;; ++r) {
            // The ring of cells at Chebyshev distance r around the point's cell (its perimeter).
            const auto visit = [&](long gx, long gy) {
                if (gx < 0 || gy < 0 || gx >= static_cast<long>(nx_) || gy >= static_cast<long>(ny_)) return;
                const std::size_t c = static_cast<std::size_t>(gy) * nx_ + static_cast<std::size_t>(gx);
                for (std::size_t m = start_[c]; m < start_[c + 1]; ++m) {
                    const double dx = static_cast<double>(x_[m]) - qx, dy = static_cast<double>(y_[m]) - qy;
                    out.push_back({dx * dx + dy * dy, order_[m], static_cast<std::uint32_t>(m)});
                }
            };
            if (r == 0) {
                visit(cx, cy);
            } else {
                for (long gx = cx - r; gx <= cx + r; ++gx) visit(gx, cy - r), visit(gx, cy + r);
                for (long gy = cy - r + 1; gy <= cy + r - 1; ++gy) visit(cx - r, gy), visit(cx + r, gy);
            }
            // Only the `want` nearest seen so far can be among the nearest of a larger set.
            if (out.size() >= want) {
                if (out.size() > want) {
                    std::nth_element(out.begin(), out.begin() + static_cast<long>(want - 1), out.end());
                    out.resize(want);
                }
                // Every point not yet seen lies outside the block of cells within ring r: at
                // least the point's distance to that block's nearest side away.
                const double reach = std::min(std::min(qx - (x0_ + static_cast<double>(cx - r) * cell_),
                                                       x0_ + static_cast<double>(cx + r + 1) * cell_ - qx),
                                              std::min(qy - (y0_ + static_cast<double>(cy - r) * cell_),
                                                       y0_ + static_cast<double>(cy + r + 1) * cell_ - qy));
                const double kth = std::max_element(out.begin(), out.end())->d2;
                if ((reach > 0 && kth <= reach * reach) || r > static_cast<long>(nx_ + ny_)) break;
            } else if (r > static_cast<long>(nx_ + ny_)) {
                break;
            }
        }
        std::sort(out.begin(), out.end());
    }

private:
    // The grid's shape for cell_ and the points' count per cell (start_, prefix sums).
    void layout(const std::vector<float>& x, const std::vector<float>& y, double x1, double y1) {
        nx_ = static_cast<std::size_t>((x1 - x0_) / cell_) + 1;
        ny_ = static_cast<std::size_t>((y1 - y0_) / cell_) + 1;
        start_.assign(nx_ * ny_ + 1, 0);
        for (std::size_t i = 0; i < x.size(); ++i) ++start_[cellOf(x[i], y[i]) + 1];
        for (std::size_t c = 0; c < nx_ * ny_; ++c) start_[c + 1] += start_[c];
    }
    std::size_t column(float v) const {
        return std::min(nx_ - 1, static_cast<std::size_t>(std::max(0.0, (static_cast<double>(v) - x0_) / cell_)));
    }
    std::size_t row(float v) const {
        return std::min(ny_ - 1, static_cast<std::size_t>(std::max(0.0, (static_cast<double>(v) - y0_) / cell_)));
    }
    std::size_t cellOf(float x, float y) const { return row(y) * nx_ + column(x); }

    std::size_t k_;
    double cell_ = 1, x0_ = 0, y0_ = 0;
    std::size_t nx_ = 1, ny_ = 1;
    std::vector<std::size_t> start_;
    std::vector<std::uint32_t> order_;  // original index per slot (cell order)
    std::vector<float> x_, y_;          // per slot
};

// The value at (0, 0) of the least-squares plane v = b0 + b1 dx + b2 dy through the finite
// values; their mean where the plane is not determined (fewer than 3, or collinear); NaN if none.
double planeAtOrigin(const std::vector<std::array<double, 3>>& at, const std::vector<double>& v) {
    double s[3][4] = {};
    std::size_t finite = 0;
    double sum = 0;
    for (std::size_t j = 0; j < v.size(); ++j) {
        if (!std::isfinite(v[j])) continue;
        ++finite;
        sum += v[j];
        for (int a = 0; a < 3; ++a) {
            for (int b = 0; b < 3; ++b)
                s[a][b] += at[j][static_cast<std::size_t>(a)] * at[j][static_cast<std::size_t>(b)];
            s[a][3] += at[j][static_cast<std::size_t>(a)] * v[j];
        }
    }
    if (finite == 0) return std::nan("");
    const double mean = sum / static_cast<double>(finite);
    if (finite < 3) return mean;
    // Gaussian elimination with partial pivoting on the 3 x 3 normal equations.
    for (int c = 0; c < 3; ++c) {
        int p = c;
        for (int r = c + 1; r < 3; ++r)
            if (std::abs(s[r][c]) > std::abs(s[p][c])) p = r;
        if (std::abs(s[p][c]) < 1e-9 * std::max(1.0, std::abs(s[0][0]))) return mean;
        if (p != c)
            for (int k = 0; k < 4; ++k) std::swap(s[p][k], s[c][k]);
        for (int r = c + 1; r < 3; ++r) {
            const double f = s[r][c] / s[c][c];
            for (int k = c; k < 4; ++k) s[r][k] -= f * s[c][k];
        }
    }
    double b[3];
    for (int r = 2; r >= 0; --r) {
        double acc = s[r][3];
        for (int k = r + 1; k < 3; ++k) acc -= s[r][k] * b[k];
        b[r] = acc / s[r][r];
    }
    return b[0];
}

// The pooled values of rows [first, last) (pooledIncrements' rule over all rows' values), as
// (last - first) x columns.
std::vector<float> pooledRows(const std::vector<float>& x, const std::vector<float>& y,
                              const std::vector<std::int32_t>& subregion, const std::vector<float>& cum,
                              std::size_t columns, std::size_t k, std::size_t first, std::size_t last) {
    const std::size_t n = x.size();
    std::vector<float> out(cum.begin() + static_cast<std::ptrdiff_t>(first * columns),
                           cum.begin() + static_cast<std::ptrdiff_t>(last * columns));
    std::map<std::int32_t, std::vector<std::size_t>> members;
    for (std::size_t i = first; i < last; ++i)
        if (subregion[i] >= 0) members[subregion[i]];
    for (std::size_t i = 0; i < n; ++i) {
        if (subregion[i] < 0) continue;
        const auto m = members.find(subregion[i]);
        if (m != members.end()) m->second.push_back(i);
    }
    std::vector<NearestGrid::Near> near;
    std::vector<std::array<double, 3>> at;
    std::vector<double> v;
    std::vector<float> sx, sy, sc;
    for (const auto& [s, rows] : members) {
        if (rows.size() < 3) continue;
        sx.resize(rows.size()), sy.resize(rows.size());
        for (std::size_t i = 0; i < rows.size(); ++i) sx[i] = x[rows[i]], sy[i] = y[rows[i]];
        const NearestGrid grid(sx, sy, k);
        // The subregion's coordinates and increments in the grid's cell order.
        sc.resize(rows.size() * columns);
        for (std::size_t m = 0; m < rows.size(); ++m) {
            const std::size_t row = rows[grid.id(m)];
            sx[m] = x[row], sy[m] = y[row];
            std::copy_n(cum.begin() + static_cast<std::ptrdiff_t>(row * columns), columns,
                        sc.begin() + static_cast<std::ptrdiff_t>(m * columns));
        }
        for (std::size_t q = 0; q < rows.size(); ++q) {
            const std::size_t row = rows[grid.id(q)];
            if (row < first || row >= last) continue;
            grid.nearest(q, near);
            // Offsets scaled by the farthest neighbour's distance (a well-conditioned plane).
            const double scale = std::max(std::sqrt(near.back().d2), 1e-9);
            at.resize(near.size());
            for (std::size_t j = 0; j < near.size(); ++j)
                at[j] = {1.0, (static_cast<double>(sx[near[j].slot]) - sx[q]) / scale,
                         (static_cast<double>(sy[near[j].slot]) - sy[q]) / scale};
            v.resize(near.size());
            for (std::size_t c = 0; c < columns; ++c) {
                if (!std::isfinite(sc[q * columns + c])) continue;  // nothing forecast here
                for (std::size_t j = 0; j < near.size(); ++j) v[j] = sc[near[j].slot * columns + c];
                out[(row - first) * columns + c] = static_cast<float>(planeAtOrigin(at, v));
            }
        }
    }
    return out;
}

}  // namespace

std::vector<float> pooledIncrements(const std::vector<float>& x, const std::vector<float>& y,
                                    const std::vector<std::int32_t>& subregion, const std::vector<float>& cum,
                                    std::size_t columns, std::size_t k) {
    return pooledRows(x, y, subregion, cum, columns, k, 0, x.size());
}

void poolStage(const Comm& comm, std::size_t k, std::size_t horizon, const std::vector<double>& x,
               const std::vector<double>& y, const std::vector<std::int32_t>& subregion,
               const std::map<std::int32_t, std::vector<double>>& ownShare, const std::vector<PooledSet>& sets) {
    if (k == 0) return;
    const double start = log::elapsed();
    const std::size_t n = x.size(), Y = horizon, S = sets.size(), C = S * Y;
    // Each owned row: x, y, subregion, then each set's cumulative increments.
    std::vector<float> xs(n), ys(n), cum(n * C, kNaN);
    std::vector<std::int32_t> sub(subregion.begin(), subregion.begin() + static_cast<std::ptrdiff_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
        xs[i] = static_cast<float>(x[i]);
        ys[i] = static_cast<float>(y[i]);
        for (std::size_t s = 0; s < S; ++s) {
            double acc = 0;
            for (std::size_t t = 0; t < Y; ++t) {
                acc += sets[s].diff[i * sets[s].stride + t];
                cum[i * C + s * Y + t] = static_cast<float>(acc);
            }
        }
    }
    // Every rank holds every row's coordinates and increments, and pools its own rows: the same
    // neighbours and arithmetic for a row whichever rank pools it.
    const std::vector<std::size_t> counts = comm.allgather<std::size_t>(n);
    std::size_t first = 0;
    for (int r = 0; r < comm.rank(); ++r) first += counts[static_cast<std::size_t>(r)];
    std::vector<std::size_t> cumCounts(counts);
    for (auto& c : cumCounts) c *= C;
    std::vector<float> mine;
    {
        const std::vector<float> allX = comm.allgatherv(xs, counts), allY = comm.allgatherv(ys, counts);
        const std::vector<std::int32_t> allSub = comm.allgatherv(sub, counts);
        const std::vector<float> allCum = comm.allgatherv(cum, cumCounts);
        xs = {}, ys = {};
        mine = pooledRows(allX, allY, allSub, allCum, C, k, first, first + n);
    }
    for (std::size_t j = 0; j < mine.size(); ++j) mine[j] -= cum[j];  // pooled minus own
    for (std::size_t i = 0; i < n; ++i) {
        const auto share = ownShare.find(sub[i]);
        for (std::size_t s = 0; s < S; ++s) {
            float* diff = sets[s].diff + i * sets[s].stride;
            float* position = sets[s].position != nullptr ? sets[s].position + i * sets[s].stride : nullptr;
            double prev = 0;
            for (std::size_t t = 0; t < Y; ++t) {
                const double d = mine[i * C + s * Y + t];
                if (!std::isfinite(d)) continue;
                const double now = static_cast<double>(cum[i * C + s * Y + t]) + d;
                diff[t] = static_cast<float>(now - prev);
                prev = now;
                if (position != nullptr) {
                    const double w = share != ownShare.end() && t < share->second.size() ? share->second[t] : 1.0;
                    position[t] = static_cast<float>(position[t] + w * d);
                }
            }
        }
    }
    const std::uint64_t total = comm.allreduce<std::uint64_t>(n, Reduce::kSum);
    if (comm.isRoot())
        log::info() << "positions: each point's forecast increments pooled over its " << k
                    << " nearest points of its subregion (run.position_pool; " << total << " points, "
                    << log::elapsed() - start << " s)";
}

void poolRunForecasts(const Comm& comm, const RunConfig& rc, const LocalBlock& block,
                      const std::vector<std::int32_t>& subregion, const std::vector<Choice>& choice, Returned& back) {
    if (rc.positionPool == 0) return;
    const std::size_t Y = static_cast<std::size_t>(rc.horizon), W = 4 * Y + 2;
    float* w = back.winner.data();  // [holdout Y | next Y | next positions Y | split | level | holdout positions Y]
    poolStage(comm, rc.positionPool, Y, block.points.x, block.points.y, subregion,
              ownShares(choice, Y, rc.positionHedge), {{w, w + 3 * Y + 2, W}, {w + Y, w + 2 * Y, W}});
}

std::vector<double> ownShare(const std::vector<std::int32_t>& steps, std::size_t horizon, double hedge) {
    std::vector<double> w(horizon, 1.0);
    for (std::size_t t = 0; t < horizon && !steps.empty(); ++t)
        if (steps[std::min(t, steps.size() - 1)] != kOwnPosition) w[t] = hedge;
    return w;
}

std::map<std::int32_t, std::vector<double>> ownShares(const std::vector<Choice>& choice, std::size_t horizon,
                                                      double hedge) {
    std::map<std::int32_t, std::vector<double>> out;
    for (std::size_t s = 0; s < choice.size(); ++s)
        out[static_cast<std::int32_t>(s)] = ownShare(choice[s].positionSteps, horizon, hedge);
    return out;
}

}  // namespace hlstm::pipeline
