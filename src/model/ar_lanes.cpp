// AR(p)'s fits of order bound 5 solved 8 at a time (ar_solve.hpp's solveAr5Lanes): one fit per
// AVX-512 lane, each lane doing solveArSmall's and ldltSolveN's operations (ar_solve.cpp) in their
// order. Branches on a lane's values become selects: the pivot's row is chosen and swapped per lane,
// a lane whose order failed stays out of the higher orders, as the scalar loop's `break`. No fused
// multiply-add (fp-contract off), sqrt and division are IEEE-rounded alike in a vector, and the
// logarithms are std::log of each lane: every fit is the scalar one bit for bit (tested in
// tests/model/test_baselines.cpp). The solves were ~2/3 of AR's time (five orders per fit, scalar).
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "ar_solve.hpp"

namespace hlstm::model::detail {
namespace {

#pragma GCC push_options
#pragma GCC target("avx512f")
#pragma GCC optimize("fp-contract=off")

using V = __m512d;
using M = __mmask8;
constexpr int kN = kSmallArOrder + 1;  // the largest system: intercept and 5 lags

inline V add(V a, V b) { return _mm512_add_pd(a, b); }
inline V sub(V a, V b) { return _mm512_sub_pd(a, b); }
inline V mul(V a, V b) { return _mm512_mul_pd(a, b); }
inline V quot(V a, V b) { return _mm512_div_pd(a, b); }
inline V all(double v) { return _mm512_set1_pd(v); }
// b where m is set, a elsewhere.
inline V pick(M m, V a, V b) { return _mm512_mask_blend_pd(m, a, b); }
inline void swapWhere(M m, V& a, V& b) {
    const V t = a;
    a = pick(m, a, b);
    b = pick(m, b, t);
}
inline M greater(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }  // a > b, false with NaN
inline M less(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
inline M equal(V a, double b) { return _mm512_cmp_pd_mask(a, all(b), _CMP_EQ_OQ); }
// std::max(a, b) = a < b ? b : a (NaN in a kept).
inline V maxOf(V a, V b) { return pick(less(a, b), a, b); }

// std::log of each lane (the scalar code's logarithm, not a vector approximation).
inline V logLanes(V x) {
    alignas(64) double lane[8];
    _mm512_store_pd(lane, x);
    for (double& v : lane) v = std::log(v);
    return _mm512_load_pd(lane);
}

// ar_solve.cpp's dotPackets, lane by lane.
inline V dotLanes(const V* u, const V* v, int n) {
    if (n < 2) return n == 1 ? mul(u[0], v[0]) : _mm512_setzero_pd();
    const int aligned = (n / 2) * 2, aligned2 = (n / 4) * 4;
    V r0 = mul(u[0], v[0]), r1 = mul(u[1], v[1]);
    if (aligned > 2) {
        V s0 = mul(u[2], v[2]), s1 = mul(u[3], v[3]);
        for (int i = 4; i < aligned2; i += 4) {
            r0 = add(r0, mul(u[i], v[i]));
            r1 = add(r1, mul(u[i + 1], v[i + 1]));
            s0 = add(s0, mul(u[i + 2], v[i + 2]));
            s1 = add(s1, mul(u[i + 3], v[i + 3]));
        }
        r0 = add(r0, s0);
        r1 = add(r1, s1);
        if (aligned > aligned2) {
            r0 = add(r0, mul(u[aligned2], v[aligned2]));
            r1 = add(r1, mul(u[aligned2 + 1], v[aligned2 + 1]));
        }
    }
    V res = add(r0, r1);
    for (int i = aligned; i < n; ++i) res = add(res, mul(u[i], v[i]));
    return res;
}

// ar_solve.cpp's phiSum, lane by lane.
inline V phiSumLanes(const V* c, int p) {
    V res;
    if (p < 3) {
        res = c[0];
        for (int i = 1; i < p; ++i) res = add(res, c[i]);
        return res;
    }
    res = p < 5 ? add(c[1], c[2]) : add(add(c[1], c[3]), add(c[2], c[4]));
    res = add(res, c[0]);
    if (p == 4) res = add(res, c[3]);
    return res;
}

// ldltSolveN for n <= kN, lane by lane; returns the lanes whose pivots all passed (x is only
// meaningful there).
M ldltLanes(const V* a, int n, const V* b, V pivotTol, V* x) {
    V m[kN][kN];
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) m[i][j] = a[i * n + j];
    V t[kN];  // the transpositions' rows, as doubles
    V temp[kN];
    M ok = 0xff;
    for (int k = 0; k < n; ++k) {
        V big = all(k);
        V bigAbs = _mm512_abs_pd(m[k][k]);
        for (int i = k + 1; i < n; ++i) {
            const V candidate = _mm512_abs_pd(m[i][i]);
            const M larger = greater(candidate, bigAbs);
            bigAbs = pick(larger, bigAbs, candidate);
            big = pick(larger, big, all(i));
        }
        t[k] = big;
        for (int q = k + 1; q < n; ++q) {  // the transposition with row q, in the lanes that chose it
            const M here = equal(big, q);
            if (here == 0) continue;
            for (int j = 0; j < k; ++j) swapWhere(here, m[k][j], m[q][j]);
            for (int i = q + 1; i < n; ++i) swapWhere(here, m[i][k], m[i][q]);
            swapWhere(here, m[k][k], m[q][q]);
            for (int i = k + 1; i < q; ++i) swapWhere(here, m[i][k], m[q][i]);
        }
        if (k > 0) {
            for (int j = 0; j < k; ++j) temp[j] = mul(m[j][j], m[k][j]);
            V dot = mul(m[k][0], temp[0]);
            for (int j = 1; j < k; ++j) dot = add(dot, mul(m[k][j], temp[j]));
            m[k][k] = sub(m[k][k], dot);
            for (int i = k + 1; i < n; ++i) {
                V s = mul(m[i][0], temp[0]);
                for (int j = 1; j < k; ++j) s = add(s, mul(m[i][j], temp[j]));
                m[i][k] = sub(m[i][k], s);
            }
        }
        const V pivot = m[k][k];
        ok &= greater(pivot, pivotTol);
        if (ok == 0) return 0;
        for (int i = k + 1; i < n; ++i) m[i][k] = quot(m[i][k], pivot);
    }
    V y[kN];
    for (int i = 0; i < n; ++i) y[i] = b[i];
    for (int k = 0; k < n; ++k)
        for (int q = k + 1; q < n; ++q) swapWhere(equal(t[k], q), y[k], y[q]);
    for (int i = 0; i < n; ++i) {
        const M nonzero = _mm512_cmp_pd_mask(y[i], _mm512_setzero_pd(), _CMP_NEQ_UQ);  // y[i] != 0.0
        for (int j = i + 1; j < n; ++j) y[j] = _mm512_mask_sub_pd(y[j], nonzero, y[j], mul(y[i], m[j][i]));
    }
    for (int i = 0; i < n; ++i) y[i] = quot(y[i], m[i][i]);
    V col[kN];
    for (int i = n - 1; i >= 0; --i) {
        const int k = n - 1 - i;
        if (k > 0) {
            for (int j = 0; j < k; ++j) col[j] = m[i + 1 + j][i];
            y[i] = sub(y[i], dotLanes(col, y + i + 1, k));
        }
    }
    for (int k = n - 1; k >= 0; --k)
        for (int q = k + 1; q < n; ++q) swapWhere(equal(t[k], q), y[k], y[q]);
    for (int i = 0; i < n; ++i) x[i] = y[i];
    return ok;
}

}  // namespace

void solveAr5Lanes(const double* const* g, const int* count, const double* mu, int lanes, double pivotTol,
                   double rssFloorFraction, ArFit* out) {
    constexpr int P = kSmallArOrder, dim = P + 2;
    alignas(64) double lane[8];
    // Lanes past `lanes` solve an identity with one target; nothing of them is kept.
    const auto gather = [&](const auto& value, double spare) {
        for (int k = 0; k < 8; ++k) lane[k] = k < lanes ? value(k) : spare;
        return _mm512_load_pd(lane);
    };
    V gram[dim][dim];
    for (int i = 0; i < dim; ++i)
        for (int j = 0; j <= i; ++j)
            gram[i][j] = gram[j][i] = gather([&](int k) { return g[k][i * dim + j]; }, i == j ? 1.0 : 0.0);
    const V n = gather([&](int k) { return static_cast<double>(count[k]); }, 1.0);
    const V centre = gather([&](int k) { return mu[k]; }, 0.0);
    const V zero = _mm512_setzero_pd(), one = all(1.0), tol = all(pivotTol);
    const V yy = gram[P + 1][P + 1];
    const V sumY = gram[0][P + 1];
    const V tss = sub(yy, quot(mul(sumY, sumY), n));  // RSS of p = 0
    const V rssFloor = add(mul(all(rssFloorFraction), maxOf(tss, zero)), all(std::numeric_limits<double>::min()));
    V best[kN];  // the chosen order's coefficients (intercept uncentred)
    for (V& b : best) b = zero;
    best[0] = add(quot(sumY, n), centre);  // p = 0: the mean of the targets
    V bestP = zero;
    V bestAic = add(mul(n, logLanes(quot(maxOf(tss, rssFloor), n))), all(2.0));
    M alive = static_cast<M>((1u << lanes) - 1u);
    for (int p = 1; p <= P; ++p) {
        const int size = p + 1;
        for (int i = 0; i < size; ++i) alive &= greater(gram[i][i], zero);  // else a constant lag column
        if (alive == 0) break;
        V s[kN], a[kN * kN], b[kN], sb[kN], x[kN], coef[kN];
        for (int i = 0; i < size; ++i) s[i] = quot(one, _mm512_mask_sqrt_pd(zero, 0xff, gram[i][i]));
        for (int i = 0; i < size; ++i)
            for (int j = 0; j < size; ++j) a[i * size + j] = mul(mul(s[i], gram[i][j]), s[j]);
        for (int i = 0; i < size; ++i) {
            b[i] = gram[i][P + 1];
            sb[i] = mul(s[i], b[i]);
        }
        alive &= ldltLanes(a, size, sb, tol, x);  // singular: this and every higher order fail
        if (alive == 0) break;
        for (int i = 0; i < size; ++i) coef[i] = mul(s[i], x[i]);
        const V rss = maxOf(sub(yy, dotLanes(coef, b, size)), rssFloor);
        const V aic = add(mul(n, logLanes(quot(rss, n))), all(2.0 * (p + 1)));
        const M better = alive & less(aic, bestAic);  // strict: ties keep the smaller p
        bestAic = pick(better, bestAic, aic);
        bestP = pick(better, bestP, all(p));
        const V intercept = add(coef[0], mul(centre, sub(one, phiSumLanes(coef + 1, p))));
        for (int i = 1; i < size; ++i) best[i] = pick(better, best[i], coef[i]);
        best[0] = pick(better, best[0], intercept);
    }
    alignas(64) double orders[8];
    alignas(64) double coefficients[kN][8];
    _mm512_store_pd(orders, bestP);
    for (int i = 0; i < kN; ++i) _mm512_store_pd(coefficients[i], best[i]);
    for (int k = 0; k < lanes; ++k) {
        const int p = static_cast<int>(orders[k]);
        out[k].p = p;
        out[k].coefficients.resize(static_cast<std::size_t>(p) + 1);
        for (int i = 0; i <= p; ++i) out[k].coefficients[static_cast<std::size_t>(i)] = coefficients[i][k];
    }
}

#pragma GCC pop_options

}  // namespace hlstm::model::detail
