// Private to src/model: AR(p)'s Gram sums and its least-squares solves for the usual orders
// (p <= 5) without Eigen's general-size machinery (baselines.cpp's solveArOrders).
#pragma once

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

}  // namespace hlstm::model::detail
