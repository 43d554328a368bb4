/// Forecast accuracy (paper eq. 5-7): accuracy mu = 100 (1 - MAE / MAD) (eq. 5), MAE (eq. 6),
/// MAD = mean |true value| (eq. 7); beside them the SD of |error| and MSE = MAE^2 + SD^2 (not
/// numbered in the paper); per group and overall.
#pragma once

#include <cstdint>
#include <vector>

namespace hlstm::pipeline {

/// Accuracy figures of a set of forecasts (mm, mm^2, %).
struct Metrics {
    std::uint64_t n = 0;
    double mae = 0.0;       ///< eq. (6): mean |pred - true|
    double sd = 0.0;        ///< standard deviation of |pred - true|
    double mse = 0.0;       ///< mean (pred - true)^2
    double accuracy = 0.0;  ///< eq. (5): 100 (1 - MAE / MAD), MAD (eq. 7) = mean |true|
};

/// Metrics of `pred` against `truth`, over the entries where `group[i] == g` for each g in
/// [0, groups) (element g of the result) - or over everything when `group` is empty (one
/// result). Entries with a non-finite prediction or truth are skipped. Summed in index
/// order, so the result does not depend on how the entries were produced.
std::vector<Metrics> groupMetrics(const std::vector<float>& pred, const std::vector<float>& truth,
                                  const std::vector<std::int32_t>& group, std::int32_t groups);

}  // namespace hlstm::pipeline
