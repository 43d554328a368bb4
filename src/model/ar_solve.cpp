// AR(p)'s normal equations (the Gram sums) and small LDLT solves (Eigen 3.4's operations, in its
// order, on fixed-size stack arrays); the baselines' instruction-set switch.
#include "ar_solve.hpp"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "switch_setting.hpp"

namespace hlstm::model {
namespace {

ArSolver& solverSetting() {
    return detail::switchSetting("HLSTM_AR_SOLVER", "eigen", ArSolver::kEigen, ArSolver::kSmall);
}

BaselineIsa& isaSetting() {
    return detail::switchSetting("HLSTM_BASELINES_ISA", "portable", BaselineIsa::kPortable, BaselineIsa::kNative);
}

}  // namespace

ArSolver arSolver() { return solverSetting(); }
void setArSolver(ArSolver solver) { solverSetting() = solver; }

BaselineIsa baselineIsa() { return isaSetting(); }
void setBaselineIsa(BaselineIsa isa) { isaSetting() = isa; }

bool detail::useAvx512() {
    static const bool avx512 = __builtin_cpu_supports("avx512f");
    return avx512 && isaSetting() == BaselineIsa::kNative;
}

namespace detail {
namespace {
constexpr int kN = kSmallArOrder + 1;
}  // namespace

namespace {
__attribute__((always_inline)) inline double dotPackets(const double* u, const double* v, int n) {
    // Redux.h (LinearVectorizedTraversal, no alignment peeling for an expression without direct
    // access): packets of two, two packets in flight, then the packets' halves, then the tail.
    if (n < 2) return n == 1 ? u[0] * v[0] : 0.0;
    const int aligned = (n / 2) * 2, aligned2 = (n / 4) * 4;
    double r0 = u[0] * v[0], r1 = u[1] * v[1];
    if (aligned > 2) {
        double s0 = u[2] * v[2], s1 = u[3] * v[3];
        for (int i = 4; i < aligned2; i += 4) {
            r0 = r0 + u[i] * v[i];
            r1 = r1 + u[i + 1] * v[i + 1];
            s0 = s0 + u[i + 2] * v[i + 2];
            s1 = s1 + u[i + 3] * v[i + 3];
        }
        r0 = r0 + s0;
        r1 = r1 + s1;
        if (aligned > aligned2) {
            r0 = r0 + u[aligned2] * v[aligned2];
            r1 = r1 + u[aligned2 + 1] * v[aligned2 + 1];
        }
    }
    double res = r0 + r1;
    for (int i = aligned; i < n; ++i) res = res + u[i] * v[i];
    return res;
}
}  // namespace

double packetDot(const double* u, const double* v, int n) { return dotPackets(u, v, n); }

namespace {

// ldltSolveSmall for a compile-time n: the loops unroll (the operations and their order do not change).
template <int n> bool ldltSolveN(const double* a, const double* b, double pivotTol, double* x) {
    // m[i][j], j <= i: the lower triangle, factored in place (L below the diagonal, D on it).
    double m[kN][kN];
    for (int i = 0; i < n; ++i)
        for (int j = 0; j <= i; ++j) m[i][j] = a[i * n + j];
    int t[kN];
    double temp[kN];
    for (int k = 0; k < n; ++k) {
        // The largest |diagonal| of the corner, the first of equals (maxCoeff's visitor).
        int big = k;
        double bigAbs = std::abs(m[k][k]);
        for (int i = k + 1; i < n; ++i)
            if (std::abs(m[i][i]) > bigAbs) {
                bigAbs = std::abs(m[i][i]);
                big = i;
            }
        t[k] = big;
        if (big != k) {  // the transposition, on the lower triangle only
            for (int j = 0; j < k; ++j) std::swap(m[k][j], m[big][j]);
            for (int i = big + 1; i < n; ++i) std::swap(m[i][k], m[i][big]);
            std::swap(m[k][k], m[big][big]);
            for (int i = k + 1; i < big; ++i) std::swap(m[i][k], m[big][i]);
        }
        if (k > 0) {
            // temp = D_00 A10^T; A11 -= A10 temp and A21 -= A20 temp, each a sum in index order.
            for (int j = 0; j < k; ++j) temp[j] = m[j][j] * m[k][j];
            double dot = m[k][0] * temp[0];
            for (int j = 1; j < k; ++j) dot = dot + m[k][j] * temp[j];
            m[k][k] -= dot;
            for (int i = k + 1; i < n; ++i) {
                double s = m[i][0] * temp[0];
                for (int j = 1; j < k; ++j) s = s + m[i][j] * temp[j];
                m[i][k] -= s;
            }
        }
        const double pivot = m[k][k];
        // D's entries are final once computed: the caller's test of the smallest, here.
        if (!(pivot > pivotTol)) return false;
        for (int i = k + 1; i < n; ++i) m[i][k] /= pivot;
    }
    double y[kN];
    for (int i = 0; i < n; ++i) y[i] = b[i];
    for (int k = 0; k < n; ++k)
        if (t[k] != k) std::swap(y[k], y[t[k]]);
    // L y = P b, column by column (triangular_solve_vector, column-major, unit lower).
    for (int i = 0; i < n; ++i)
        if (y[i] != 0.0)
            for (int j = i + 1; j < n; ++j) y[j] -= y[i] * m[j][i];
    for (int i = 0; i < n; ++i) y[i] /= m[i][i];
    // L^T x = y, row by row from the last (row-major upper: each row's sum a packet reduction).
    double col[kN];
    for (int i = n - 1; i >= 0; --i) {
        const int k = n - 1 - i;
        if (k > 0) {
            for (int j = 0; j < k; ++j) col[j] = m[i + 1 + j][i];
            y[i] -= dotPackets(col, y + i + 1, k);
        }
    }
    for (int k = n - 1; k >= 0; --k)
        if (t[k] != k) std::swap(y[k], y[t[k]]);
    for (int i = 0; i < n; ++i) x[i] = y[i];
    return true;
}

}  // namespace

namespace {

// Adds the Gram matrix of z = (1, x[t-1], ..., x[t-P], x[t]) over the targets t = from..to-1, x = r - mu,
// to g (lower triangle of dim = P + 2 rows, each entry in t order): every order's normal equations are
// its leading block and last column. For dim <= 8 (P <= 6) each row is summed over a whole padded row
// of 8 (one AVX-512 vector; the entries right of the diagonal are summed too but never kept), each
// kept entry getting z_i z_j of every target in t order as in the scalar loop, without fused
// multiply-add: the same sums bit for bit, ~4x fewer instructions.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("fp-contract=off", "tree-vectorize"))) void
addArGram(const double* r, int from, int to, int P, double mu, double* __restrict g) {
    const int dim = P + 2;
    constexpr int kPad = 8;
    if (dim <= kPad) {
        alignas(64) double acc[kPad * kPad];
        alignas(64) double zp[kPad] = {};
        for (int i = 0; i < dim; ++i)
            for (int j = 0; j < kPad; ++j) acc[i * kPad + j] = j <= i ? g[i * dim + j] : 0.0;
        zp[0] = 1.0;
        for (int t = from; t < to; ++t) {
            for (int k = 1; k <= P; ++k) zp[k] = r[t - k] - mu;
            zp[P + 1] = r[t] - mu;
            for (int i = 0; i < dim; ++i) {
                const double zi = zp[i];
                double* row = acc + i * kPad;
                for (int j = 0; j < kPad; ++j) row[j] += zi * zp[j];
            }
        }
        for (int i = 0; i < dim; ++i)
            for (int j = 0; j <= i; ++j) g[i * dim + j] = acc[i * kPad + j];
        return;
    }
    std::vector<double> z(static_cast<std::size_t>(dim));
    z[0] = 1.0;
    for (int t = from; t < to; ++t) {
        for (int k = 1; k <= P; ++k) z[k] = r[t - k] - mu;
        z[P + 1] = r[t] - mu;
        for (int i = 0; i < dim; ++i)
            for (int j = 0; j <= i; ++j) g[i * dim + j] += z[i] * z[j];
    }
}

// addArGram for P = 5 (dim 7, the default order bound), its 7 rows of 8 kept in AVX-512 registers
// (the compiler's loop over a run-time dim loads and stores them at every target): z is the
// reversed window r[t-5..t+2] - mu with lane 0 set to 1 and lane 7 to 0, row i adds z_i z; each
// kept entry gets z_i z_j of every target in t order without fused multiply-add, as there.
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void addArGram5Avx512(const double* r, int from, int to,
                                                                                      double mu, double* __restrict g) {
    constexpr int kDim = 7;
    __m512d acc[kDim];
    alignas(64) double row[8];
#pragma GCC unroll 7
    for (int i = 0; i < kDim; ++i) {
        for (int j = 0; j < 8; ++j) row[j] = j <= i ? g[i * kDim + j] : 0.0;
        acc[i] = _mm512_load_pd(row);
    }
    // Lane j of the window r[t-5..t+2] - mu holds r[t-5+j]; z wants lane k = r[t-k] (k = 1..5),
    // lane 6 = r[t]: the reverse of lanes 0..5 into 5..0 shifted by one, lane 5 into 6.
    const __m512i reverse = _mm512_set_epi64(0, 5, 0, 1, 2, 3, 4, 0);
    const __m512d muV = _mm512_set1_pd(mu), one = _mm512_set1_pd(1.0);
    for (int t = from; t < to; ++t) {
        const __m512d x = _mm512_sub_pd(_mm512_maskz_loadu_pd(0x3f, r + t - 5), muV);
        const __m512d z = _mm512_mask_mov_pd(_mm512_maskz_permutexvar_pd(0x7e, reverse, x), 0x01, one);
        alignas(64) double zs[8];
        _mm512_store_pd(zs, z);
#pragma GCC unroll 7
        for (int i = 0; i < kDim; ++i) acc[i] = _mm512_add_pd(acc[i], _mm512_mul_pd(_mm512_set1_pd(zs[i]), z));
    }
#pragma GCC unroll 7
    for (int i = 0; i < kDim; ++i) {
        _mm512_store_pd(row, acc[i]);
        for (int j = 0; j <= i; ++j) g[i * kDim + j] = row[j];
    }
}

}  // namespace

void addArGramFast(const double* r, int from, int to, int P, double mu, double* g) {
    if (P == 5 && useAvx512())
        addArGram5Avx512(r, from, to, mu, g);
    else
        addArGram(r, from, to, P, mu, g);
}

bool ldltSolveSmall(const double* a, int n, const double* b, double pivotTol, double* x) {
    switch (n) {
        case 2: return ldltSolveN<2>(a, b, pivotTol, x);
        case 3: return ldltSolveN<3>(a, b, pivotTol, x);
        case 4: return ldltSolveN<4>(a, b, pivotTol, x);
        case 5: return ldltSolveN<5>(a, b, pivotTol, x);
        case 6: return ldltSolveN<6>(a, b, pivotTol, x);
        default: return false;
    }
}

// Eigen's sum of a vector's tail c[0..p) that starts one double past a 16-byte boundary
// (Redux.h: the first element is peeled, the rest summed in packets, then the first added).
double phiSum(const double* c, int p) {
    // p <= 5: after the peeled c[0], at most two packets (c[1], c[2]) and (c[3], c[4]).
    double res;
    if (p < 3) {
        res = c[0];
        for (int i = 1; i < p; ++i) res = res + c[i];
        return res;
    }
    if (p < 5) {
        res = c[1] + c[2];
    } else {
        res = (c[1] + c[3]) + (c[2] + c[4]);
    }
    res = res + c[0];
    if (p == 4) res = res + c[3];
    return res;
}

ArFit solveArSmall(const double* g, int P, int count, double mu, double pivotTol, double rssFloorFraction) {
    constexpr int kD = kSmallArOrder + 2;
    const int dim = P + 2;
    double gram[kD][kD];
    for (int i = 0; i < dim; ++i)
        for (int j = 0; j <= i; ++j) gram[i][j] = gram[j][i] = g[i * dim + j];
    const double yy = gram[P + 1][P + 1];
    const double sumY = gram[0][P + 1];
    const double tss = yy - sumY * sumY / count;  // RSS of p = 0
    const double rssFloor = rssFloorFraction * std::max(tss, 0.0) + std::numeric_limits<double>::min();
    ArFit best{0, {sumY / count + mu}};  // p = 0: the mean of the targets
    double bestAic = count * std::log(std::max(tss, rssFloor) / count) + 2.0;
    double s[kN], a[kN * kN], b[kN], sb[kN], x[kN], coef[kN];
    for (int p = 1; p <= P; ++p) {
        const int n = p + 1;
        bool positive = true;
        for (int i = 0; i < n; ++i) positive = positive && gram[i][i] > 0;
        if (!positive) break;  // a constant lag column
        // Unit-diagonal scaling (s_i G_ij) s_j; b the targets' column; solve for s x.
        for (int i = 0; i < n; ++i) s[i] = 1.0 / std::sqrt(gram[i][i]);
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) a[i * n + j] = s[i] * gram[i][j] * s[j];
        for (int i = 0; i < n; ++i) {
            b[i] = gram[i][P + 1];
            sb[i] = s[i] * b[i];
        }
        if (!ldltSolveSmall(a, n, sb, pivotTol, x)) break;  // singular: this and every higher order fail
        for (int i = 0; i < n; ++i) coef[i] = s[i] * x[i];
        const double rss = std::max(yy - dotPackets(coef, b, n), rssFloor);
        const double aic = count * std::log(rss / count) + 2.0 * (p + 1);
        if (aic < bestAic) {  // strict: ties keep the smaller p
            bestAic = aic;
            best.p = p;
            best.coefficients.assign(coef, coef + n);
            best.coefficients[0] += mu * (1.0 - phiSum(coef + 1, p));
        }
    }
    return best;
}

}  // namespace detail
}  // namespace hlstm::model
