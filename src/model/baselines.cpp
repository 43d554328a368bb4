// Per-point forecasting baselines: persistence, window mean, velocity, linear trend, SES, AR(p), the
// global multiple linear regression on lagged rates (the paper's Table III peers) and local_annual (a
// line and annual terms through the last 576 days).
#include "hlstm/model/baselines.hpp"

#include <immintrin.h>

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
constexpr std::array<const char*, 8> kNames = {"persistence", "window_mean", "velocity", "linear_trend",
                                               "ses",         "ar",          "mlr",      "local_annual"};
constexpr int kSesGrid = 100;  // a = 1/100, 2/100, ..., 100/100
constexpr int kArOrder = 5;    // forecastBaseline's AR: p <= 5 by AIC

void fill(float* out, int horizon, double value) { std::fill(out, out + horizon, static_cast<float>(value)); }

double stepAt(const History& h, std::size_t t) { return h.steps != nullptr ? h.steps[t] : static_cast<double>(t); }

// local_annual (baselines.hpp): the line and annual terms through the last kLocalAnnualWindowDays,
// their change over each of the next `horizon` nominal steps.
void forecastLocalAnnual(const History& h, int horizon, float* out) {
    fill(out, horizon, kNaN);
    const LocalAnnualFit fit = localAnnualFit(h);
    if (!fit.valid) return;
    for (int y = 0; y < horizon; ++y) out[y] = static_cast<float>(fit.at(y + 1.0) - fit.at(y));
}

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

}  // namespace

namespace {

// localAnnualFit's normal equations with each row of the sums one vector: lane j of row i adds
// e_i x e_j of every finite epoch in epoch order, without fused multiply-add, as the scalar loop
// does: the same sums bit for bit (HLSTM_BASELINES_ISA=portable runs the scalar loop).
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void addAnnualSumsAvx512(
    const History& h, const double* sinT, const double* cosT, double end, std::size_t from,
    std::array<std::array<double, 5>, 4>& a, std::size_t& count, std::size_t& first, std::size_t& last) {
    __m512d acc[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
    for (std::size_t t = from; t < h.n; ++t) {
        const double v = h.cumulative[t];
        if (!std::isfinite(v)) continue;
        const double ds = stepAt(h, t) - end;
        const __m512d e = _mm512_setr_pd(1.0, ds, sinT[t], cosT[t], v, 0.0, 0.0, 0.0);
        acc[0] = _mm512_add_pd(acc[0], _mm512_mul_pd(_mm512_set1_pd(1.0), e));
        acc[1] = _mm512_add_pd(acc[1], _mm512_mul_pd(_mm512_set1_pd(ds), e));
        acc[2] = _mm512_add_pd(acc[2], _mm512_mul_pd(_mm512_set1_pd(sinT[t]), e));
        acc[3] = _mm512_add_pd(acc[3], _mm512_mul_pd(_mm512_set1_pd(cosT[t]), e));
        ++count;
        if (first == h.n) first = t;
        last = t;
    }
    alignas(64) double row[8];
    for (int i = 0; i < 4; ++i) {
        _mm512_store_pd(row, acc[i]);
        for (int j = 0; j < 5; ++j) a[static_cast<std::size_t>(i)][static_cast<std::size_t>(j)] = row[j];
    }
}

}  // namespace

std::size_t localAnnualWindowStart(const double* steps, std::size_t n, double spacingDays) {
    const auto at = [steps](std::size_t t) { return steps != nullptr ? steps[t] : static_cast<double>(t); };
    if (n == 0) return 0;
    const double window = kLocalAnnualWindowDays / spacingDays;
    std::size_t from = n;
    while (from > 0 && at(from - 1) >= at(n - 1) - window) --from;
    return from;
}

LocalAnnualFit localAnnualFit(const History& h) {
    constexpr double kTwoPi = 6.283185307179586;
    LocalAnnualFit fit;
    if (h.n < 2) return fit;
    fit.perStep = kTwoPi * h.spacingDays / 365.25;  // phase per nominal step
    const auto phaseAt = [&](std::size_t t) { return h.phase != nullptr ? h.phase[t] : fit.perStep * stepAt(h, t); };
    // sin and cos of every epoch's phase, once per axis (per thread), not per point and cut.
    // Refilled when the axis (its arrays, or without them their first and last values) changes.
    thread_local std::vector<double> sinT, cosT, phases;
    thread_local const double *cachedPhase = nullptr, *cachedSteps = nullptr;
    thread_local std::size_t filled = 0;
    if (filled < h.n || cachedPhase != h.phase || cachedSteps != h.steps || phases[0] != phaseAt(0) ||
        phases[h.n - 1] != phaseAt(h.n - 1)) {
        phases.resize(h.n);
        sinT.resize(h.n);
        cosT.resize(h.n);
        for (std::size_t t = 0; t < h.n; ++t)
            phases[t] = phaseAt(t), sinT[t] = std::sin(phases[t]), cosT[t] = std::cos(phases[t]);
        cachedPhase = h.phase, cachedSteps = h.steps, filled = h.n;
    }
    const double end = stepAt(h, h.n - 1);
    const std::size_t from = localAnnualWindowStart(h.steps, h.n, h.spacingDays);
    // Normal equations of (1, step - end, sin, cos), the steps centred on the last epoch.
    std::array<std::array<double, 5>, 4> a{};
    std::size_t count = 0, first = h.n, last = h.n;
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    if (avx512 && baselineIsa() == BaselineIsa::kNative)
        addAnnualSumsAvx512(h, sinT.data(), cosT.data(), end, from, a, count, first, last);
    else
        for (std::size_t t = from; t < h.n; ++t) {
            const double v = h.cumulative[t];
            if (!std::isfinite(v)) continue;
            const double e[5] = {1.0, stepAt(h, t) - end, sinT[t], cosT[t], v};
            for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 5; ++j) a[i][j] += e[i] * e[j];
            ++count;
            if (first == h.n) first = t;
            last = t;
        }
    fit.valid = count >= 8 && stepAt(h, last) - stepAt(h, first) >= 365.0 / h.spacingDays &&
                solveNormalEquations(a, 4, fit.beta);
    fit.phaseEnd = phaseAt(h.n - 1);
    return fit;
}

double LocalAnnualFit::at(double y) const {
    return beta[0] + beta[1] * y + beta[2] * std::sin(phaseEnd + perStep * y) +
           beta[3] * std::cos(phaseEnd + perStep * y);
}

bool solveNormalEquations(const std::array<std::array<double, 5>, 4>& sums, int k, std::array<double, 4>& beta) {
    std::array<std::array<double, 5>, 4> a{};
    for (int i = 0; i < k; ++i) {
        for (int j = 0; j < k; ++j) a[i][j] = sums[i][j];
        a[i][4] = sums[i][4];
    }
    for (int col = 0; col < k; ++col) {
        int pivot = col;
        for (int r = col + 1; r < k; ++r)
            if (std::abs(a[r][col]) > std::abs(a[pivot][col])) pivot = r;
        if (std::abs(a[pivot][col]) < 1e-12) return false;
        std::swap(a[col], a[pivot]);
        for (int r = 0; r < k; ++r) {
            if (r == col) continue;
            const double factor = a[r][col] / a[col][col];
            for (int j = col; j < 5; ++j) a[r][j] -= factor * a[col][j];
        }
    }
    for (int i = 0; i < k; ++i) beta[i] = a[i][4] / a[i][i];
    return true;
}

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
        BaselineKind::kSes,         BaselineKind::kAr,         BaselineKind::kMlr,      BaselineKind::kLocalAnnual};
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
        case BaselineKind::kLocalAnnual: forecastLocalAnnual(h, horizon, out); return;
        case BaselineKind::kMlr: break;
    }
    throw std::invalid_argument("forecastBaseline: invalid BaselineKind");
}

void forecastBaselines(BaselineKind kind, const History* histories, std::size_t count, int window, int horizon,
                       float* out) {
    if (kind != BaselineKind::kAr || count == 0) {
        for (std::size_t i = 0; i < count; ++i)
            forecastBaseline(kind, histories[i], window, horizon, out + i * static_cast<std::size_t>(horizon));
        return;
    }
    if (window < 2 || horizon < 0) throw std::invalid_argument("forecastBaseline: needs window >= 2 and horizon >= 0");
    detail::forecastArRows(histories, count, horizon, out);
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
            if (m > 0 && detail::arOrderBound(m, kArOrder) == kArOrder) arSizes.push_back(m);
        }
        std::sort(arSizes.begin(), arSizes.end());
        arSizes.erase(std::unique(arSizes.begin(), arSizes.end()), arSizes.end());
        arFits = detail::fitArPrefixes(r.data(), arSizes, kArOrder);
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
            detail::iterate(mlr->coefficients, mlr->lags, r.data(), m, horizon, o);
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
                                      : detail::fitArPrefix(r.data(), m, kArOrder);
                detail::iterate(fit.coefficients, fit.p, r.data(), m, horizon, o);
                break;
            }
            case BaselineKind::kLocalAnnual: {
                History prefix = h;
                prefix.n = n;
                forecastLocalAnnual(prefix, horizon, o);
                break;
            }
            case BaselineKind::kMlr: break;
        }
    }
}

}  // namespace hlstm::model
