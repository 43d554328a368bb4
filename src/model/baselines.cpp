// Per-point forecasting baselines: persistence, window mean, velocity, linear trend, SES, AR(p) and the
// global multiple linear regression on lagged rates (the paper's Table III peers).
#include "hlstm/model/baselines.hpp"

#include <immintrin.h>

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "ar_solve.hpp"
#include "hlstm/core/error.hpp"

namespace hlstm::model {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::array<const char*, 7> kNames = {"persistence", "window_mean", "velocity", "linear_trend",
                                               "ses",         "ar",          "mlr"};
constexpr int kSesGrid = 100;        // a = 1/100, 2/100, ..., 100/100
constexpr double kPivotTol = 1e-10;  // a lag column with 1 - R^2 below this on the others is collinear
constexpr double kRssFloor = 1e-10;  // an AR fit better than this fraction of the variance is exact
constexpr int kArOrder = 5;          // forecastBaseline's AR: p <= 5 by AIC

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

// olsSlope(prefix ends[k], firsts[k]) for k < count <= 8 cuts of one history side by side, one
// AVX-512 lane each (a lane adds only at its own epochs, masked, in epoch order from 0): each lane
// does olsSlope's operations in its order without fused multiply-add, so the slopes are its bit for bit.
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void olsSlopesAvx512(const History& h,
                                                                                     const std::size_t* firsts,
                                                                                     const std::size_t* ends,
                                                                                     std::size_t count, double* out) {
    alignas(64) std::int64_t lo[8], hi[8];
    std::size_t from = std::numeric_limits<std::size_t>::max(), to = 0;
    for (std::size_t k = 0; k < 8; ++k) {
        lo[k] = k < count ? static_cast<std::int64_t>(firsts[k]) : 0;
        hi[k] = k < count ? static_cast<std::int64_t>(ends[k]) : 0;  // no epoch: the lane stays 0
        if (k < count) from = std::min(from, firsts[k]), to = std::max(to, ends[k]);
    }
    const __m512i loV = _mm512_load_si512(lo), hiV = _mm512_load_si512(hi);
    const auto active = [&](std::size_t t) {
        const __m512i tv = _mm512_set1_epi64(static_cast<std::int64_t>(t));
        return static_cast<__mmask8>(_mm512_cmple_epi64_mask(loV, tv) & _mm512_cmplt_epi64_mask(tv, hiV));
    };
    __m512d sumS = _mm512_setzero_pd(), sumC = _mm512_setzero_pd();
    for (std::size_t t = from; t < to; ++t) {
        const __mmask8 m = active(t);
        sumS = _mm512_mask_add_pd(sumS, m, sumS, _mm512_set1_pd(stepAt(h, t)));
        sumC = _mm512_mask_add_pd(sumC, m, sumC, _mm512_set1_pd(h.cumulative[t]));
    }
    alignas(64) double n[8];
    for (std::size_t k = 0; k < 8; ++k) n[k] = k < count ? static_cast<double>(ends[k] - firsts[k]) : 1.0;
    const __m512d nV = _mm512_load_pd(n);
    const __m512d meanS = _mm512_div_pd(sumS, nV), meanC = _mm512_div_pd(sumC, nV);
    __m512d sxx = _mm512_setzero_pd(), sxy = _mm512_setzero_pd();
    for (std::size_t t = from; t < to; ++t) {
        const __mmask8 m = active(t);
        const __m512d ds = _mm512_sub_pd(_mm512_set1_pd(stepAt(h, t)), meanS);
        const __m512d dc = _mm512_sub_pd(_mm512_set1_pd(h.cumulative[t]), meanC);
        sxx = _mm512_mask_add_pd(sxx, m, sxx, _mm512_mul_pd(ds, ds));
        sxy = _mm512_mask_add_pd(sxy, m, sxy, _mm512_mul_pd(ds, dc));
    }
    alignas(64) double slope[8];
    _mm512_store_pd(slope, _mm512_div_pd(sxy, sxx));
    std::copy_n(slope, count, out);
}

// olsSlope of `count` prefixes of h (ends[k] epochs from firsts[k]; each end >= 2, > first).
void olsSlopes(const History& h, const std::size_t* firsts, const std::size_t* ends, std::size_t count, double* out) {
    const bool avx512 = detail::useAvx512();
    for (std::size_t k0 = 0; k0 < count; k0 += 8) {
        const std::size_t n = std::min<std::size_t>(8, count - k0);
        if (avx512) {
            olsSlopesAvx512(h, firsts + k0, ends + k0, n, out + k0);
        } else {
            for (std::size_t k = k0; k < k0 + n; ++k) out[k] = olsSlope({h.cumulative, h.steps, ends[k]}, firsts[k]);
        }
    }
}

// One pass of SES with constant a: l_0 = r_0, l_t = l_{t-1} + a (r_t - l_{t-1}); returns the sum of squared
// one-step errors r_t - l_{t-1} (t = 1..m-1) and stores the final level. O(m), no allocation. The
// definition every scan lane below reproduces (the forecasts take the lanes' levels).
[[maybe_unused]] double sesPass(const std::vector<double>& r, double a, double& level) {
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
// A lane does sesPass's operations in sesPass's order (no fused multiply-add), so its sum is bit for
// bit the one a pass of its own gives; the lanes are independent, so the loop over a vectorises
// instead of waiting on one level's chain. With snapshots: after the first lens[s] rates (lens
// ascending, each >= 1), every lane's sum and level are stored in sse/level[s * kSesGrid + k], so one
// scan gives the alpha and the final level of every prefix bit for bit (the validation cuts of one
// point are prefixes of its series). This is the portable version; sesScanAvx512 below keeps the
// lanes in registers.
__attribute__((target_clones("avx2", "default"))) void sesScanPortable(const double* r, const std::size_t* lens,
                                                                       std::size_t nLens, double* __restrict sseOut,
                                                                       double* __restrict levelOut) {
    alignas(64) double level[kSesGrid];
    alignas(64) double sse[kSesGrid];
    alignas(64) double a[kSesGrid];
    for (int k = 0; k < kSesGrid; ++k) {
        a[k] = static_cast<double>(k + 1) / kSesGrid;
        level[k] = r[0];
        sse[k] = 0;
    }
    std::size_t t = 1;
    for (std::size_t s = 0; s < nLens; ++s) {
        for (; t < lens[s]; ++t) {
            const double x = r[t];
#pragma GCC ivdep
            for (int k = 0; k < kSesGrid; ++k) {
                const double e = x - level[k];
                sse[k] += e * e;
                level[k] += a[k] * e;
            }
        }
        std::copy_n(sse, kSesGrid, sseOut + s * kSesGrid);
        if (levelOut != nullptr) std::copy_n(level, kSesGrid, levelOut + s * kSesGrid);
    }
}

// sesScanPortable with the 100 lanes in 13 AVX-512 registers of levels and 13 of sums (the last
// register's 4 spare lanes scan a = 0 and are never stored): the compiler's version keeps them in
// memory and reloads and stores both at every epoch (~2.5x slower, measured at 1,000,000 x 200).
// Separate multiply and add (fp-contract off): each lane's operations are sesPass's, bit for bit.
constexpr int kSesVectors = (kSesGrid + 7) / 8;
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void sesScanAvx512(const double* r,
                                                                                   const std::size_t* lens,
                                                                                   std::size_t nLens,
                                                                                   double* __restrict sseOut,
                                                                                   double* __restrict levelOut) {
    alignas(64) double aLanes[kSesVectors * 8] = {};
    for (int k = 0; k < kSesGrid; ++k) aLanes[k] = static_cast<double>(k + 1) / kSesGrid;
    __m512d level[kSesVectors], sse[kSesVectors];
#pragma GCC unroll 13
    for (int v = 0; v < kSesVectors; ++v) {
        level[v] = _mm512_set1_pd(r[0]);
        sse[v] = _mm512_setzero_pd();
    }
    alignas(64) double spill[kSesVectors * 8];
    std::size_t t = 1;
    for (std::size_t s = 0; s < nLens; ++s) {
        for (; t < lens[s]; ++t) {
            const __m512d x = _mm512_set1_pd(r[t]);
#pragma GCC unroll 13
            for (int v = 0; v < kSesVectors; ++v) {
                const __m512d e = _mm512_sub_pd(x, level[v]);
                sse[v] = _mm512_add_pd(sse[v], _mm512_mul_pd(e, e));
                level[v] = _mm512_add_pd(level[v], _mm512_mul_pd(_mm512_load_pd(aLanes + 8 * v), e));
            }
        }
#pragma GCC unroll 13
        for (int v = 0; v < kSesVectors; ++v) _mm512_store_pd(spill + 8 * v, sse[v]);
        std::copy_n(spill, kSesGrid, sseOut + s * kSesGrid);
        if (levelOut != nullptr) {
#pragma GCC unroll 13
            for (int v = 0; v < kSesVectors; ++v) _mm512_store_pd(spill + 8 * v, level[v]);
            std::copy_n(spill, kSesGrid, levelOut + s * kSesGrid);
        }
    }
}

void sesScanPrefixes(const double* r, const std::size_t* lens, std::size_t nLens, double* sseOut, double* levelOut) {
    const bool avx512 = detail::useAvx512();
    if (avx512)
        sesScanAvx512(r, lens, nLens, sseOut, levelOut);
    else
        sesScanPortable(r, lens, nLens, sseOut, levelOut);
}

// The sums of every a over all m rates (sesAlpha's scan).
void sesScan(const double* r, std::size_t m, double* sse) { sesScanPrefixes(r, &m, 1, sse, nullptr); }

// sesAlpha's choice among the sums of one scan: the smallest sum, ties to the smaller a; its lane.
int bestSesLane(const double* sse) {
    int best = 0;
    double bestSse = std::numeric_limits<double>::infinity();
    for (int k = 0; k < kSesGrid; ++k)
        if (sse[k] < bestSse) {  // strict: ties keep the smaller a
            bestSse = sse[k];
            best = k;
        }
    return best;
}

// y[t] = c_0 + sum_k c_k y[t-k], fed back `horizon` times from the last `lags` values of `r`.
void iterate(const std::vector<double>& coefficients, int lags, const double* r, std::size_t m, int horizon,
             float* out) {
    if (m < static_cast<std::size_t>(lags) || coefficients.empty()) {
        fill(out, horizon, kNaN);
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

namespace {

// rates() into r (size n - 1): the steps' test out of the loop so that it vectorises (each quotient is
// IEEE-rounded alike in a vector, so the values are the scalar loop's bit for bit).
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("tree-vectorize", "vect-cost-model=dynamic"))) void
ratesInto(const float* __restrict c, const double* __restrict steps, std::size_t size, double* __restrict r) {
    if (steps != nullptr) {
        for (std::size_t t = 0; t < size; ++t)
            r[t] = (static_cast<double>(c[t + 1]) - c[t]) / (steps[t + 1] - steps[t]);
    } else {
        for (std::size_t t = 0; t < size; ++t)
            r[t] = (static_cast<double>(c[t + 1]) - c[t]) / (static_cast<double>(t + 1) - static_cast<double>(t));
    }
}

}  // namespace

std::vector<double> rates(const History& h) {
    std::vector<double> r(h.n < 2 ? 0 : h.n - 1);
    if (!r.empty()) ratesInto(h.cumulative, h.steps, r.size(), r.data());
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
    detail::addArGramFast(r, P, m, P, mu, g.data);
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
    for (const int m : sizes) {
        detail::addArGramFast(r, done, m, P, mu, g.data);
        done = m;
        fits.push_back(solveAr(g.data, P, m - P, mu));
    }
    return fits;
}

}  // namespace

ArFit fitAr(const std::vector<double>& r, int maxOrder) { return fitArPrefix(r.data(), r.size(), maxOrder); }

void forecastAr(const ArFit& fit, const std::vector<double>& r, int horizon, float* out) {
    iterate(fit.coefficients, fit.p, r.data(), r.size(), horizon, out);
}

MlrSums::MlrSums(int lagCount) : lags(lagCount) {
    if (lagCount < 0) throw std::invalid_argument("MlrSums: lags must be >= 0");
    const auto size = static_cast<std::size_t>(lagCount) + 1;
    xtx.assign(size * size, 0.0);
    xty.assign(size, 0.0);
}

namespace {

// MlrSums::addPoint's accumulation: samples in t order, each entry of the upper triangle summed in
// that order as before; the entries of a row are independent lanes, so the row vectorises. No fused
// multiply-add (the AVX-512 clone would contract x_i x_j + sum otherwise): the sums stay bit for bit.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off", "tree-vectorize"))) void
addMlrSamples(const double* r, std::size_t m, int lags, double* __restrict x, double* __restrict xtx,
              double* __restrict xty) {
    const int size = lags + 1;
    constexpr int kPad = 16;  // two AVX-512 vectors of doubles
    if (size <= kPad) {
        // Each row of the triangle summed over a full padded row (fixed length: whole vectors, no
        // remainder loop); the entries left of the diagonal and past `size` are summed too but
        // never kept. An upper entry gets x_i x_j of every sample in t order, as below.
        alignas(64) double acc[kPad * kPad];
        alignas(64) double xp[kPad] = {};
        for (int i = 0; i < size; ++i)
            for (int j = 0; j < kPad; ++j) acc[i * kPad + j] = j < size ? xtx[i * size + j] : 0.0;
        xp[0] = 1.0;
        for (std::size_t t = static_cast<std::size_t>(lags); t < m; ++t) {
            for (int k = 1; k <= lags; ++k) xp[k] = r[t - static_cast<std::size_t>(k)];
            const double y = r[t];
            for (int i = 0; i < size; ++i) {
                const double xi = xp[i];
                double* row = acc + i * kPad;
                for (int j = 0; j < kPad; ++j) row[j] += xi * xp[j];
                xty[i] += xi * y;
            }
        }
        for (int i = 0; i < size; ++i)
            for (int j = i; j < size; ++j) xtx[i * size + j] = acc[i * kPad + j];
        return;
    }
    x[0] = 1.0;  // (1, r[t-1], ..., r[t-lags])
    for (std::size_t t = static_cast<std::size_t>(lags); t < m; ++t) {
        for (int k = 1; k <= lags; ++k) x[k] = r[t - static_cast<std::size_t>(k)];
        const double y = r[t];
        for (int i = 0; i < size; ++i) {
            const double xi = x[i];
            double* row = xtx + static_cast<std::ptrdiff_t>(i) * size;
#pragma GCC ivdep
            for (int j = i; j < size; ++j) row[j] += xi * x[j];
            xty[i] += xi * y;
        }
    }
}

// addMlrSamples for 12 lags (the run's MLR) with the upper triangle and xty in 19 AVX-512
// registers instead of 26 padded rows in memory: row i's vectors hold the entries (i, i..i+7) and,
// for i <= 5, (i, i+8..i+15) of the row extended by y (column 13 = xty[i]); each entry gets x_i x_j
// (or x_i y) of every sample in t order without fused multiply-add, as addMlrSamples. A row's
// lags are read as one vector from the rates reversed (rr[k] = r[m-1-k]: x_j = r[t-j] lies at
// rr[m-1-t+j]), not from a window stored value by value (which a vector load must wait for).
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void addMlrSamples12Avx512(const double* r,
                                                                                           std::size_t m,
                                                                                           double* __restrict xtx,
                                                                                           double* __restrict xty) {
    constexpr int kLags = 12, kSize = kLags + 1, kTwo = 6;  // rows 0..5 span two vectors
    alignas(64) double lane[16];
    const auto entry = [&](int i, int j) { return j < kSize ? xtx[i * kSize + j] : j == kSize ? xty[i] : 0.0; };
    __m512d lo[kSize], hi[kTwo];
#pragma GCC unroll 13
    for (int i = 0; i < kSize; ++i) {
        for (int k = 0; k < 16; ++k) lane[k] = entry(i, i + k);
        lo[i] = _mm512_load_pd(lane);
        if (i < kTwo) hi[i] = _mm512_load_pd(lane + 8);
    }
    std::vector<double> rr(m);
    for (std::size_t k = 0; k < m; ++k) rr[k] = r[m - 1 - k];
    // Lane k of row i's first vector is column i + k: a lag while i + k <= 12, y at 13, 0 past it.
    const auto lagMask = [](int first) {
        return static_cast<__mmask8>(first >= kSize ? 0 : first + 8 <= kSize ? 0xff : (1u << (kSize - first)) - 1u);
    };
    const auto yMask = [](int first) {
        return static_cast<__mmask8>(first <= kSize && kSize < first + 8 ? 1u << (kSize - first) : 0u);
    };
    for (std::size_t t = kLags; t < m; ++t) {
        const double* x = rr.data() + (m - 1 - t);  // x[j] = r[t - j]; x[0] = y
        const __m512d y = _mm512_set1_pd(x[0]);
#pragma GCC unroll 13
        for (int i = 0; i < kSize; ++i) {
            const __m512d xi = _mm512_set1_pd(i == 0 ? 1.0 : x[i]);
            __m512d v = _mm512_mask_mov_pd(_mm512_maskz_loadu_pd(lagMask(i), x + i), yMask(i), y);
            if (i == 0) v = _mm512_mask_mov_pd(v, 0x01, _mm512_set1_pd(1.0));  // column 0: the intercept's 1
            lo[i] = _mm512_add_pd(lo[i], _mm512_mul_pd(xi, v));
            if (i < kTwo) {
                const __m512d w = _mm512_mask_mov_pd(_mm512_maskz_loadu_pd(lagMask(i + 8), x + i + 8), yMask(i + 8), y);
                hi[i] = _mm512_add_pd(hi[i], _mm512_mul_pd(xi, w));
            }
        }
    }
#pragma GCC unroll 13
    for (int i = 0; i < kSize; ++i) {
        _mm512_store_pd(lane, lo[i]);
        if (i < kTwo) _mm512_store_pd(lane + 8, hi[i]);
        for (int j = i; j <= kSize; ++j) (j < kSize ? xtx[i * kSize + j] : xty[i]) = lane[j - i];
    }
}

}  // namespace

void MlrSums::addPoint(const std::vector<double>& r) {
    const int size = lags + 1;
    // Samples in t order; only the upper triangle is accumulated and mirrored once at the end.
    std::vector<double> x(static_cast<std::size_t>(size), 1.0);
    if (lags == 12 && detail::useAvx512())
        addMlrSamples12Avx512(r.data(), r.size(), xtx.data(), xty.data());
    else
        addMlrSamples(r.data(), r.size(), lags, x.data(), xtx.data(), xty.data());
    if (r.size() > static_cast<std::size_t>(lags)) n += r.size() - static_cast<std::size_t>(lags);
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
    iterate(model.coefficients, model.lags, r.data(), r.size(), horizon, out);
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
            // sesPass(r, sesAlpha(r)) without the second pass: the scan's lane of the chosen a
            // ends at that pass's level bit for bit (forecastAtCuts's snapshots).
            const std::vector<double> r = rates(h);
            const std::size_t m = r.size();
            alignas(64) double sse[kSesGrid];
            alignas(64) double level[kSesGrid];
            sesScanPrefixes(r.data(), &m, 1, sse, level);
            fill(out, horizon, level[bestSesLane(sse)]);
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

void forecastAtCuts(BaselineKind kind, const History& h, const std::size_t* cuts, std::size_t nCuts, int window,
                    int horizon, const MlrModel* mlr, float* out) {
    if (kind == BaselineKind::kMlr && mlr == nullptr)
        throw std::invalid_argument("forecastAtCuts: mlr needs its model");
    if (kind != BaselineKind::kMlr && (window < 2 || horizon < 0))
        throw std::invalid_argument("forecastAtCuts: needs window >= 2 and horizon >= 0");
    const auto Y = static_cast<std::size_t>(std::max(horizon, 0));
    // Every cut's rates are a prefix of the longest cut's: r[t] depends on epochs t and t + 1 only.
    std::size_t longest = 0;
    for (std::size_t c = 0; c < nCuts; ++c) longest = std::max(longest, std::min(cuts[c], h.n));
    const std::vector<double> r = rates({h.cumulative, h.steps, longest});
    // SES: one scan over the longest prefix with a snapshot at every cut (sesScanPrefixes).
    std::vector<double> sesSse, sesLevel;
    std::vector<std::size_t> sesLens;
    if (kind == BaselineKind::kSes) {
        for (std::size_t c = 0; c < nCuts; ++c)
            if (std::min(cuts[c], h.n) >= 2) sesLens.push_back(std::min(cuts[c], h.n) - 1);
        std::sort(sesLens.begin(), sesLens.end());
        sesLens.erase(std::unique(sesLens.begin(), sesLens.end()), sesLens.end());
        sesSse.resize(sesLens.size() * kSesGrid);
        sesLevel.resize(sesSse.size());
        if (!sesLens.empty()) sesScanPrefixes(r.data(), sesLens.data(), sesLens.size(), sesSse.data(), sesLevel.data());
    }
    // AR: the prefixes with the full order bound share incremental normal equations (fitArPrefixes).
    std::vector<int> arSizes;
    std::vector<ArFit> arFits;
    if (kind == BaselineKind::kAr) {
        for (std::size_t c = 0; c < nCuts; ++c) {
            const std::size_t n = std::min(cuts[c], h.n);
            const int m = n < 2 ? 0 : static_cast<int>(n - 1);
            if (m > 0 && arOrderBound(m, kArOrder) == kArOrder) arSizes.push_back(m);
        }
        std::sort(arSizes.begin(), arSizes.end());
        arSizes.erase(std::unique(arSizes.begin(), arSizes.end()), arSizes.end());
        arFits = fitArPrefixes(r.data(), arSizes, kArOrder);
    }
    // Velocity and linear trend: the cuts' slopes side by side (olsSlopes).
    std::vector<double> slopes;
    if (kind == BaselineKind::kVelocity || kind == BaselineKind::kLinearTrend) {
        const auto L = static_cast<std::size_t>(window);
        std::vector<std::size_t> firsts, ends;
        for (std::size_t c = 0; c < nCuts; ++c) {
            const std::size_t n = std::min(cuts[c], h.n);
            if (n < 2) continue;
            firsts.push_back(kind == BaselineKind::kVelocity || n <= L ? 0 : n - L);
            ends.push_back(n);
        }
        slopes.resize(ends.size());
        olsSlopes(h, firsts.data(), ends.data(), ends.size(), slopes.data());
    }
    std::size_t slope = 0;  // the next of `slopes`, in cut order
    for (std::size_t c = 0; c < nCuts; ++c) {
        float* o = out + c * Y;
        const std::size_t n = std::min(cuts[c], h.n);
        const std::size_t m = n < 2 ? 0 : n - 1;  // rates of the prefix
        if (kind == BaselineKind::kMlr) {         // as forecastMlr on rates() of the prefix
            iterate(mlr->coefficients, mlr->lags, r.data(), m, horizon, o);
            continue;
        }
        if (n < 2) {  // no rate is defined
            fill(o, horizon, kNaN);
            continue;
        }
        const auto L = static_cast<std::size_t>(window);
        switch (kind) {
            case BaselineKind::kPersistence: fill(o, horizon, r[m - 1]); break;
            case BaselineKind::kWindowMean: {
                const std::size_t first = m > L - 1 ? m - (L - 1) : 0;
                double sum = 0;
                for (std::size_t t = first; t < m; ++t) sum += r[t];
                fill(o, horizon, sum / static_cast<double>(m - first));
                break;
            }
            case BaselineKind::kVelocity:
            case BaselineKind::kLinearTrend: fill(o, horizon, slopes[slope++]); break;
            case BaselineKind::kSes: {
                const std::size_t s =
                    static_cast<std::size_t>(std::lower_bound(sesLens.begin(), sesLens.end(), m) - sesLens.begin());
                fill(o, horizon, sesLevel[s * kSesGrid + static_cast<std::size_t>(bestSesLane(&sesSse[s * kSesGrid]))]);
                break;
            }
            case BaselineKind::kAr: {
                const auto at = std::lower_bound(arSizes.begin(), arSizes.end(), static_cast<int>(m));
                const ArFit fit = at != arSizes.end() && *at == static_cast<int>(m)
                                      ? arFits[static_cast<std::size_t>(at - arSizes.begin())]
                                      : fitArPrefix(r.data(), m, kArOrder);
                iterate(fit.coefficients, fit.p, r.data(), m, horizon, o);
                break;
            }
            case BaselineKind::kMlr: break;
        }
    }
}

}  // namespace hlstm::model
