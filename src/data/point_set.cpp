#include "hlstm/data/point_set.hpp"

#include <algorithm>

#include <cmath>
#include <limits>

namespace hlstm {

namespace dates {
// Howard Hinnant's days_from_civil / civil_from_days.
std::int64_t toDays(std::int32_t yyyymmdd) {
    std::int64_t y = yyyymmdd / 10000;
    unsigned m = static_cast<unsigned>((yyyymmdd / 100) % 100);
    unsigned d = static_cast<unsigned>(yyyymmdd % 100);
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::int32_t fromDays(std::int64_t z) {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return static_cast<std::int32_t>((y + (m <= 2)) * 10000 + m * 100 + d);
}

bool valid(std::int32_t yyyymmdd) {
    if (yyyymmdd < 18000101 || yyyymmdd > 29991231) return false;
    return fromDays(toDays(yyyymmdd)) == yyyymmdd;
}

std::vector<double> yearsSinceFirst(const std::vector<std::int32_t>& yyyymmdd) {
    std::vector<double> out(yyyymmdd.size(), 0.0);
    if (yyyymmdd.empty()) return out;
    const std::int64_t d0 = toDays(yyyymmdd.front());
    constexpr double kDaysPerYear = 365.25;
    for (std::size_t i = 0; i < yyyymmdd.size(); ++i)
        out[i] = static_cast<double>(toDays(yyyymmdd[i]) - d0) / kDaysPerYear;
    return out;
}
std::int64_t nominalSpacing(const std::vector<std::int32_t>& yyyymmdd) {
    if (yyyymmdd.size() < 2) return 12;
    std::vector<std::int64_t> gaps;
    for (std::size_t t = 1; t < yyyymmdd.size(); ++t) gaps.push_back(toDays(yyyymmdd[t]) - toDays(yyyymmdd[t - 1]));
    std::nth_element(gaps.begin(), gaps.begin() + static_cast<std::ptrdiff_t>(gaps.size() / 2), gaps.end());
    return std::max<std::int64_t>(1, gaps[gaps.size() / 2]);
}

std::vector<std::int32_t> following(const std::vector<std::int32_t>& yyyymmdd, int count) {
    std::vector<std::int32_t> out;
    if (yyyymmdd.size() < 2) return out;
    // The nominal spacing, the one forecast rates are expressed in: a gap just before the end
    // of the archive does not stretch the forecast epochs.
    const std::int64_t step = nominalSpacing(yyyymmdd);
    const std::int64_t last = toDays(yyyymmdd.back());
    for (int k = 1; k <= count; ++k) out.push_back(fromDays(last + step * k));
    return out;
}
}  // namespace dates

void PointSet::appendFrom(const PointSet& other, std::size_t i) {
    ids.push_back(other.ids[i]);
    rows.push_back(other.rows[i]);
    x.push_back(other.x[i]);
    y.push_back(other.y[i]);
    const float* s = other.series(i);
    displacement.insert(displacement.end(), s, s + other.nEpochs());
}

PointSet PointSet::firstEpochs(std::size_t epochs) const {
    PointSet out;
    out.ids = ids;
    out.rows = rows;
    out.x = x;
    out.y = y;
    out.dates.assign(dates.begin(), dates.begin() + static_cast<std::ptrdiff_t>(epochs));
    out.displacement.resize(size() * epochs);
    for (std::size_t i = 0; i < size(); ++i) std::copy(series(i), series(i) + epochs, out.series(i));
    return out;
}

std::vector<double> velocities(const PointSet& points, const std::vector<double>& years) {
    const std::size_t m = std::min(points.nEpochs(), years.size());
    std::vector<double> out(points.size(), std::numeric_limits<double>::quiet_NaN());
    for (std::size_t i = 0; i < points.size(); ++i) {
        const float* c = points.series(i);
        double n = 0, st = 0, sc = 0;
        for (std::size_t t = 0; t < m; ++t)
            if (std::isfinite(c[t])) {
                n += 1;
                st += years[t];
                sc += c[t];
            }
        if (n < 2) continue;
        const double mt = st / n, mc = sc / n;
        double stt = 0, stc = 0;
        for (std::size_t t = 0; t < m; ++t)
            if (std::isfinite(c[t])) {
                const double dt = years[t] - mt;
                stt += dt * dt;
                stc += dt * (c[t] - mc);
            }
        if (stt > 0) out[i] = stc / stt;
    }
    return out;
}

}  // namespace hlstm
