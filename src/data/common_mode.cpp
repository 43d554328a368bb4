#include "hlstm/data/common_mode.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "hlstm/core/error.hpp"

namespace hlstm {

namespace {

constexpr double kScale = 4096.0;               // fixed point of the per-cell sums: 1/4096 mm
constexpr std::int64_t kMinCount = 8;           // residuals a box needs for a field value
constexpr double kMaxCellEpochs = 4e7;          // the grid grows coarser rather than past this
constexpr std::int64_t kBoxHalfWidthCells = 2;  // cells are half the box's half-width
constexpr double kClipReferenceMm = 30;         // a reference constant beyond this is left out

// The value at u = 0 of a least-squares polynomial (degree <= `degree`) through (u[k], y[k]);
// NaN with fewer than 2 points. The degree drops while the points cannot determine it.
double predictAtZero(const double* u, const double* y, int count, int degree) {
    if (count < 2) return std::numeric_limits<double>::quiet_NaN();
    int d = std::min(degree, count - 2);
    if (d < 1) d = (count >= 2) ? 1 : 0;
    double m[5] = {0, 0, 0, 0, 0}, b[3] = {0, 0, 0};
    for (int k = 0; k < count; ++k) {
        double p = 1;
        for (int j = 0; j <= 2 * d; ++j) {
            m[j] += p;
            if (j <= d) b[j] += p * y[k];
            p *= u[k];
        }
    }
    if (d == 1) {
        const double det = m[0] * m[2] - m[1] * m[1];
        if (!(std::fabs(det) > 1e-12)) return b[0] / m[0];
        return (b[0] * m[2] - b[1] * m[1]) / det;
    }
    // d == 2: the first unknown of [[m0 m1 m2] [m1 m2 m3] [m2 m3 m4]] a = b (Cramer's rule).
    const double det =
        m[0] * (m[2] * m[4] - m[3] * m[3]) - m[1] * (m[1] * m[4] - m[3] * m[2]) + m[2] * (m[1] * m[3] - m[2] * m[2]);
    if (!(std::fabs(det) > 1e-9)) return predictAtZero(u, y, count, 1);
    const double det0 =
        b[0] * (m[2] * m[4] - m[3] * m[3]) - m[1] * (b[1] * m[4] - m[3] * b[2]) + m[2] * (b[1] * m[3] - m[2] * b[2]);
    return det0 / det;
}

// Epochs in units of the nominal spacing since the first date (well conditioned fits).
std::vector<double> epochTimes(const std::vector<std::int32_t>& yyyymmdd) {
    std::vector<double> s(yyyymmdd.size(), 0.0);
    if (yyyymmdd.empty()) return s;
    const auto spacing = static_cast<double>(dates::nominalSpacing(yyyymmdd));
    const std::int64_t d0 = dates::toDays(yyyymmdd.front());
    for (std::size_t t = 0; t < s.size(); ++t) s[t] = static_cast<double>(dates::toDays(yyyymmdd[t]) - d0) / spacing;
    return s;
}

CommonModeField makeGrid(const Comm& comm, const PointSet& points, std::size_t epochs, double radius) {
    double lo[2] = {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
    double hi[2] = {-lo[0], -lo[1]};
    for (std::size_t i = 0; i < points.size(); ++i) {
        if (!std::isfinite(points.x[i]) || !std::isfinite(points.y[i])) continue;
        lo[0] = std::min(lo[0], points.x[i]), hi[0] = std::max(hi[0], points.x[i]);
        lo[1] = std::min(lo[1], points.y[i]), hi[1] = std::max(hi[1], points.y[i]);
    }
    CommonModeField f;
    f.x0 = comm.allreduce(lo[0], Reduce::kMin), f.y0 = comm.allreduce(lo[1], Reduce::kMin);
    const double x1 = comm.allreduce(hi[0], Reduce::kMax), y1 = comm.allreduce(hi[1], Reduce::kMax);
    f.epochs = epochs;
    if (!(x1 >= f.x0) || !(y1 >= f.y0)) return f;  // no point with coordinates
    f.cell = radius / static_cast<double>(kBoxHalfWidthCells);
    for (;;) {
        f.nx = static_cast<std::int64_t>(std::floor((x1 - f.x0) / f.cell)) + 1;
        f.ny = static_cast<std::int64_t>(std::floor((y1 - f.y0) / f.cell)) + 1;
        if (static_cast<double>(f.nx) * static_cast<double>(f.ny) * static_cast<double>(epochs) <= kMaxCellEpochs)
            break;
        f.cell *= 1.5;
    }
    f.values.assign(static_cast<std::size_t>(f.nx * f.ny) * epochs, 0.0f);
    return f;
}

// The box mean of the residual sums around every cell, epoch by epoch (summed-area tables of
// exact integers: the same at any rank count).
void smooth(const std::vector<std::int64_t>& sum, const std::vector<std::int64_t>& count, CommonModeField& f) {
    const std::int64_t nx = f.nx, ny = f.ny, E = static_cast<std::int64_t>(f.epochs);
    const std::int64_t w = kBoxHalfWidthCells;
    std::vector<std::int64_t> is((nx + 1) * (ny + 1)), ic((nx + 1) * (ny + 1));
    auto idx = [nx](std::int64_t ix, std::int64_t iy) { return iy * (nx + 1) + ix; };
    for (std::int64_t t = 0; t < E; ++t) {
        for (std::int64_t iy = 0; iy < ny; ++iy) {
            std::int64_t rs = 0, rc = 0;
            for (std::int64_t ix = 0; ix < nx; ++ix) {
                const std::int64_t c = iy * nx + ix;
                rs += sum[c * E + t], rc += count[c * E + t];
                is[idx(ix + 1, iy + 1)] = is[idx(ix + 1, iy)] + rs;
                ic[idx(ix + 1, iy + 1)] = ic[idx(ix + 1, iy)] + rc;
            }
        }
        for (std::int64_t iy = 0; iy < ny; ++iy) {
            const std::int64_t ya = std::max<std::int64_t>(0, iy - w), yb = std::min(ny, iy + w + 1);
            for (std::int64_t ix = 0; ix < nx; ++ix) {
                const std::int64_t xa = std::max<std::int64_t>(0, ix - w), xb = std::min(nx, ix + w + 1);
                const std::int64_t s = is[idx(xb, yb)] - is[idx(xa, yb)] - is[idx(xb, ya)] + is[idx(xa, ya)];
                const std::int64_t n = ic[idx(xb, yb)] - ic[idx(xa, yb)] - ic[idx(xb, ya)] + ic[idx(xa, ya)];
                f.values[static_cast<std::size_t>((iy * nx + ix) * E + t)] =
                    n >= kMinCount ? static_cast<float>(static_cast<double>(s) / (static_cast<double>(n) * kScale))
                                   : 0.0f;
            }
        }
    }
}

}  // namespace

CommonModeUse commonModeUseFromString(const std::string& text) {
    if (text == "off") return CommonModeUse::kOff;
    if (text == "all") return CommonModeUse::kAll;
    if (text == "history") return CommonModeUse::kHistory;
    if (text == "recent") return CommonModeUse::kRecent;
    throw ConfigError("input.common_mode must be off, all, history or recent (got \"" + text + "\")");
}

std::string toString(CommonModeUse use) {
    switch (use) {
        case CommonModeUse::kAll: return "all";
        case CommonModeUse::kHistory: return "history";
        case CommonModeUse::kRecent: return "recent";
        default: return "off";
    }
}

CommonModeOptions commonModeFromConfig(const Config& config) {
    CommonModeOptions o;
    o.use = commonModeUseFromString(config.getString("input.common_mode"));
    const double km = config.getDouble("input.common_mode_km");
    if (!(km > 0 && km <= 1000)) throw ConfigError("input.common_mode_km must be in (0, 1000]");
    o.radiusM = km * 1000.0;
    const auto window = config.getInt("input.common_mode_window");
    if (window < 2 || window > 100) throw ConfigError("input.common_mode_window must be in 2..100");
    o.window = static_cast<int>(window);
    const auto degree = config.getInt("input.common_mode_degree");
    if (degree < 1 || degree > 2) throw ConfigError("input.common_mode_degree must be 1 or 2");
    o.degree = static_cast<int>(degree);
    const auto passes = config.getInt("input.common_mode_passes");
    if (passes < 1 || passes > 10) throw ConfigError("input.common_mode_passes must be in 1..10");
    o.passes = static_cast<int>(passes);
    return o;
}

std::int64_t CommonModeField::cellOf(double x, double y) const noexcept {
    if (!std::isfinite(x) || !std::isfinite(y) || nx == 0) return -1;
    const auto ix = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor((x - x0) / cell)), 0, nx - 1);
    const auto iy = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::floor((y - y0) / cell)), 0, ny - 1);
    return iy * nx + ix;
}

CommonModeField estimateCommonMode(const Comm& comm, const PointSet& points, std::size_t epochs,
                                   const CommonModeOptions& o) {
    const std::size_t m = points.nEpochs(), E = std::min(epochs, m), n = points.size();
    CommonModeField f = makeGrid(comm, points, E, o.radiusM);
    if (f.nx == 0 || E < 3) return f;
    const std::vector<double> s = epochTimes(points.dates);
    std::vector<std::int64_t> cellOfPoint(n);
    for (std::size_t i = 0; i < n; ++i) cellOfPoint[i] = f.cellOf(points.x[i], points.y[i]);
    const auto W = static_cast<std::size_t>(std::max(2, o.window));
    const std::size_t cells = static_cast<std::size_t>(f.nx * f.ny);
    std::vector<std::int64_t> sum(cells * E), count(cells * E);
    std::vector<double> y(E), u(W + 1), v(W + 1);
    for (int pass = 0; pass < std::max(1, o.passes); ++pass) {
        std::fill(sum.begin(), sum.end(), 0);
        std::fill(count.begin(), count.end(), 0);
        for (std::size_t i = 0; i < n; ++i) {
            const std::int64_t c = cellOfPoint[i];
            if (c < 0) continue;
            const float* x = points.series(i);
            // The series corrected by the previous pass's field (the raw series at the first).
            for (std::size_t t = 0; t < E; ++t) y[t] = static_cast<double>(x[t]) - (pass > 0 ? f.at(c, t) : 0.0f);
            for (std::size_t t = 0; t < E; ++t) {
                if (!std::isfinite(x[t])) continue;
                // The W epochs nearest t, t left out: centred inside the series, one-sided at its
                // ends (at the last visible epoch only earlier epochs: nothing after the cut).
                std::size_t lo = t >= W / 2 ? t - W / 2 : 0;
                std::size_t hi = std::min(E - 1, lo + W);
                lo = hi >= W ? hi - W : 0;
                int k = 0;
                for (std::size_t q = lo; q <= hi; ++q) {
                    if (q == t || !std::isfinite(y[q])) continue;
                    u[static_cast<std::size_t>(k)] = s[q] - s[t], v[static_cast<std::size_t>(k)] = y[q];
                    ++k;
                }
                const double r = static_cast<double>(x[t]) - predictAtZero(u.data(), v.data(), k, o.degree);
                if (!(std::fabs(r) <= o.clipMm)) continue;  // NaN, a jump or an outlier
                const std::size_t at = static_cast<std::size_t>(c) * E + t;
                sum[at] += std::llround(r * kScale);
                count[at] += 1;
            }
        }
        comm.allreduceInPlace(sum, Reduce::kSum);
        comm.allreduceInPlace(count, Reduce::kSum);
        smooth(sum, count, f);
    }
    return f;
}

std::pair<std::size_t, std::size_t> commonModeEpochs(CommonModeUse use, std::size_t epochs, std::size_t recent) {
    const std::size_t split = epochs > recent ? epochs - recent : 0;
    switch (use) {
        case CommonModeUse::kAll: return {0, epochs};
        case CommonModeUse::kHistory: return {0, split};
        case CommonModeUse::kRecent: return {split, epochs};
        default: return {0, 0};
    }
}

void subtractCommonMode(const CommonModeField& field, PointSet& points, std::size_t from, std::size_t to) {
    if (field.empty()) return;
    const std::size_t m = points.nEpochs();
    to = std::min({to, field.epochs, m});
    for (std::size_t i = 0; i < points.size(); ++i) {
        const std::int64_t c = field.cellOf(points.x[i], points.y[i]);
        if (c < 0) continue;
        float* x = points.series(i);
        for (std::size_t t = from; t < to; ++t) x[t] -= field.at(c, t);
    }
}

ReferenceAtmosphereOptions referenceAtmosphereFromConfig(const Config& config) {
    ReferenceAtmosphereOptions o;
    const std::string use = config.getString("input.reference_atmosphere");
    if (use != "off" && use != "remove")
        throw ConfigError("input.reference_atmosphere must be off or remove (got \"" + use + "\")");
    o.remove = use == "remove";
    const auto window = config.getInt("input.reference_window");
    if (window < 4 || window > 200) throw ConfigError("input.reference_window must be in 4..200");
    o.window = static_cast<int>(window);
    o.radiusM = commonModeFromConfig(config).radiusM;
    return o;
}

namespace {

constexpr double kAnnualSpanDays = 180;  // a window shorter than this fits no annual terms

// The value at u = 0 of the least-squares fit of y against the first k columns of (1, u, sin, cos)
// (Gaussian elimination with partial pivoting); NaN when singular.
double fitAtReference(const std::vector<std::array<double, 4>>& rows, const std::vector<double>& y, int k,
                      double sinRef, double cosRef) {
    double a[4][5] = {};
    for (std::size_t q = 0; q < rows.size(); ++q)
        for (int i = 0; i < k; ++i) {
            for (int j = 0; j < k; ++j) a[i][j] += rows[q][i] * rows[q][j];
            a[i][4] += rows[q][i] * y[q];
        }
    for (int col = 0; col < k; ++col) {
        int pivot = col;
        for (int r = col + 1; r < k; ++r)
            if (std::fabs(a[r][col]) > std::fabs(a[pivot][col])) pivot = r;
        if (!(std::fabs(a[pivot][col]) > 1e-9)) return std::numeric_limits<double>::quiet_NaN();
        for (int j = 0; j < 5; ++j) std::swap(a[col][j], a[pivot][j]);
        for (int r = 0; r < k; ++r) {
            if (r == col) continue;
            const double factor = a[r][col] / a[col][col];
            for (int j = col; j < 5; ++j) a[r][j] -= factor * a[col][j];
        }
    }
    double v = a[0][4] / a[0][0];
    if (k == 4) v += a[2][4] / a[2][2] * sinRef + a[3][4] / a[3][3] * cosRef;
    return v;
}

}  // namespace

ReferenceAtmosphere estimateReferenceAtmosphere(const Comm& comm, const PointSet& points, std::size_t visibleEpochs,
                                                const ReferenceAtmosphereOptions& o) {
    ReferenceAtmosphere ref;
    const std::size_t n = points.size(), V = std::min(visibleEpochs, points.nEpochs());
    // The reference epoch: every finite value of every rank 0 there (and some finite value).
    std::vector<std::int32_t> nonZero(V, 0), finite(V, 0);
    for (std::size_t i = 0; i < n; ++i) {
        const float* x = points.series(i);
        for (std::size_t t = 0; t < V; ++t)
            if (std::isfinite(x[t])) {
                finite[t] = 1;
                if (x[t] != 0.0f) nonZero[t] = 1;
            }
    }
    comm.allreduceInPlace(nonZero, Reduce::kMax);
    comm.allreduceInPlace(finite, Reduce::kMax);
    for (std::size_t t = 0; t < V && ref.epoch < 0; ++t)
        if (finite[t] == 1 && nonZero[t] == 0) ref.epoch = static_cast<std::int64_t>(t);
    ref.field = makeGrid(comm, points, 1, o.radiusM);
    if (ref.epoch < 0 || ref.field.nx == 0 || V < 3) return ref;
    const auto r = static_cast<std::size_t>(ref.epoch);
    const std::vector<double> s = epochTimes(points.dates);
    // The `window` epochs nearest the reference one (left out) among the visible ones.
    const auto W = static_cast<std::size_t>(std::max(2, o.window));
    std::size_t lo = r >= W / 2 ? r - W / 2 : 0;
    const std::size_t hi = std::min(V - 1, lo + W);
    lo = hi >= W ? hi - W : 0;
    constexpr double kTwoPi = 6.283185307179586;
    const auto phase = [&](std::size_t t) {
        return kTwoPi * static_cast<double>(dates::toDays(points.dates[t])) / 365.25;
    };
    const double spanDays = static_cast<double>(dates::toDays(points.dates[hi]) - dates::toDays(points.dates[lo]));
    const int k = spanDays >= kAnnualSpanDays ? 4 : 2;
    std::vector<std::array<double, 4>> design;
    std::vector<std::size_t> epochs;
    for (std::size_t q = lo; q <= hi; ++q) {
        if (q == r) continue;
        design.push_back({1.0, s[q] - s[r], std::sin(phase(q)), std::cos(phase(q))});
        epochs.push_back(q);
    }
    const double sinRef = std::sin(phase(r)), cosRef = std::cos(phase(r));
    const std::size_t cells = static_cast<std::size_t>(ref.field.nx * ref.field.ny);
    std::vector<std::int64_t> sum(cells, 0), count(cells, 0);
    std::vector<std::array<double, 4>> rows;
    std::vector<double> y;
    for (std::size_t i = 0; i < n; ++i) {
        const std::int64_t c = ref.field.cellOf(points.x[i], points.y[i]);
        const float* x = points.series(i);
        if (c < 0 || !std::isfinite(x[r])) continue;
        rows.clear();
        y.clear();
        for (std::size_t e = 0; e < epochs.size(); ++e)
            if (std::isfinite(x[epochs[e]])) rows.push_back(design[e]), y.push_back(x[epochs[e]]);
        if (rows.size() < static_cast<std::size_t>(2 * k)) continue;
        const double b = fitAtReference(rows, y, k, sinRef, cosRef) - static_cast<double>(x[r]);
        if (!(std::fabs(b) <= kClipReferenceMm)) continue;  // NaN, or a jump near the reference epoch
        sum[static_cast<std::size_t>(c)] += std::llround(b * kScale);
        count[static_cast<std::size_t>(c)] += 1;
        ++ref.points;
    }
    comm.allreduceInPlace(sum, Reduce::kSum);
    comm.allreduceInPlace(count, Reduce::kSum);
    ref.points = comm.allreduce(ref.points, Reduce::kSum);
    smooth(sum, count, ref.field);
    return ref;
}

void removeReferenceAtmosphere(const ReferenceAtmosphere& ref, PointSet& points) {
    if (ref.epoch < 0 || ref.field.empty()) return;
    const std::size_t m = points.nEpochs(), r = static_cast<std::size_t>(ref.epoch);
    for (std::size_t i = 0; i < points.size(); ++i) {
        const float b = ref.field.at(ref.field.cellOf(points.x[i], points.y[i]), 0);
        float* x = points.series(i);
        for (std::size_t t = 0; t < m; ++t)
            if (t != r) x[t] -= b;
    }
}

}  // namespace hlstm
