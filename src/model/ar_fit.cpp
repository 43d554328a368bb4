// AR(p), the baselines' per-point autoregression (split from baselines.cpp): the normal equations of
// every order p <= P summed once (ar_solve.cpp), the order chosen by AIC, solved one fit at a time or
// 8 side by side (ar_lanes.cpp), and the fits' forecasts iterated.
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "ar_solve.hpp"

namespace hlstm::model {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPivotTol = 1e-10;  // a lag column with 1 - R^2 below this on the others is collinear
constexpr double kRssFloor = 1e-10;  // an AR fit better than this fraction of the variance is exact

// The AR(p) fits p = 0..P from the Gram matrix g of addArGram (count targets, rates centred on mu), the
// smallest AIC kept; matrices of at most MaxDim rows and columns (Eigen::Dynamic: any): the usual
// orders (P <= 5) keep them on the stack, with the same operations as the heap-allocated ones.
template <int MaxDim> ArFit solveArOrders(const double* g, int P, int count, double mu) {
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, 0, MaxDim, MaxDim>;
    using Vector = Eigen::Matrix<double, Eigen::Dynamic, 1, 0, MaxDim, 1>;
    const int dim = P + 2;
    Matrix gram(dim, dim);
    for (int i = 0; i < dim; ++i)
        for (int j = 0; j <= i; ++j) gram(i, j) = gram(j, i) = g[i * dim + j];
    const double yy = gram(P + 1, P + 1);
    const double sumY = gram(0, P + 1);
    const double tss = yy - sumY * sumY / count;  // RSS of p = 0
    const double rssFloor = kRssFloor * std::max(tss, 0.0) + std::numeric_limits<double>::min();

    ArFit best{0, {sumY / count + mu}};  // p = 0: the mean of the targets
    double bestAic = count * std::log(std::max(tss, rssFloor) / count) + 2.0;
    for (int p = 1; p <= P; ++p) {
        // Unit-diagonal scaling makes the LDLT pivots scale-free (1 - R^2 of a column on the earlier ones).
        const Vector diag = gram.diagonal().head(p + 1);
        if (!(diag.minCoeff() > 0)) break;  // a constant lag column
        const Vector s = diag.cwiseSqrt().cwiseInverse();
        const Matrix a = s.asDiagonal() * gram.topLeftCorner(p + 1, p + 1) * s.asDiagonal();
        const Vector b = gram.col(P + 1).head(p + 1);
        const Eigen::LDLT<Matrix> ldlt(a);
        // Singular (a lag collinear with the intercept and earlier lags): this and every higher order fail.
        if (ldlt.info() != Eigen::Success || !(ldlt.vectorD().minCoeff() > kPivotTol)) break;
        const Vector coef = s.asDiagonal() * ldlt.solve(s.asDiagonal() * b);
        const double rss = std::max(yy - coef.dot(b), rssFloor);           // at the solution RSS = y'y - b'X'y
        const double aic = count * std::log(rss / count) + 2.0 * (p + 1);  // AIC = N ln(RSS/N) + 2(p+1)
        if (aic < bestAic) {                                               // strict: ties keep the smaller p
            bestAic = aic;
            best.p = p;
            // Back to uncentred rates: r_t = c' + mu (1 - sum phi) + sum phi_k r_{t-k}.
            best.coefficients.assign(coef.data(), coef.data() + p + 1);
            best.coefficients[0] += mu * (1.0 - coef.tail(p).sum());
        }
    }
    return best;
}

constexpr int kStackDim = 7;  // maxOrder + 2 for the default maxOrder 5

ArFit solveAr(const double* g, int P, int count, double mu) {
    if (P <= detail::kSmallArOrder && arSolver() == ArSolver::kSmall)
        return detail::solveArSmall(g, P, count, mu, kPivotTol, kRssFloor);
    return P + 2 <= kStackDim ? solveArOrders<kStackDim>(g, P, count, mu)
                              : solveArOrders<Eigen::Dynamic>(g, P, count, mu);
}

// A zeroed Gram matrix for order bound P: on the stack for the usual orders.
struct GramBuffer {
    double stack[kStackDim * kStackDim] = {};
    std::vector<double> heap;
    double* data = stack;
    explicit GramBuffer(int P) {
        if (P + 2 > kStackDim) {
            heap.assign(static_cast<std::size_t>(P + 2) * (P + 2), 0.0);
            data = heap.data();
        }
    }
    GramBuffer(const GramBuffer&) = delete;
    GramBuffer& operator=(const GramBuffer&) = delete;
};

// The lane solver's fits are solveArSmall's: it runs where that one would and the CPU has AVX-512.
bool lanesSolve() { return arSolver() == ArSolver::kSmall && detail::useAvx512(); }

}  // namespace

namespace detail {

// Common targets t = P..m-1 for every order p <= P, with P limited so that they number at least P + 2
// (P + 1 parameters and one residual degree of freedom): AICs then compare the same sample.
int arOrderBound(int m, int maxOrder) { return std::min(maxOrder, std::max(0, (m - 2) / 2)); }

ArFit fitArPrefix(const double* r, std::size_t size, int maxOrder) {
    if (maxOrder < 0) throw std::invalid_argument("fitAr: maxOrder must be >= 0");
    const auto m = static_cast<int>(size);
    if (m == 0) return {0, {kNaN}};
    const int P = arOrderBound(m, maxOrder);
    // Centre the rates (conditioning: lags stay nearly orthogonal to the intercept); any constant works.
    double mu = 0;
    for (int t = 0; t < m; ++t) mu += r[t];
    mu /= m;
    GramBuffer g(P);
    addArGramFast(r, P, m, P, mu, g.data);
    return solveAr(g.data, P, m - P, mu);
}

// fitArPrefix of every prefix r[0..m-1], m in `sizes` (ascending, each with the same order bound P = maxOrder),
// by incremental normal equations: one Gram matrix summed over the targets as the prefix grows, a
// snapshot solved at each size. The rates are centred on one constant for all prefixes (the mean of the
// shortest): the fits are the per-prefix fits up to rounding (each prefix centred on its own mean).
std::vector<ArFit> fitArPrefixes(const double* r, const std::vector<int>& sizes, int maxOrder) {
    std::vector<ArFit> fits;
    if (sizes.empty()) return fits;
    const int P = maxOrder;
    double mu = 0;
    for (int t = 0; t < sizes.front(); ++t) mu += r[t];
    mu /= sizes.front();
    GramBuffer g(P);
    int done = P;
    if (P != kSmallArOrder || !lanesSolve()) {
        for (const int m : sizes) {
            addArGramFast(r, done, m, P, mu, g.data);
            done = m;
            fits.push_back(solveAr(g.data, P, m - P, mu));
        }
        return fits;
    }
    // The snapshots solved 8 at a time, one AVX-512 lane each (ar_lanes.cpp: the same fits bit for bit).
    constexpr std::size_t kGram = (kSmallArOrder + 2) * (kSmallArOrder + 2);
    std::vector<double> grams(sizes.size() * kGram);
    std::vector<int> counts(sizes.size());
    for (std::size_t k = 0; k < sizes.size(); ++k) {
        addArGramFast(r, done, sizes[k], P, mu, g.data);
        done = sizes[k];
        std::copy_n(g.data, kGram, grams.data() + k * kGram);
        counts[k] = sizes[k] - P;
    }
    fits.resize(sizes.size());
    for (std::size_t k0 = 0; k0 < sizes.size(); k0 += kArLanes) {
        const int lanes = static_cast<int>(std::min<std::size_t>(kArLanes, sizes.size() - k0));
        const double* g8[kArLanes];
        double mu8[kArLanes];
        for (int k = 0; k < lanes; ++k) g8[k] = grams.data() + (k0 + static_cast<std::size_t>(k)) * kGram, mu8[k] = mu;
        solveAr5Lanes(g8, counts.data() + k0, mu8, lanes, kPivotTol, kRssFloor, fits.data() + k0);
    }
    return fits;
}

// y[t] = c_0 + sum_k c_k y[t-k], fed back `horizon` times from the last `lags` values of `r`.
void iterate(const std::vector<double>& coefficients, int lags, const double* r, std::size_t m, int horizon,
             float* out) {
    if (m < static_cast<std::size_t>(lags) || coefficients.empty()) {
        std::fill(out, out + horizon, static_cast<float>(kNaN));
        return;
    }
    std::vector<double> y(r + m - lags, r + m);  // y.back() is the latest value
    for (int h = 0; h < horizon; ++h) {
        double next = coefficients[0];
        for (int k = 1; k <= lags; ++k) next += coefficients[k] * y[y.size() - k];
        out[h] = static_cast<float>(next);
        y.push_back(next);
    }
}

}  // namespace detail

ArFit fitAr(const std::vector<double>& r, int maxOrder) { return detail::fitArPrefix(r.data(), r.size(), maxOrder); }

void forecastAr(const ArFit& fit, const std::vector<double>& r, int horizon, float* out) {
    detail::iterate(fit.coefficients, fit.p, r.data(), r.size(), horizon, out);
}
void fitArs(const std::vector<double>* rates, std::size_t count, ArFit* fits) {
    using detail::kArLanes, detail::kSmallArOrder;
    constexpr std::size_t kGram = (kSmallArOrder + 2) * (kSmallArOrder + 2);
    const bool lanes = lanesSolve();
    double grams[kArLanes][kGram];
    const double* g8[kArLanes];
    double mu[kArLanes];
    int counts[kArLanes];
    std::size_t of[kArLanes];
    int batch = 0;
    const auto solve = [&] {
        ArFit solved[kArLanes];
        detail::solveAr5Lanes(g8, counts, mu, batch, kPivotTol, kRssFloor, solved);
        for (int b = 0; b < batch; ++b) fits[of[b]] = std::move(solved[b]);
        batch = 0;
    };
    for (std::size_t i = 0; i < count; ++i) {
        const std::vector<double>& r = rates[i];
        const auto m = static_cast<int>(r.size());
        if (!lanes || detail::arOrderBound(m, kSmallArOrder) != kSmallArOrder) {
            fits[i] = fitAr(r, kSmallArOrder);
            continue;
        }
        // fitArPrefix's centring and sums, as there; the solve waits for 7 more.
        const int P = kSmallArOrder;
        double centre = 0;
        for (int t = 0; t < m; ++t) centre += r[static_cast<std::size_t>(t)];
        centre /= m;
        std::fill(grams[batch], grams[batch] + kGram, 0.0);
        detail::addArGramFast(r.data(), P, m, P, centre, grams[batch]);
        g8[batch] = grams[batch];
        mu[batch] = centre;
        counts[batch] = m - P;
        of[batch++] = i;
        if (batch == kArLanes) solve();
    }
    if (batch > 0) solve();
}

void detail::forecastArRows(const History* histories, std::size_t count, int horizon, float* out) {
    constexpr auto kLanes = static_cast<std::size_t>(kArLanes);
    const auto Y = static_cast<std::size_t>(horizon);
    std::vector<double> r[kLanes];
    ArFit fits[kLanes];
    std::size_t row[kLanes];
    for (std::size_t i0 = 0; i0 < count; i0 += kLanes) {
        // forecastBaseline's AR per point, the fits of 8 points solved together.
        std::size_t batch = 0;
        for (std::size_t i = i0; i < std::min(count, i0 + kLanes); ++i) {
            if (histories[i].n < 2) {  // no rate is defined
                std::fill(out + i * Y, out + (i + 1) * Y, static_cast<float>(kNaN));
                continue;
            }
            r[batch] = rates(histories[i]);
            row[batch++] = i;
        }
        fitArs(r, batch, fits);
        for (std::size_t b = 0; b < batch; ++b) forecastAr(fits[b], r[b], horizon, out + row[b] * Y);
    }
}

}  // namespace hlstm::model
