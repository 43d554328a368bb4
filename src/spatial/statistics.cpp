// Spatial statistics (include/hlstm/spatial/statistics.hpp): serial kernels over one point set.
#include "hlstm/spatial/statistics.hpp"

#include <algorithm>
#include <boost/math/distributions/fisher_f.hpp>
#include <boost/math/distributions/non_central_f.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <queue>
#include <string>
#include <utility>

#include "hlstm/core/error.hpp"

namespace hlstm::spatial {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kLeafSize = 16;

// Upper tail of the standard normal.
double normalUpper(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// A static kd-tree over point indices: each node splits its range at the median of the wider
// coordinate; leaves hold up to kLeafSize points.
class KdTree {
public:
    KdTree(const std::vector<double>& x, const std::vector<double>& y) : x_(x), y_(y), order_(x.size()) {
        std::iota(order_.begin(), order_.end(), std::uint32_t{0});
        if (!order_.empty()) build(0, order_.size());
    }

    // The k nearest of point `self` (excluded), as (squared distance, index) pairs, nearest first.
    void query(std::uint32_t self, std::size_t k, std::vector<std::pair<double, std::uint32_t>>& out) const {
        heap_ = {};
        search(0, self, k);
        out.clear();
        while (!heap_.empty()) out.push_back(heap_.top()), heap_.pop();
        std::reverse(out.begin(), out.end());
    }

private:
    struct Node {
        std::size_t begin, end;
        int dim = -1;  // -1: leaf
        double split = 0;
        std::size_t left = 0, right = 0;
    };

    std::size_t build(std::size_t begin, std::size_t end) {
        const std::size_t id = nodes_.size();
        nodes_.push_back({begin, end});
        if (end - begin <= kLeafSize) return id;
        double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
        for (std::size_t i = begin; i < end; ++i) {
            x0 = std::min(x0, x_[order_[i]]), x1 = std::max(x1, x_[order_[i]]);
            y0 = std::min(y0, y_[order_[i]]), y1 = std::max(y1, y_[order_[i]]);
        }
        const int dim = (x1 - x0) >= (y1 - y0) ? 0 : 1;
        const auto& c = dim == 0 ? x_ : y_;
        const std::size_t mid = begin + (end - begin) / 2;
        std::nth_element(order_.begin() + static_cast<std::ptrdiff_t>(begin),
                         order_.begin() + static_cast<std::ptrdiff_t>(mid),
                         order_.begin() + static_cast<std::ptrdiff_t>(end),
                         [&c](std::uint32_t a, std::uint32_t b) { return c[a] < c[b] || (c[a] == c[b] && a < b); });
        const double split = c[order_[mid]];
        const std::size_t left = build(begin, mid);
        const std::size_t right = build(mid, end);
        nodes_[id].dim = dim, nodes_[id].split = split, nodes_[id].left = left, nodes_[id].right = right;
        return id;
    }

    void offer(double d2, std::uint32_t j, std::size_t k) const {
        const std::pair<double, std::uint32_t> c{d2, j};
        if (heap_.size() < k)
            heap_.push(c);
        else if (c < heap_.top()) {
            heap_.pop();
            heap_.push(c);
        }
    }

    void search(std::size_t id, std::uint32_t self, std::size_t k) const {
        const Node& node = nodes_[id];
        const double px = x_[self], py = y_[self];
        if (node.dim < 0) {
            for (std::size_t i = node.begin; i < node.end; ++i) {
                const std::uint32_t j = order_[i];
                if (j == self) continue;
                const double dx = x_[j] - px, dy = y_[j] - py;
                offer(dx * dx + dy * dy, j, k);
            }
            return;
        }
        // Left holds coordinates <= split, right >= split: the nearer side first, the other
        // only if it can hold a point as near as the k-th (equal distances too: lower index wins).
        const double diff = (node.dim == 0 ? px : py) - node.split;
        const std::size_t nearSide = diff <= 0 ? node.left : node.right;
        const std::size_t farSide = diff <= 0 ? node.right : node.left;
        search(nearSide, self, k);
        if (heap_.size() < k || diff * diff <= heap_.top().first) search(farSide, self, k);
    }

    const std::vector<double>& x_;
    const std::vector<double>& y_;
    std::vector<std::uint32_t> order_;
    std::vector<Node> nodes_;
    mutable std::priority_queue<std::pair<double, std::uint32_t>> heap_;
};

}  // namespace

Neighbours nearestNeighbours(const std::vector<double>& x, const std::vector<double>& y, std::size_t k) {
    const std::size_t n = x.size();
    if (k == 0) throw InputError("spatial: k = 0 neighbours (spatial.k must be >= 1)");
    if (n <= k)
        throw InputError("spatial: " + std::to_string(n) +
                         " points with a finite value, need more than k = " + std::to_string(k));
    if (n >= std::numeric_limits<std::uint32_t>::max())
        throw InputError("spatial: " + std::to_string(n) + " points: more than 2^32 - 1");
    Neighbours nb;
    nb.k = k;
    nb.index.resize(n * k);
    nb.distance.resize(n * k);
    const KdTree tree(x, y);
    std::vector<std::pair<double, std::uint32_t>> found;
    for (std::size_t i = 0; i < n; ++i) {
        tree.query(static_cast<std::uint32_t>(i), k, found);
        for (std::size_t r = 0; r < k; ++r) {
            nb.index[i * k + r] = found[r].second;
            nb.distance[i * k + r] = std::sqrt(found[r].first);
        }
    }
    return nb;
}

Moran moranI(const std::vector<double>& values, const Neighbours& nb) {
    const std::size_t n = values.size(), k = nb.k;
    if (nb.size() != n) throw std::logic_error("moranI: values and neighbours differ in length");
    Moran m;
    m.n = n;
    const double nd = static_cast<double>(n);
    double mean = 0;
    for (double v : values) mean += v;
    mean /= nd;
    std::vector<double> z(n);
    double zz = 0, z4 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        z[i] = values[i] - mean;
        zz += z[i] * z[i];
        z4 += z[i] * z[i] * z[i] * z[i];
    }
    // I = (n / S0) sum_i z_i lag(z)_i / sum z^2 with w_ij = 1/k (row-standardised: S0 = n).
    const double w = 1.0 / static_cast<double>(k);
    double cross = 0;
    std::vector<std::uint32_t> indegree(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
        double lag = 0;
        for (std::size_t r = 0; r < k; ++r) {
            const std::uint32_t j = nb.index[i * k + r];
            lag += w * z[j];
            ++indegree[j];
        }
        cross += z[i] * lag;
    }
    const double s0 = nd;
    m.I = (nd / s0) * cross / zz;
    // S1 = 1/2 sum_ij (w_ij + w_ji)^2: a mutual pair contributes (2w)^2 from each side, a
    // one-way pair w^2 twice (both orders) from the side that lists it.
    double s1 = 0;
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t r = 0; r < k; ++r) {
            const std::uint32_t j = nb.index[i * k + r];
            bool mutual = false;
            for (std::size_t t = 0; t < k && !mutual; ++t) mutual = nb.index[j * k + t] == i;
            s1 += mutual ? 4 * w * w : 2 * w * w;
        }
    s1 *= 0.5;
    // S2 = sum_i (w_i. + w_.i)^2.
    double s2 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const double t = 1.0 + w * indegree[i];
        s2 += t * t;
    }
    const double kurt = nd * z4 / (zz * zz);
    m.expected = -1.0 / (nd - 1);
    const double s02 = s0 * s0, nn = nd * nd;
    double vi = nd * (s1 * (nn - 3 * nd + 3) - nd * s2 + 3 * s02);
    const double tmp = kurt * (s1 * (nn - nd) - 2 * nd * s2 + 6 * s02);
    vi = (vi - tmp) / ((nd - 1) * (nd - 2) * (nd - 3) * s02);
    m.variance = vi - m.expected * m.expected;
    m.z = (m.I - m.expected) / std::sqrt(m.variance);
    m.p = normalUpper(m.z);
    return m;
}

std::vector<double> giStar(const std::vector<double>& values, const Neighbours& nb) {
    const std::size_t n = values.size(), k = nb.k;
    if (nb.size() != n) throw std::logic_error("giStar: values and neighbours differ in length");
    const double nd = static_cast<double>(n);
    double mean = 0;
    for (double v : values) mean += v;
    mean /= nd;
    double ss = 0;
    for (double v : values) ss += (v - mean) * (v - mean);
    const double s2 = ss / nd;
    // Binary weights over k neighbours + the point: W_i = S1_i = k + 1.
    const double wi = static_cast<double>(k + 1);
    const double sd = std::sqrt(s2 * ((nd * wi - wi * wi) / (nd - 1)));
    std::vector<double> out(n);
    for (std::size_t i = 0; i < n; ++i) {
        double lag = values[i];
        for (std::size_t r = 0; r < k; ++r) lag += values[nb.index[i * k + r]];
        out[i] = (lag - wi * mean) / sd;
    }
    return out;
}

std::vector<std::int8_t> hotColdClasses(const std::vector<double>& z, double alpha, Multiple multiple) {
    const std::size_t n = z.size();
    std::vector<std::int8_t> out(n, 0);
    std::vector<double> p(n);
    for (std::size_t i = 0; i < n; ++i) p[i] = std::isfinite(z[i]) ? 2 * normalUpper(std::fabs(z[i])) : 1.0;
    double cut = alpha;
    if (multiple == Multiple::kFdr) {
        // Benjamini-Hochberg: the largest p_(r) <= r alpha / n is the cut.
        std::vector<double> sorted = p;
        std::sort(sorted.begin(), sorted.end());
        cut = -1;
        for (std::size_t r = n; r-- > 0;)
            if (sorted[r] <= static_cast<double>(r + 1) * alpha / static_cast<double>(n)) {
                cut = sorted[r];
                break;
            }
    }
    for (std::size_t i = 0; i < n; ++i)
        if (std::isfinite(z[i]) && (multiple == Multiple::kFdr ? p[i] <= cut : p[i] < cut)) out[i] = z[i] > 0 ? 1 : -1;
    return out;
}

Agreement classAgreement(const std::vector<std::int8_t>& a, const std::vector<std::int8_t>& b) {
    if (a.size() != b.size()) throw std::logic_error("classAgreement: maps differ in length");
    Agreement g;
    if (a.empty()) return {kNaN, kNaN};
    double ca[3] = {0, 0, 0}, cb[3] = {0, 0, 0}, same = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        same += a[i] == b[i];
        ca[a[i] + 1] += 1, cb[b[i] + 1] += 1;
    }
    const double n = static_cast<double>(a.size());
    g.share = same / n;
    double pe = 0;
    for (int c = 0; c < 3; ++c) pe += (ca[c] / n) * (cb[c] / n);
    g.kappa = pe >= 1 ? 1.0 : (g.share - pe) / (1 - pe);
    return g;
}

Geodetector factorDetector(const std::vector<double>& values, const std::vector<std::int64_t>& stratum) {
    if (values.size() != stratum.size()) throw std::logic_error("factorDetector: values and strata differ in length");
    Geodetector g;
    g.n = values.size();
    struct Acc {
        double n = 0, sum = 0;
        std::vector<double> v;
    };
    std::map<std::int64_t, Acc> strata;
    for (std::size_t i = 0; i < values.size(); ++i) {
        auto& s = strata[stratum[i]];
        s.n += 1, s.sum += values[i];
        s.v.push_back(values[i]);
    }
    g.strata = strata.size();
    if (g.strata < 2 || g.n <= g.strata) return {g.n, g.strata, kNaN, kNaN};
    const double nd = static_cast<double>(g.n), L = static_cast<double>(g.strata);
    double mean = 0;
    for (double v : values) mean += v;
    mean /= nd;
    double sst = 0;
    for (double v : values) sst += (v - mean) * (v - mean);
    double ssw = 0, lambda1 = 0, lambda2 = 0;
    for (const auto& [id, s] : strata) {
        const double m = s.sum / s.n;
        for (double v : s.v) ssw += (v - m) * (v - m);
        lambda1 += m * m;
        lambda2 += std::sqrt(s.n) * m;
    }
    if (!(sst > 0)) return {g.n, g.strata, kNaN, kNaN};  // a constant variable has no heterogeneity to measure
    g.q = 1 - ssw / sst;
    const double var = sst / (nd - 1);
    const double lambda = std::max(0.0, (lambda1 - lambda2 * lambda2 / nd) / var);
    const double df1 = L - 1, df2 = nd - L;
    if (g.q >= 1) {
        g.p = 0;
        return g;
    }
    const double f = (nd - L) * g.q / ((L - 1) * (1 - g.q));
    if (!(f > 0)) {
        g.p = 1;
        return g;
    }
    try {
        if (lambda > 0) {
            const boost::math::non_central_f_distribution<double> dist(df1, df2, lambda);
            g.p = boost::math::cdf(boost::math::complement(dist, f));
        } else {
            const boost::math::fisher_f_distribution<double> dist(df1, df2);
            g.p = boost::math::cdf(boost::math::complement(dist, f));
        }
    } catch (const std::exception&) {
        g.p = kNaN;  // outside what the series converge for (reported as NaN, never guessed)
    }
    return g;
}

Hull convexHull(const std::vector<double>& x, const std::vector<double>& y) {
    std::vector<std::pair<double, double>> p(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) p[i] = {x[i], y[i]};
    std::sort(p.begin(), p.end());
    p.erase(std::unique(p.begin(), p.end()), p.end());
    Hull h;
    if (p.size() < 3) return h;
    auto cross = [](const auto& o, const auto& a, const auto& b) {
        return (a.first - o.first) * (b.second - o.second) - (a.second - o.second) * (b.first - o.first);
    };
    std::vector<std::pair<double, double>> hull(2 * p.size());
    std::size_t m = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {  // lower chain
        while (m >= 2 && cross(hull[m - 2], hull[m - 1], p[i]) <= 0) --m;
        hull[m++] = p[i];
    }
    for (std::size_t i = p.size() - 1, t = m + 1; i-- > 0;) {  // upper chain
        while (m >= t && cross(hull[m - 2], hull[m - 1], p[i]) <= 0) --m;
        hull[m++] = p[i];
    }
    hull.resize(m - 1);
    for (std::size_t i = 0; i < hull.size(); ++i) {
        const auto& a = hull[i];
        const auto& b = hull[(i + 1) % hull.size()];
        h.area += a.first * b.second - b.first * a.second;
        h.perimeter += std::hypot(b.first - a.first, b.second - a.second);
    }
    h.area = std::fabs(h.area) / 2;
    return h;
}

Nni clarkEvans(const std::vector<double>& x, const std::vector<double>& y, const Neighbours& nb) {
    Nni r;
    r.n = x.size();
    if (nb.size() != r.n || r.n < 2) throw std::logic_error("clarkEvans: needs the neighbours of >= 2 points");
    double sum = 0;
    for (std::size_t i = 0; i < r.n; ++i) sum += nb.distance[i * nb.k];
    const double n = static_cast<double>(r.n);
    r.meanDistance = sum / n;
    const Hull h = convexHull(x, y);
    r.area = h.area, r.perimeter = h.perimeter;
    if (!(h.area > 0)) {
        r.R = r.z = r.p = r.rPlain = r.zPlain = r.pPlain = kNaN;
        return r;
    }
    const double a = h.area, per = h.perimeter;
    const double ePlain = 0.5 * std::sqrt(a / n), sePlain = 0.26136 / std::sqrt(n * n / a);
    r.rPlain = r.meanDistance / ePlain;
    r.zPlain = (r.meanDistance - ePlain) / sePlain;
    r.pPlain = 2 * normalUpper(std::fabs(r.zPlain));
    const double e = ePlain + (0.0514 + 0.041 / std::sqrt(n)) * per / n;
    const double se = std::sqrt(0.0703 * a / (n * n) + 0.037 * per * std::sqrt(a / std::pow(n, 5)));
    r.R = r.meanDistance / e;
    r.z = (r.meanDistance - e) / se;
    r.p = 2 * normalUpper(std::fabs(r.z));
    return r;
}

}  // namespace hlstm::spatial
