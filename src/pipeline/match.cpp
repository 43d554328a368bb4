#include "match.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "hlstm/core/error.hpp"
#include "hlstm/io/output_format.hpp"

namespace hlstm::pipeline {
namespace {

// Nearest known point by a uniform grid of buckets (about 4 points per cell).
class NearestIndex {
public:
    NearestIndex(const std::vector<double>& x, const std::vector<double>& y) : x_(x), y_(y) {
        if (x.empty()) return;
        x0_ = *std::min_element(x.begin(), x.end());
        y0_ = *std::min_element(y.begin(), y.end());
        const double w = *std::max_element(x.begin(), x.end()) - x0_, h = *std::max_element(y.begin(), y.end()) - y0_;
        const double cells = std::max(1.0, static_cast<double>(x.size()) / 4.0);
        cell_ = std::max(std::sqrt(std::max(w * h, 1e-12) / cells), 1e-9);
        nx_ = static_cast<long>(w / cell_) + 1;
        ny_ = static_cast<long>(h / cell_) + 1;
        for (std::size_t i = 0; i < x.size(); ++i) buckets_[key(cx(x[i]), cy(y[i]))].push_back(i);
    }
    /// The nearest known point and its squared distance (also for points far outside the
    /// known points' box: the search starts at the point's projection q onto the box, and for
    /// every known k, |p - k|^2 >= |p - q|^2 + |q - k|^2 because the box is convex).
    std::size_t nearest(double px, double py, double* distance2 = nullptr) const {
        const double qx = std::clamp(px, x0_, x0_ + static_cast<double>(nx_) * cell_),
                     qy = std::clamp(py, y0_, y0_ + static_cast<double>(ny_) * cell_);
        const double d0 = (px - qx) * (px - qx) + (py - qy) * (py - qy);
        const long ix = cx(qx), iy = cy(qy);
        std::size_t best = 0;
        double bestD = std::numeric_limits<double>::infinity();
        for (long ring = 0; ring <= std::max(nx_, ny_); ++ring) {
            for (long a = ix - ring; a <= ix + ring; ++a)
                for (long b = iy - ring; b <= iy + ring; ++b) {
                    if (std::max(std::labs(a - ix), std::labs(b - iy)) != ring) continue;
                    auto it = buckets_.find(key(a, b));
                    if (it == buckets_.end()) continue;
                    for (std::size_t i : it->second) {
                        const double d = (x_[i] - px) * (x_[i] - px) + (y_[i] - py) * (y_[i] - py);
                        if (d < bestD || (d == bestD && i < best)) {
                            bestD = d;
                            best = i;
                        }
                    }
                }
            // Every point outside this ring is at least ring * cell from q.
            const double ringD = static_cast<double>(ring) * cell_;
            if (std::isfinite(bestD) && bestD <= d0 + ringD * ringD) break;
        }
        if (distance2 != nullptr) *distance2 = bestD;
        return best;
    }

private:
    long cx(double v) const { return static_cast<long>(std::floor((v - x0_) / cell_)); }
    long cy(double v) const { return static_cast<long>(std::floor((v - y0_) / cell_)); }
    static long long key(long a, long b) {
        return (static_cast<long long>(a) << 32) ^ static_cast<long long>(b & 0xffffffff);
    }
    const std::vector<double>& x_;
    const std::vector<double>& y_;
    double x0_ = 0, y0_ = 0, cell_ = 1;
    long nx_ = 1, ny_ = 1;
    std::unordered_map<long long, std::vector<std::size_t>> buckets_;
};

}  // namespace

PointMatch matchPoints(const KnownPoints& kp, const LocalBlock& block, FarPoints far, const std::string& inputPath,
                       const std::string& knownPath) {
    const std::size_t n = block.points.size();
    PointMatch out;
    out.subregion.assign(n, -1);
    out.known.assign(n, -1);
    out.nearest.assign(n, -1);
    out.status.assign(n, static_cast<std::int8_t>(output::PointStatus::kForecast));
    // EGMS points are matched by pid (a release that removes a point shifts every line after
    // it); the other formats by id.
    const bool byPid = out.byPid = !block.pids.empty() && !kp.pids.empty();
    std::unordered_map<std::int64_t, std::size_t> byId;
    std::unordered_map<std::string, std::size_t> byPidIndex;
    if (byPid)
        for (std::size_t i = 0; i < kp.pids.size(); ++i) byPidIndex.emplace(kp.pids[i], i);
    else
        for (std::size_t i = 0; i < kp.ids.size(); ++i) byId.emplace(kp.ids[i], i);
    NearestIndex nearest(kp.x, kp.y);
    std::uint64_t moved = 0;
    std::string example;
    for (std::size_t i = 0; i < n; ++i) {
        std::size_t k = 0;
        bool known = false;
        if (byPid) {
            auto it = byPidIndex.find(block.pids[i]);
            if ((known = it != byPidIndex.end())) k = it->second;
        } else {
            auto it = byId.find(block.points.ids[i]);
            if ((known = it != byId.end())) k = it->second;
        }
        if (known) {
            // The same id must be the same place: another scene may reuse ids 1..n.
            const double x = block.points.x[i], y = block.points.y[i];
            const double tolerance = byPid ? 1.0 : 1e-6 * (std::abs(x) + std::abs(y) + 1.0);  // metres for pids
            if (std::abs(kp.x[k] - x) + std::abs(kp.y[k] - y) > tolerance && moved++ == 0)
                example = (byPid ? "pid " + block.pids[i] : "point id " + std::to_string(block.points.ids[i])) +
                          " is at (" + std::to_string(x) + ", " + std::to_string(y) + ") here but at (" +
                          std::to_string(kp.x[k]) + ", " + std::to_string(kp.y[k]) + ") in " + knownPath;
            out.known[i] = static_cast<std::int64_t>(k);
        } else {
            double d2 = 0;
            k = nearest.nearest(block.points.x[i], block.points.y[i], &d2);
            if (far == FarPoints::kNaN && !(std::sqrt(d2) <= kp.edgeThreshold)) {
                out.status[i] = static_cast<std::int8_t>(output::PointStatus::kFar);
                ++out.far;
                continue;
            }
            ++out.byNearest;
        }
        out.nearest[i] = static_cast<std::int64_t>(k);
        out.subregion[i] = kp.subregion.empty() ? -1 : kp.subregion[k];
    }
    if (moved > 0)
        throw InputError(inputPath + ": " + example + " (coordinates differ for " + std::to_string(moved) +
                         " point(s) with a known " + (byPid ? "pid" : "id") +
                         " on this rank): not the scene the models were trained on" +
                         (byPid ? std::string("") : "; give its points their own ids or run hlstm run on it"));
    return out;
}

}  // namespace hlstm::pipeline
