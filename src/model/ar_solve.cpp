// AR(p)'s small LDLT solves: Eigen 3.4's operations, in its order, on fixed-size stack arrays.
#include "ar_solve.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <cstring>
#include <utility>

namespace hlstm::model {
namespace {

ArSolver initialSolver() {
    const char* v = std::getenv("HLSTM_AR_SOLVER");
    return v != nullptr && std::strcmp(v, "eigen") == 0 ? ArSolver::kEigen : ArSolver::kSmall;
}

ArSolver& solverSetting() {
    static ArSolver solver = initialSolver();
    return solver;
}

}  // namespace

ArSolver arSolver() { return solverSetting(); }
void setArSolver(ArSolver solver) { solverSetting() = solver; }

namespace detail {
namespace {
constexpr int kN = kSmallArOrder + 1;
}  // namespace

double packetDot(const double* u, const double* v, int n) {
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

bool ldltSolveSmall(const double* a, int n, const double* b, double pivotTol, double* x) {
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
            y[i] -= packetDot(col, y + i + 1, k);
        }
    }
    for (int k = n - 1; k >= 0; --k)
        if (t[k] != k) std::swap(y[k], y[t[k]]);
    for (int i = 0; i < n; ++i) x[i] = y[i];
    return true;
}

// Eigen's sum of a vector's tail c[0..p) that starts one double past a 16-byte boundary
// (Redux.h: the first element is peeled, the rest summed in packets, then the first added).
double phiSum(const double* c, int p) {
    const int q = p - 1, aligned = (q / 2) * 2;
    if (aligned == 0) {
        double res = c[0];
        for (int i = 1; i < p; ++i) res = res + c[i];
        return res;
    }
    static const double ones[kN] = {1, 1, 1, 1, 1, 1};
    double res = packetDot(c + 1, ones, aligned);
    res = res + c[0];
    for (int i = 1 + aligned; i < p; ++i) res = res + c[i];
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
        const double rss = std::max(yy - packetDot(coef, b, n), rssFloor);
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
