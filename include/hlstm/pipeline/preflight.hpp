/// Checks a run makes before its first candidate trains (issue 17, Build 3: a run that passes
/// planning fails later only for runtime faults): the grid fits the archive's visible epochs,
/// every candidate shape fits in memory, and the output's file system has room. Each takes the
/// narrow values it judges; none is collective (every rank gets the same answer from the same
/// values, so call them inside coordinated()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/core/comm.hpp"

namespace hlstm::pipeline {

/// The epochs a candidate of window L needs (visible epochs, i.e. after the holdout):
/// training and the selection cut need L + gap + lead + 1 (a training window and its label
/// before the validation cut); each of `cuts` interval cuts one epoch earlier needs
/// L + gap + cuts. `gap` is ModelConfig::inputGap(), `lead` ModelConfig::labelLead().
[[nodiscard]] std::size_t epochsForSelection(std::int64_t L, int gap, int lead);
[[nodiscard]] std::size_t epochsForIntervals(std::int64_t L, int gap, int cuts);

/// What of the grid fits `visibleEpochs`.
struct GridFit {
    std::vector<std::int64_t> L;        ///< the grid's L values that fit, in the grid's order
    int intervalCuts = 0;               ///< run.interval_cuts, or fewer so that every kept L fits
    std::vector<std::string> warnings;  ///< one line per L dropped and for fewer cuts (log on root)
};

/// Fits grid.L and run.interval_cuts to the archive (`input` names it in messages). The
/// candidates train on the first `trainEpochs` visible epochs (all of them with an in-time
/// selection, run.selection_cuts = 0). An L that leaves no training window and label in them
/// is dropped (warning). Out of time (trainEpochs < visibleEpochs) the interval cuts lie after
/// the training epochs, so there are at most visibleEpochs - horizon - trainEpochs of them;
/// in time, each cut one epoch earlier must still hold a forecast window, and an L that would
/// leave fewer than min(cuts, 3) is dropped. The cuts are reduced to what remains (warning).
/// ConfigError naming grid.L, its values, the epochs and what they need when no L fits -
/// before any training, never after it.
[[nodiscard]] GridFit fitGridToEpochs(const std::vector<std::int64_t>& L, int gap, int lead, int intervalCuts,
                                      std::size_t visibleEpochs, std::size_t trainEpochs, int horizon,
                                      const std::string& input);

/// Bytes to train one candidate (weights, gradients, Adam's two moments, and the recurrent
/// layers' activations and workspace for a minibatch): an estimate within a factor of ~2.
[[nodiscard]] double candidateBytes(std::int64_t L, std::int64_t K, std::int64_t S, int horizon, int channels,
                                    int gates, int batch);

/// ConfigError naming grid.K / grid.S / grid.L and the estimate when the largest candidate
/// cannot fit in `memoryBytes` (the machine's physical memory when 0).
void checkGridMemory(const std::vector<std::int64_t>& L, const std::vector<std::int64_t>& K,
                     const std::vector<std::int64_t>& S, int horizon, int channels, int gates, int batch,
                     double memoryBytes = 0);

/// A warning (empty when there is room) when the file system of `output` has less free space
/// than the output (`points` rows, `horizon` steps) and its checkpoints are expected to need.
[[nodiscard]] std::string freeSpaceWarning(const std::string& output, std::uint64_t points, int horizon,
                                           std::size_t epochs);

/// Logs the warnings (and `space`, when not empty) on root.
void logPreflight(const Comm& comm, const std::vector<std::string>& warnings, const std::string& space);

}  // namespace hlstm::pipeline
