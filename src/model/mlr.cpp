// The global multiple linear regression on lagged rates (the paper's MLR baseline; split from
// baselines.cpp): its normal equations summed per point (AVX-512 registers for 12 lags), merged
// across subregions in a fixed order, solved with a tiny ridge, and iterated.
#include <immintrin.h>

#include <Eigen/Dense>
#include <stdexcept>
#include <string>
#include <vector>

#include "ar_solve.hpp"
#include "hlstm/model/baselines.hpp"

namespace hlstm::model {

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
    detail::iterate(model.coefficients, model.lags, r.data(), r.size(), horizon, out);
}

}  // namespace hlstm::model
