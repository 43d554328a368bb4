// Private to src/pipeline: the first origin's selected methods, kept to forecast later origins
// without refitting (`hlstm backtest --strategy frozen`, backtest.cpp).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "stages.hpp"

namespace hlstm::pipeline {

/// What a model in service keeps from the run that fitted it.
class FrozenService {
public:
    /// Keeps the partition, the choices, the winners' models, the baselines (the fitted MLR) and
    /// the interval half-widths of a judged origin (rank-local: every rank keeps its own rows).
    static FrozenService capture(const RunContext& ctx, const RunOutputs& r);
    /// The forecasts of the last rc.horizon epochs of `block` (the same rows as the captured
    /// origin's, more epochs) from its first `visibleEpochs`, in the form metricsStage judges:
    /// every row is this rank's own (collective only for the agreement on failure).
    [[nodiscard]] Returned forecast(const Comm& comm, const RunConfig& rc, const LocalBlock& block,
                                    const model::TimeAxis& axis, std::size_t visibleEpochs) const;

    [[nodiscard]] const partition::PartitionResult& partition() const { return part_; }
    [[nodiscard]] const std::vector<std::string>& names() const { return names_; }
    [[nodiscard]] std::int32_t subregions() const { return nSub_; }
    [[nodiscard]] const std::vector<Choice>& choices() const { return choice_; }

private:
    [[nodiscard]] Forecaster method(std::int32_t s, const RunConfig& rc) const;

    partition::PartitionResult part_;
    std::vector<Choice> choice_;
    BaselineSet baselines_;
    std::vector<std::vector<float>> halfWidths_;
    std::size_t nBaselines_ = 0;
    std::vector<std::string> names_;
    std::int32_t nSub_ = 0;
    std::vector<float> split_;  // per own row: 1 validation, 0 training, NaN not forecast
    std::map<std::int32_t, model::Model> models_;
};

}  // namespace hlstm::pipeline
