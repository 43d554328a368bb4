// The position baselines (issue 23): last value + velocity, a local line, the local line's level +
// velocity, line + annual terms and the same terms through the last model::kLocalAnnualWindowDays, fitted on a point's visible positions and extrapolated, at the
// last visible epoch and at the selection's cuts. Split from evaluate.cpp, which holds the
// validation cuts that score them.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "hlstm/model/baselines.hpp"
#include "hlstm/pipeline/evaluate.hpp"

namespace hlstm::pipeline {
namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr double kTwoPi = 6.283185307179586;  // radians per year of the annual phase
}  // namespace

const std::vector<std::string>& positionBaselineNames() {
    static const std::vector<std::string> names{"last_value+velocity", "local_line", "local_level+velocity",
                                                "line+annual", "local_line+annual"};
    return names;
}

namespace {

// Normal equations of c against the columns (1, step, sin, cos), summed over the finite epochs in
// epoch order: a[i][j] for i, j < 4, a[i][4] the right-hand side. The 2-column fit (a line)
// uses the leading block of the same sums.
using NormalSums = std::array<std::array<double, 5>, 4>;

// Solves the leading k x k block of `sums` (model::solveNormalEquations).
bool leastSquares(const NormalSums& sums, int k, std::array<double, 4>& beta) {
    return model::solveNormalEquations(sums, k, beta);
}

// sin and cos of the axis's annual phase for the first `epochs` epochs: the same for every point,
// so computed once per axis (per thread), not 2 x epochs library calls per point.
// `terms` holds (1, step, sin, cos, 0, 0, 0, 0) per epoch, the design row addPositionSumsAvx512
// loads whole; its steps are those of the axis the cache was made for.
struct AnnualTerms {
    std::vector<double> phase, steps, sin, cos, terms;
    const AnnualTerms& of(const model::TimeAxis& time, std::size_t epochs) {
        if (phase.size() != epochs || !std::equal(phase.begin(), phase.end(), time.phase.begin()) ||
            !std::equal(steps.begin(), steps.end(), time.steps.begin())) {
            phase.assign(time.phase.begin(), time.phase.begin() + static_cast<std::ptrdiff_t>(epochs));
            steps.assign(time.steps.begin(), time.steps.begin() + static_cast<std::ptrdiff_t>(epochs));
            sin.resize(epochs);
            cos.resize(epochs);
            for (std::size_t t = 0; t < epochs; ++t) sin[t] = std::sin(phase[t]), cos[t] = std::cos(phase[t]);
            terms.assign(8 * epochs, 0.0);
            for (std::size_t t = 0; t < epochs; ++t) {
                terms[8 * t] = 1.0, terms[8 * t + 1] = time.steps[t];
                terms[8 * t + 2] = sin[t], terms[8 * t + 3] = cos[t];
            }
        }
        return *this;
    }
};

}  // namespace

namespace {

// forecastPositions' normal equations: the finite epochs first..to-1 of c added in epoch order.
// Each row of the sums is one padded vector of 8, (d_0..d_3, v, 0, 0, 0) times d_i added per epoch:
// every entry gets the scalar loop's products in epoch order, without fused multiply-add, so the
// sums are the same bit for bit with a quarter of the instructions.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off", "tree-vectorize"))) void
addPositionSums(const float* c, const double* steps, const AnnualTerms& annualTerms, std::size_t from, std::size_t to,
                NormalSums& sums, std::size_t& finite) {
    constexpr int kPad = 8;
    alignas(64) double acc[4 * kPad];
    alignas(64) double e[kPad] = {};
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < kPad; ++j) acc[i * kPad + j] = j < 5 ? sums[i][j] : 0.0;
    const double* sinT = annualTerms.sin.data();
    const double* cosT = annualTerms.cos.data();
    std::size_t count = 0;
    for (std::size_t t = from; t < to; ++t) {
        if (!std::isfinite(c[t])) continue;
        e[0] = 1.0, e[1] = steps[t], e[2] = sinT[t], e[3] = cosT[t], e[4] = c[t];
        for (int i = 0; i < 4; ++i) {
            const double di = e[i];
            for (int j = 0; j < kPad; ++j) acc[i * kPad + j] += di * e[j];
        }
        ++count;
    }
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 5; ++j) sums[i][j] = acc[i * kPad + j];
    finite += count;
}

// addPositionSums with the design row built in a register, not stored value by value and loaded
// as a vector (a store-forwarding stall at every epoch): lanes 0..3 from the axis's terms, lane 4
// the point's value. Each entry gets d_i d_j of every finite epoch in epoch order, without fused
// multiply-add, as there: the same sums bit for bit (HLSTM_BASELINES_ISA=portable runs the other).
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void addPositionSumsAvx512(
    const float* c, const AnnualTerms& annualTerms, std::size_t from, std::size_t to, NormalSums& sums,
    std::size_t& finite) {
    alignas(64) double row[8];
    __m512d acc[4];
    for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 8; ++j) row[j] = j < 5 ? sums[i][j] : 0.0;
        acc[i] = _mm512_load_pd(row);
    }
    const double* terms = annualTerms.terms.data();
    std::size_t count = 0;
    for (std::size_t t = from; t < to; ++t) {
        if (!std::isfinite(c[t])) continue;
        const double* d = terms + 8 * t;
        const __m512d e = _mm512_mask_mov_pd(_mm512_loadu_pd(d), 0x10, _mm512_set1_pd(c[t]));
        acc[0] = _mm512_add_pd(acc[0], _mm512_mul_pd(_mm512_set1_pd(d[0]), e));
        acc[1] = _mm512_add_pd(acc[1], _mm512_mul_pd(_mm512_set1_pd(d[1]), e));
        acc[2] = _mm512_add_pd(acc[2], _mm512_mul_pd(_mm512_set1_pd(d[2]), e));
        acc[3] = _mm512_add_pd(acc[3], _mm512_mul_pd(_mm512_set1_pd(d[3]), e));
        ++count;
    }
    for (int i = 0; i < 4; ++i) {
        _mm512_store_pd(row, acc[i]);
        for (int j = 0; j < 5; ++j) sums[i][j] = row[j];
    }
    finite += count;
}

void addSums(const float* c, const double* steps, const AnnualTerms& annualTerms, std::size_t from, std::size_t to,
             NormalSums& sums, std::size_t& finite) {
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    if (avx512 && model::baselineIsa() == model::BaselineIsa::kNative)
        addPositionSumsAvx512(c, annualTerms, from, to, sums, finite);
    else
        addPositionSums(c, steps, annualTerms, from, to, sums, finite);
}

// Sums of the first epochs and how many of them were finite.
struct PrefixSums {
    NormalSums sums{};
    std::size_t finite = 0;
};

// The first epoch of local_line+annual's window before `epochs` (local_annual's).
std::size_t localWindowStart(const model::TimeAxis& time, std::size_t epochs) {
    return model::localAnnualWindowStart(time.steps.data(), epochs, time.spacingDays);
}

// forecastPositions from the sums of the first `epochs` epochs and of the first `from` =
// localWindowStart(epochs) (the window's sums are their difference: every prefix is summed once,
// in epoch order, at the last epoch as at the cuts).
void positionsFromSums(const float* c, const model::TimeAxis& time, std::size_t epochs, int horizon,
                       LevelRule levelRule, const PrefixSums& all, const PrefixSums& beforeWindow, std::size_t from,
                       float* out);

}  // namespace

void forecastPositions(const float* c, const model::TimeAxis& time, std::size_t epochs, int horizon,
                       LevelRule levelRule, float* out) {
    const std::size_t Y = static_cast<std::size_t>(horizon);
    std::fill(out, out + kPositionBaselines * Y, kNaN);
    if (epochs < 2) return;
    // Whole-history OLS velocity and the line + annual terms.
    // Summed as they come (no per-point design matrix): each sum in epoch order, as before.
    thread_local AnnualTerms cache;
    const AnnualTerms& annualTerms = cache.of(time, epochs);
    const std::size_t from = localWindowStart(time, epochs);
    PrefixSums all, beforeWindow;
    addSums(c, time.steps.data(), annualTerms, 0, from, all.sums, all.finite);
    beforeWindow = all;
    addSums(c, time.steps.data(), annualTerms, from, epochs, all.sums, all.finite);
    positionsFromSums(c, time, epochs, horizon, levelRule, all, beforeWindow, from, out);
}

void forecastPositionsAtCuts(const float* c, const model::TimeAxis& time, const std::size_t* cuts, std::size_t nCuts,
                             int horizon, LevelRule levelRule, float* out) {
    const std::size_t Y = static_cast<std::size_t>(horizon), J = kPositionBaselines;
    thread_local std::vector<std::size_t> order;
    order.resize(nCuts);
    for (std::size_t k = 0; k < nCuts; ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cuts[a] < cuts[b]; });
    std::size_t longest = 0;
    for (std::size_t k = 0; k < nCuts; ++k) longest = std::max(longest, cuts[k]);
    thread_local AnnualTerms cache;
    const AnnualTerms& annualTerms = cache.of(time, longest);
    // A prefix's sums are the first epochs' sums in epoch order: one pass, a snapshot at each cut
    // and at each cut's local window start.
    thread_local std::vector<std::size_t> bounds;  // reused: this runs once per validation row
    thread_local std::vector<PrefixSums> snapshots;
    bounds.clear();
    for (std::size_t k = 0; k < nCuts; ++k)
        if (cuts[k] >= 2) bounds.push_back(cuts[k]), bounds.push_back(localWindowStart(time, cuts[k]));
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    snapshots.resize(bounds.size());
    PrefixSums sums;
    std::size_t done = 0;
    for (std::size_t b = 0; b < bounds.size(); ++b) {
        addSums(c, time.steps.data(), annualTerms, done, bounds[b], sums.sums, sums.finite);
        done = bounds[b];
        snapshots[b] = sums;
    }
    const auto at = [&](std::size_t epoch) -> const PrefixSums& {
        return snapshots[static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), epoch) -
                                                  bounds.begin())];
    };
    for (const std::size_t k : order) {
        float* o = out + k * J * Y;
        std::fill(o, o + J * Y, kNaN);
        if (cuts[k] < 2) continue;
        const std::size_t from = localWindowStart(time, cuts[k]);
        positionsFromSums(c, time, cuts[k], horizon, levelRule, at(cuts[k]), at(from), from, o);
    }
}

namespace {

// The line and annual terms through the epochs from..epochs-1 (the last model::kLocalAnnualWindowDays), from
// their sums: false when fewer than 8 are finite or they span less than a year (the annual terms
// would be confounded with the line).
bool localAnnualFit(const float* c, const model::TimeAxis& time, std::size_t epochs, const PrefixSums& all,
                    const PrefixSums& beforeWindow, std::size_t from, std::array<double, 4>& beta) {
    const double* steps = time.steps.data();
    std::size_t first = epochs, last = epochs;
    for (std::size_t t = from; t < epochs && first == epochs; ++t)
        if (std::isfinite(c[t])) first = t;
    for (std::size_t t = epochs; t-- > from && last == epochs;)
        if (std::isfinite(c[t])) last = t;
    if (first == epochs || all.finite - beforeWindow.finite < 8 ||
        steps[last] - steps[first] < 365.0 / time.spacingDays)
        return false;
    NormalSums window;
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 5; ++j) window[i][j] = all.sums[i][j] - beforeWindow.sums[i][j];
    return leastSquares(window, 4, beta);
}

void positionsFromSums(const float* c, const model::TimeAxis& time, std::size_t epochs, int horizon,
                       LevelRule levelRule, const PrefixSums& all, const PrefixSums& beforeWindow, std::size_t from,
                       float* out) {
    const std::size_t Y = static_cast<std::size_t>(horizon);
    const double* steps = time.steps.data();
    const NormalSums& sums = all.sums;
    const std::size_t finite = all.finite;
    std::array<double, 4> line{}, annual{}, localAnnual{};
    const bool hasLine = finite >= 2 && leastSquares(sums, 2, line);
    const bool hasAnnual = finite >= 5 && leastSquares(sums, 4, annual);
    const bool hasLocalAnnual = localAnnualFit(c, time, epochs, all, beforeWindow, from, localAnnual);
    // The last finite value and the local line (level at the last epoch, slope).
    std::size_t lastT = epochs;
    for (std::size_t t = epochs; t-- > 0;)
        if (std::isfinite(c[t])) {
            lastT = t;
            break;
        }
    if (lastT == epochs) return;
    // The positions' level (local_level+velocity's) and the plain local line's (local_line's).
    const double level = localLevel(c, time, epochs, levelRule);
    const double lineLevel = localLevel(c, steps, epochs, kLocalLineEpochs);
    // Slope of the local line through the last kLocalLineEpochs epochs.
    double localSlope = std::nan("");
    {
        const std::size_t n = static_cast<std::size_t>(kLocalLineEpochs);
        const std::size_t from = epochs > n ? epochs - n : 0;
        double k = 0, st = 0, sc = 0;
        for (std::size_t t = from; t < epochs; ++t)
            if (std::isfinite(c[t])) {
                k += 1;
                st += steps[t];
                sc += c[t];
            }
        if (k >= 3) {
            double stt = 0, stc = 0;
            for (std::size_t t = from; t < epochs; ++t)
                if (std::isfinite(c[t])) {
                    stt += (steps[t] - st / k) * (steps[t] - st / k);
                    stc += (steps[t] - st / k) * (c[t] - sc / k);
                }
            if (stt > 0) localSlope = stc / stt;
        }
    }
    const double velocity = hasLine ? line[1] : std::nan("");
    const double tEnd = steps[epochs - 1];
    for (std::size_t y = 0; y < Y; ++y) {
        const std::size_t t = epochs + y;
        const double s = t < time.steps.size() ? steps[t] : tEnd + static_cast<double>(y + 1);
        // Beyond the axis (the next epochs) the annual phase goes on at the nominal spacing.
        const double ph = t < time.phase.size() ? time.phase[t]
                          : time.phase.empty()
                              ? std::nan("")
                              : time.phase.back() + kTwoPi * time.spacingDays / 365.25 * (s - time.steps.back());
        out[0 * Y + y] = static_cast<float>(c[lastT] + velocity * (s - steps[lastT]));
        out[1 * Y + y] = static_cast<float>(lineLevel + localSlope * (s - tEnd));
        out[2 * Y + y] = static_cast<float>(level + velocity * (s - tEnd));
        if (hasAnnual)
            out[3 * Y + y] =
                static_cast<float>(annual[0] + annual[1] * s + annual[2] * std::sin(ph) + annual[3] * std::cos(ph));
        if (hasLocalAnnual)
            out[4 * Y + y] = static_cast<float>(localAnnual[0] + localAnnual[1] * s + localAnnual[2] * std::sin(ph) +
                                                localAnnual[3] * std::cos(ph));
    }
}

}  // namespace

}  // namespace hlstm::pipeline
