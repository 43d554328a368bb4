// Private to src/model: AR(p)'s Gram sums and its least-squares solves for the usual orders
// (p <= 5) without Eigen's general-size machinery (baselines.cpp's solveArOrders).
#pragma once

#include <cstddef>
#include <vector>

#include "hlstm/model/baselines.hpp"

namespace hlstm::model::detail {

/// Largest order bound P solved by solveArSmall (the default maxOrder).
inline constexpr int kSmallArOrder = 5;

/// True where the baselines' AVX-512 kernels run: the CPU has AVX-512F and baselineIsa() is kNative.
bool useAvx512();

/// Adds the Gram matrix of z = (1, x[t-1], ..., x[t-P], x[t]) over the targets t = from..to-1,
/// x = r - mu, to g (lower triangle of P + 2 rows, each entry summed in t order): every order's
/// normal equations are its leading block and last column. P = 5 in AVX-512 registers where
/// useAvx512(), else portable code; the same sums bit for bit.
void addArGramFast(const double* r, int from, int to, int P, double mu, double* g);

/// Solves the LDLT (diagonal pivoting, lower triangle) of the n x n symmetric matrix `a`
/// (row-major, 2 <= n <= kSmallArOrder + 1) for x = a^-1 b, doing Eigen 3.4's LDLT<Lower> operations
/// in their order (Cholesky/LDLT.h: ldlt_inplace<Lower>::unblocked, then _solve_impl with
/// SSE2's two-double reductions), so x is Eigen's bit for bit. Returns false, x untouched, when
/// a pivot of D is not above `pivotTol` (where the caller stopped after Eigen's LDLT).
bool ldltSolveSmall(const double* a, int n, const double* b, double pivotTol, double* x);

/// Eigen's (SSE2, unaligned) sum of n products p[i] = u[i] v[i]: two-double packets, as
/// Redux.h's LinearVectorizedTraversal adds them.
double packetDot(const double* u, const double* v, int n);

/// baselines.cpp's solveArOrders for P <= kSmallArOrder: the AR(p) fits p = 0..P from the Gram
/// matrix g (lower triangle, P + 2 rows, rates centred on mu, `count` targets), the smallest AIC
/// kept, with solveArOrders's operations in its order (ldltSolveSmall, packetDot). The intercept's
/// sum of phi_1..phi_p is added as Eigen adds a vector's tail that starts 8 bytes past a 16-byte
/// boundary: Eigen's order depends on that address (Redux.h peels unaligned elements), and it is
/// the one solveArOrders's vector had in this build (tests/model/test_baselines.cpp, 0 of 3,000
/// intercepts differ); another layout would change the intercept's last bits only.
ArFit solveArSmall(const double* g, int P, int count, double mu, double pivotTol, double rssFloorFraction);

/// Lanes of solveAr5Lanes: the doubles of one AVX-512 register.
inline constexpr int kArLanes = 8;

/// solveArSmall(g[k], 5, count[k], mu[k], ...) for k < lanes <= kArLanes side by side, one AVX-512
/// lane each (src/model/ar_lanes.cpp): every lane does solveArSmall's operations in its order
/// (the pivots' choices and swaps as selects, no fused multiply-add, the logarithms one lane at a
/// time with std::log), so out[k] is its fit bit for bit. Only where useAvx512().
void solveAr5Lanes(const double* const* g, const int* count, const double* mu, int lanes, double pivotTol,
                   double rssFloorFraction, ArFit* out);

/// Common targets t = P..m-1 for every order p <= P: the order bound for m rates (ar_fit.cpp).
int arOrderBound(int m, int maxOrder);
/// fitAr of the prefix r[0..size-1].
ArFit fitArPrefix(const double* r, std::size_t size, int maxOrder);
/// fitArPrefix of every prefix r[0..m-1], m in `sizes` (ascending, each with order bound maxOrder), by
/// incremental normal equations centred on the shortest prefix's mean (ar_fit.cpp).
std::vector<ArFit> fitArPrefixes(const double* r, const std::vector<int>& sizes, int maxOrder);
/// y[t] = c_0 + sum_k c_k y[t-k], fed back `horizon` times from the last `lags` values of r[0..m-1]
/// (NaN when m < lags or no coefficients).
void iterate(const std::vector<double>& coefficients, int lags, const double* r, std::size_t m, int horizon,
             float* out);
/// forecastBaseline(kAr, histories[i], ...) into out + i * horizon for i < count, the same values;
/// the fits of order bound 5 solved 8 points at a time where solveAr5Lanes runs.
void forecastArRows(const History* histories, std::size_t count, int horizon, float* out);

}  // namespace hlstm::model::detail
