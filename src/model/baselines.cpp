// Per-point forecasting baselines: persistence, window mean, velocity, linear trend, SES, AR(p) and the
// global multiple linear regression on lagged rates (the paper's Table III peers).
#include "hlstm/model/baselines.hpp"

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "hlstm/core/error.hpp"

namespace hlstm::model {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::array<const char*, 7> kNames = {"persistence", "window_mean", "velocity", "linear_trend",
                                               "ses",         "ar",          "mlr"};
constexpr int kSesGrid = 100;        // a = 1/100, 2/100, ..., 100/100
constexpr double kPivotTol = 1e-10;  // a lag column with 1 - R^2 below this on the others is collinear
constexpr double kRssFloor = 1e-10;  // an AR fit better than this fraction of the variance is exact

void fill(float* out, int horizon, double value) { std::fill(out, out + horizon, static_cast<float>(value)); }

double stepAt(const History& h, std::size_t t) { return h.steps != nullptr ? h.steps[t] : static_cast<double>(t); }

// OLS slope of c against steps over epochs first..n-1 (centred sums, double), mm per nominal step.
double olsSlope(const History& h, std::size_t first) {
    const double count = static_cast<double>(h.n - first);
    double meanS = 0, meanC = 0;
    for (std::size_t t = first; t < h.n; ++t) {
        meanS += stepAt(h, t);
        meanC += h.cumulative[t];
    }
    meanS /= count;
    meanC /= count;
    double sxx = 0, sxy = 0;
    for (std::size_t t = first; t < h.n; ++t) {
        const double ds = stepAt(h, t) - meanS;
        sxx += ds * ds;
        sxy += ds * (h.cumulative[t] - meanC);
    }
    return sxy / sxx;
}

// One pass of SES with constant a: l_0 = r_0, l_t = l_{t-1} + a (r_t - l_{t-1}); returns the sum of squared
// one-step errors r_t - l_{t-1} (t = 1..m-1) and stores the final level. O(m), no allocation.
double sesPass(const std::vector<double>& r, double a, double& level) {
    double sse = 0;
    level = r[0];
    for (std::size_t t = 1; t < r.size(); ++t) {
        const double e = r[t] - level;
        sse += e * e;
        level += a * e;
    }
    return sse;
}

// Every a of the grid in one pass over the rates: the kSesGrid passes side by side, one lane each.
// A lane does sesPass's operations in sesPass's order (no fused multiply-add: neither build enables
// FMA), so its sum is bit for bit the one a pass of its own gives; the lanes are independent, so
// the loop over a vectorises (AVX-512 or AVX2 where the CPU has it) instead of waiting on one level's chain.
__attribute__((target_clones("avx512f", "avx2", "default"))) void sesScan(const double* r, std::size_t m,
                                                                          double* __restrict sse) {
    alignas(64) double level[kSesGrid];
    alignas(64) double a[kSesGrid];
    for (int k = 0; k < kSesGrid; ++k) {
        a[k] = static_cast<double>(k + 1) / kSesGrid;
        level[k] = r[0];
        sse[k] = 0;
    }
    for (std::size_t t = 1; t < m; ++t) {
        const double x = r[t];
#pragma GCC ivdep
        for (int k = 0; k < kSesGrid; ++k) {
            const double e = x - level[k];
            sse[k] += e * e;
            level[k] += a[k] * e;
        }
    }
}

// y[t] = c_0 + sum_k c_k y[t-k], fed back `horizon` times from the last `lags` values of `r`.
void iterate(const std::vector<double>& coefficients, int lags, const std::vector<double>& r, int horizon, float* out) {
    if (r.size() < static_cast<std::size_t>(lags) || coefficients.empty()) {
        fill(out, horizon, kNaN);
        return;
    }
    std::vector<double> y(r.end() - lags, r.end());  // y.back() is the latest value
    for (int h = 0; h < horizon; ++h) {
        double next = coefficients[0];
        for (int k = 1; k <= lags; ++k) next += coefficients[k] * y[y.size() - k];
        out[h] = static_cast<float>(next);
        y.push_back(next);
    }
}

}  // namespace

std::string toString(BaselineKind kind) {
    const auto i = static_cast<std::size_t>(kind);
    if (i >= kNames.size()) throw std::invalid_argument("toString: invalid BaselineKind " + std::to_string(i));
    return kNames[i];
}

BaselineKind baselineFromString(const std::string& name) {
    std::string valid;
    for (std::size_t i = 0; i < kNames.size(); ++i) {
        if (name == kNames[i]) return static_cast<BaselineKind>(i);
        valid += (i > 0 ? ", " : "") + std::string(kNames[i]);
    }
    throw ConfigError("unknown baseline '" + name + "' (valid: " + valid + ")");
}

const std::vector<BaselineKind>& allBaselines() {
    static const std::vector<BaselineKind> all = {
        BaselineKind::kPersistence, BaselineKind::kWindowMean, BaselineKind::kVelocity, BaselineKind::kLinearTrend,
        BaselineKind::kSes,         BaselineKind::kAr,         BaselineKind::kMlr};
    return all;
}

std::vector<double> rates(const History& h) {
    std::vector<double> r(h.n < 2 ? 0 : h.n - 1);
    for (std::size_t t = 0; t < r.size(); ++t)
        r[t] = (static_cast<double>(h.cumulative[t + 1]) - h.cumulative[t]) / (stepAt(h, t + 1) - stepAt(h, t));
    return r;
}

double sesAlpha(const std::vector<double>& r) {
    if (r.size() < 2) return 1.0 / kSesGrid;  // no one-step error: every a ties
    alignas(64) double sse[kSesGrid];
    sesScan(r.data(), r.size(), sse);
    double best = 0, bestSse = std::numeric_limits<double>::infinity();
    for (int k = 1; k <= kSesGrid; ++k) {
        if (sse[k - 1] < bestSse) {  // strict: ties keep the smaller a
            bestSse = sse[k - 1];
            best = static_cast<double>(k) / kSesGrid;
        }
    }
    return best;
}

namespace {

// fitAr for a given P, with matrices of at most MaxDim rows and columns (Eigen::Dynamic: any): the
// usual orders (P <= 5) keep them on the stack, with the same operations as the heap-allocated ones.
template <int MaxDim> ArFit fitArOrders(const std::vector<double>& r, int P) {
    using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, 0, MaxDim, MaxDim>;
    using Vector = Eigen::Matrix<double, Eigen::Dynamic, 1, 0, MaxDim, 1>;
    const auto m = static_cast<int>(r.size());
    const int count = m - P;
    // Centre the rates (conditioning: lags stay nearly orthogonal to the intercept); any constant works.
    double mu = 0;
    for (double v : r) mu += v;
    mu /= m;
    // Gram matrix of z = (1, x[t-1], ..., x[t-P], x[t]) over the targets, accumulated once (lower triangle,
    // then mirrored): every order's normal equations are its leading block and last column.
    const int dim = P + 2;
    Matrix gram = Matrix::Zero(dim, dim);
    Vector z = Vector::Ones(dim);
    for (int t = P; t < m; ++t) {
        for (int k = 1; k <= P; ++k) z[k] = r[t - k] - mu;
        z[P + 1] = r[t] - mu;
        for (int i = 0; i < dim; ++i)
            for (int j = 0; j <= i; ++j) gram(i, j) += z[i] * z[j];
    }
    for (int i = 0; i < dim; ++i)
        for (int j = i + 1; j < dim; ++j) gram(i, j) = gram(j, i);
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

}  // namespace

ArFit fitAr(const std::vector<double>& r, int maxOrder) {
    if (maxOrder < 0) throw std::invalid_argument("fitAr: maxOrder must be >= 0");
    const auto m = static_cast<int>(r.size());
    if (m == 0) return {0, {kNaN}};
    // Common targets t = P..m-1 for every order p <= P, with P limited so that they number at least P + 2
    // (P + 1 parameters and one residual degree of freedom): AICs then compare the same sample.
    const int P = std::min(maxOrder, std::max(0, (m - 2) / 2));
    constexpr int kStackDim = 7;  // maxOrder + 2 for the default maxOrder 5
    return maxOrder + 2 <= kStackDim ? fitArOrders<kStackDim>(r, P) : fitArOrders<Eigen::Dynamic>(r, P);
}

void forecastAr(const ArFit& fit, const std::vector<double>& r, int horizon, float* out) {
    iterate(fit.coefficients, fit.p, r, horizon, out);
}

MlrSums::MlrSums(int lagCount) : lags(lagCount) {
    if (lagCount < 0) throw std::invalid_argument("MlrSums: lags must be >= 0");
    const auto size = static_cast<std::size_t>(lagCount) + 1;
    xtx.assign(size * size, 0.0);
    xty.assign(size, 0.0);
}

void MlrSums::addPoint(const std::vector<double>& r) {
    const int size = lags + 1;
    // Samples in t order; only the upper triangle is accumulated and mirrored once at the end.
    std::vector<double> x(size, 1.0);  // (1, r[t-1], ..., r[t-lags])
    for (std::size_t t = lags; t < r.size(); ++t) {
        for (int k = 1; k <= lags; ++k) x[k] = r[t - k];
        for (int i = 0; i < size; ++i) {
            for (int j = i; j < size; ++j) xtx[i * size + j] += x[i] * x[j];
            xty[i] += x[i] * r[t];
        }
        ++n;
    }
    for (int i = 0; i < size; ++i)
        for (int j = 0; j < i; ++j) xtx[i * size + j] = xtx[j * size + i];
}

void MlrSums::merge(const MlrSums& other) {
    if (other.lags != lags || other.xtx.size() != xtx.size() || other.xty.size() != xty.size())
        throw std::invalid_argument("MlrSums::merge: lags differ (" + std::to_string(lags) + " vs " +
                                    std::to_string(other.lags) + ")");
    n += other.n;
    for (std::size_t i = 0; i < xtx.size(); ++i) xtx[i] += other.xtx[i];
    for (std::size_t i = 0; i < xty.size(); ++i) xty[i] += other.xty[i];
}

MlrModel solveMlr(const MlrSums& sums) {
    const int size = sums.lags + 1;
    MlrModel model{sums.lags, std::vector<double>(size, 0.0)};
    if (sums.n == 0) return model;
    Eigen::MatrixXd a = Eigen::Map<const Eigen::MatrixXd>(sums.xtx.data(), size, size);  // symmetric
    // Tiny ridge (1e-9 * mean diagonal) so that collinear lags (e.g. constant rates) still solve.
    a.diagonal().array() += 1e-9 * a.trace() / size;
    const Eigen::VectorXd b = Eigen::Map<const Eigen::VectorXd>(sums.xty.data(), size);
    const Eigen::VectorXd coef = a.ldlt().solve(b);
    model.coefficients.assign(coef.data(), coef.data() + size);
    return model;
}

void forecastMlr(const MlrModel& model, const std::vector<double>& r, int horizon, float* out) {
    iterate(model.coefficients, model.lags, r, horizon, out);
}

void forecastBaseline(BaselineKind kind, const History& h, int window, int horizon, float* out) {
    if (kind == BaselineKind::kMlr)
        throw std::invalid_argument("forecastBaseline: mlr is global; use MlrSums, solveMlr and forecastMlr");
    if (window < 2 || horizon < 0) throw std::invalid_argument("forecastBaseline: needs window >= 2 and horizon >= 0");
    if (h.n < 2) {  // no rate is defined
        fill(out, horizon, kNaN);
        return;
    }
    const auto L = static_cast<std::size_t>(window);
    switch (kind) {
        case BaselineKind::kPersistence: {  // the last rate, repeated
            fill(out, horizon, rates(h).back());
            return;
        }
        case BaselineKind::kWindowMean: {  // mean of the last window-1 rates (all when fewer), repeated
            const std::vector<double> r = rates(h);
            const std::size_t first = r.size() > L - 1 ? r.size() - (L - 1) : 0;
            double sum = 0;
            for (std::size_t t = first; t < r.size(); ++t) sum += r[t];
            fill(out, horizon, sum / static_cast<double>(r.size() - first));
            return;
        }
        case BaselineKind::kVelocity:  // OLS slope of c against steps over the whole history, repeated
            fill(out, horizon, olsSlope(h, 0));
            return;
        case BaselineKind::kLinearTrend:  // OLS slope over the last `window` epochs (all when fewer), repeated
            fill(out, horizon, olsSlope(h, h.n > L ? h.n - L : 0));
            return;
        case BaselineKind::kSes: {  // final level of SES with a fitted on the one-step errors, repeated
            const std::vector<double> r = rates(h);
            double level = 0;
            sesPass(r, sesAlpha(r), level);
            fill(out, horizon, level);
            return;
        }
        case BaselineKind::kAr: {  // AR(p) by AIC, iterated
            const std::vector<double> r = rates(h);
            forecastAr(fitAr(r), r, horizon, out);
            return;
        }
        case BaselineKind::kMlr: break;
    }
    throw std::invalid_argument("forecastBaseline: invalid BaselineKind");
}

}  // namespace hlstm::model
