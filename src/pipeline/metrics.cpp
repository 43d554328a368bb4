#include "hlstm/pipeline/metrics.hpp"

#include <cmath>

namespace hlstm::pipeline {

std::vector<Metrics> groupMetrics(const std::vector<float>& pred, const std::vector<float>& truth,
                                  const std::vector<std::int32_t>& group, std::int32_t groups) {
    const std::size_t nGroups = group.empty() ? 1 : static_cast<std::size_t>(std::max(groups, 0));
    std::vector<double> n(nGroups, 0), sumAbs(nGroups, 0), sumSq(nGroups, 0), sumTrue(nGroups, 0);
    for (std::size_t i = 0; i < pred.size(); ++i) {
        if (!std::isfinite(pred[i]) || !std::isfinite(truth[i])) continue;
        const std::size_t g = group.empty() ? 0 : static_cast<std::size_t>(group[i]);
        if (g >= nGroups) continue;
        const double e = static_cast<double>(pred[i]) - static_cast<double>(truth[i]);
        n[g] += 1;
        sumAbs[g] += std::abs(e);
        sumSq[g] += e * e;
        sumTrue[g] += std::abs(static_cast<double>(truth[i]));
    }
    std::vector<Metrics> out(nGroups);
    for (std::size_t g = 0; g < nGroups; ++g) {
        Metrics& m = out[g];
        m.n = static_cast<std::uint64_t>(n[g]);
        if (n[g] == 0) {
            m.mae = m.sd = m.mse = m.accuracy = std::nan("");
            continue;
        }
        m.mae = sumAbs[g] / n[g];
        m.mse = sumSq[g] / n[g];
        // SD of |e|: E|e|^2 - (E|e|)^2 = MSE - MAE^2 (eq. 6 read backwards).
        m.sd = std::sqrt(std::max(0.0, m.mse - m.mae * m.mae));
        const double mad = sumTrue[g] / n[g];
        m.accuracy = mad > 0 ? 100.0 * (1.0 - m.mae / mad) : std::nan("");
    }
    return out;
}

}  // namespace hlstm::pipeline
