// Private to src/pipeline: every configuration key `hlstm run` needs, parsed and validated
// once; the stages take the typed values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/config/config.hpp"
#include "hlstm/data/common_mode.hpp"
#include "hlstm/data/native_reader.hpp"
#include "hlstm/data/simulate.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/pipeline/evaluate.hpp"
#include "hlstm/pipeline/plan.hpp"
#include "hlstm/pipeline/run.hpp"
#include "hlstm/spatial/analysis.hpp"

namespace hlstm::pipeline {

struct RunConfig {
    int horizon = 1;  // Y = H: the hidden epochs are what the models forecast
    model::TrainConfig train;
    int threads = 1;
    model::ModelConfig shape;  // target, smoothing, floor, cell, Y; L, K, S per candidate
    std::vector<std::int64_t> L, K, S;
    std::uint64_t seed = 0;
    BaselineRequest baselines;
    bool selectSmoothed = true;
    /// run.incumbent: the baseline that keeps a subregion unless the best candidate beats it
    /// significantly over the selection cuts (its index in `baselines.kinds`; -1: none, the lowest
    /// score wins).
    std::int32_t incumbent = -1;
    double interval = 0.9;
    int shards = 4;                      // train.shards
    double shardShare = 0.3;             // train.shard_share
    bool sliceRows = true;               // train.slice_rows
    int intervalCuts = 12;               // validation cut epochs pooled for the conformal residuals (run.interval_cuts)
    int selectionCuts = 8;               // run.selection_cuts: out-of-time cuts of the selection (0: one, in time)
    int cutStride = 1;                   // run.cut_stride: epochs between successive selection cuts
    LevelRule level;                     // run.level_epochs, run.level_season: the positions' level
    std::vector<double> combineWeights;  // run.combine: the learned model's weights tried in a mix (combine_stage)
    bool choosePositions = true;         // run.positions = choose (position_choice.cpp)
    double positionHedge = 0.5;          // run.position_hedge: the own method's share at a step given away
    std::size_t positionPool = 32;       // run.position_pool: neighbours pooled per point (0: off)
    bool combinePerStep = false;         // run.combine = step: one weight per step
    int refitEpochs = 0;                 // run.refit = finetune | all: the winners' fine-tuning epochs (0: none)
    bool refitAll = false;               // run.refit = all: on every visible window, not the new ones only
    std::string scratch = "output";      // run.scratch: output | off | a directory (scratchPrefix)
    double checkpointSeconds = 600;      // run.checkpoint_minutes
    double progressSeconds = 60;         // run.progress_minutes
    std::string inputChecksum;           // of the input file, computed once (rank 0, broadcast)
    std::string input;
    SimulateOptions simulate;
    std::string simulateKind;
    ReadOptions read;                                // input.*
    CommonModeOptions commonMode;                    // input.common_mode*: the atmosphere filter (common_mode.hpp)
    ReferenceAtmosphereOptions referenceAtmosphere;  // input.reference_*: the reference epoch's atmosphere
    double errorThreshold = 0.5;                     // run.error_threshold: |error| share within it (mm)
    double bootstrapBlock = 10000;    // run.bootstrap_block: side of the paired bootstrap's blocks (metres)
    spatial::SpatialOptions spatial;  // spatial.*: OUT.spatial.h5 at the end when enabled

    /// Parses and validates every key; throws ConfigError naming the key.
    static RunConfig from(const Config& config, const RunArgs& args);

    /// The model configuration of one grid candidate.
    [[nodiscard]] model::ModelConfig shapeOf(const Task& t) const;

    /// Learned baselines: one model of all points each (pseudo subregions after the real ones).
    struct Learned {
        std::string name;
        model::CellKind cell;
    };
    [[nodiscard]] std::vector<Learned> learned() const;
    /// Epochs the candidates train on (selectionTrainEpochs): the selection judges the rest.
    [[nodiscard]] std::size_t trainEpochs(std::size_t visibleEpochs) const {
        return selectionTrainEpochs(visibleEpochs, horizon, shape.smoothing, selectionCuts, cutStride);
    }
    /// The largest L: window_mean and linear_trend look back as far as the longest candidate.
    [[nodiscard]] int baselineWindow() const;
};

}  // namespace hlstm::pipeline
