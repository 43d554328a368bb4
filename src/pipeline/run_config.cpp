#include "run_config.hpp"

#include <algorithm>

#include "hlstm/core/error.hpp"
#include "hlstm/data/input.hpp"

namespace hlstm::pipeline {

RunConfig RunConfig::from(const Config& config, const RunArgs& args) {
    RunConfig rc;
    rc.horizon = model::horizonFrom(config);
    const int H = static_cast<int>(config.getInt("run.holdout"));
    if (H != rc.horizon)
        throw ConfigError("run.holdout (" + std::to_string(H) + ") must equal model.horizon (" +
                          std::to_string(rc.horizon) + "): the hidden epochs are what the models forecast");
    if (args.output.empty() && !args.dryRun) throw ConfigError("run: -o OUTPUT is required");
    rc.train = model::trainConfigFrom(config);  // validated there
    if (!(rc.train.validationFraction > 0))
        throw ConfigError(
            "model.validation_fraction must be > 0 for hlstm run: the validation points choose "
            "each subregion's model and calibrate the intervals");
    rc.threads = model::resolveThreads(rc.train.threads);
    const auto shards = config.getInt("train.shards");
    if (shards < 1 || shards > 1024) throw ConfigError("train.shards must be in 1..1024");
    rc.shards = static_cast<int>(shards);
    rc.shardShare = config.getDouble("train.shard_share");
    rc.sliceRows = config.getBool("train.slice_rows");
    if (!(rc.shardShare >= 0 && rc.shardShare <= 1)) throw ConfigError("train.shard_share must be in [0, 1]");
    rc.L = config.getIntList("grid.L");
    rc.K = config.getIntList("grid.K");
    rc.S = config.getIntList("grid.S");
    if (rc.L.empty() || rc.K.empty() || rc.S.empty()) throw ConfigError("grid.L, grid.K and grid.S need a value each");
    for (auto v : rc.L)
        if (v < rc.horizon + 1 || v > 100000)
            throw ConfigError("grid.L: every L must exceed model.horizon (got " + std::to_string(v) + ")");
    for (auto v : rc.K)
        if (v < 1 || v > 64) throw ConfigError("grid.K: every K must be in 1..64");
    for (auto v : rc.S)
        if (v < 1 || v > 4096) throw ConfigError("grid.S: every S must be in 1..4096");
    rc.shape = model::modelConfigFrom(config, static_cast<int>(rc.L.front()), static_cast<int>(rc.K.front()),
                                      static_cast<int>(rc.S.front()));
    rc.seed = static_cast<std::uint64_t>(config.getInt("model.seed"));
    rc.baselines = baselinesFromConfig(config.getString("run.baselines"));
    const std::string& select = config.getString("run.select");
    if (select != "smoothed" && select != "paper")
        throw ConfigError("run.select = \"" + select + "\": expected smoothed or paper");
    rc.selectSmoothed = select == "smoothed";
    const std::string& incumbent = config.getString("run.incumbent");
    const auto& requested = rc.baselines.kinds;
    const bool autoLocal =
        incumbent == "auto" && rc.selectSmoothed &&
        std::find(requested.begin(), requested.end(), model::BaselineKind::kLocalAnnual) != requested.end();
    if (autoLocal) {
        rc.incumbent = static_cast<std::int32_t>(
            std::find(requested.begin(), requested.end(), model::BaselineKind::kLocalAnnual) - requested.begin());
    } else if (incumbent != "none" && incumbent != "auto") {
        model::BaselineKind kind{};
        try {
            kind = model::baselineFromString(incumbent);
        } catch (const ConfigError& e) {
            throw ConfigError("run.incumbent = \"" + incumbent + "\": " + e.what() + ", auto or none");
        }
        const auto& kinds = rc.baselines.kinds;
        const auto at = std::find(kinds.begin(), kinds.end(), kind);
        if (at == kinds.end()) throw ConfigError("run.incumbent = \"" + incumbent + "\" is not among run.baselines");
        if (!rc.selectSmoothed)
            throw ConfigError("run.incumbent needs run.select = smoothed (or run.incumbent = none)");
        rc.incumbent = static_cast<std::int32_t>(at - kinds.begin());
    }
    rc.interval = config.getDouble("run.interval");
    if (!(rc.interval >= 0 && rc.interval < 1)) throw ConfigError("run.interval must be in [0, 1)");
    const auto cuts = config.getInt("run.interval_cuts");
    if (cuts < 1 || cuts > 1000) throw ConfigError("run.interval_cuts must be in 1..1000");
    rc.intervalCuts = static_cast<int>(cuts);
    const auto selectionCuts = config.getInt("run.selection_cuts");
    if (selectionCuts < 0 || selectionCuts > 1000) throw ConfigError("run.selection_cuts must be in 0..1000");
    rc.selectionCuts = static_cast<int>(selectionCuts);
    const auto cutStride = config.getInt("run.cut_stride");
    if (cutStride < 1 || cutStride > 100) throw ConfigError("run.cut_stride must be in 1..100");
    rc.cutStride = static_cast<int>(cutStride);
    const auto levelEpochs = config.getInt("run.level_epochs");
    if (levelEpochs < 1 || levelEpochs > 1000) throw ConfigError("run.level_epochs must be in 1..1000");
    const auto levelDegree = config.getInt("run.level_degree");
    if (levelDegree != 1 && levelDegree != 2)
        throw ConfigError("run.level_degree must be 1 (a line) or 2 (a quadratic)");
    rc.level = {static_cast<int>(levelEpochs), config.getBool("run.level_season"), static_cast<int>(levelDegree)};
    const std::string& combine = config.getString("run.combine");
    if (combine == "scored")
        rc.combineWeights = {0.75, 0.5, 0.25};
    else if (combine == "step")
        rc.combineWeights = {1, 0.75, 0.5, 0.25, 0}, rc.combinePerStep = true;
    else if (combine == "mean")
        rc.combineWeights = {0.5};
    else if (combine != "off")
        throw ConfigError("run.combine = \"" + combine + "\": expected scored, step, mean or off");
    const std::string& positions = config.getString("run.positions");
    if (positions != "choose" && positions != "own")
        throw ConfigError("run.positions = \"" + positions + "\": expected choose or own");
    rc.choosePositions = positions == "choose";
    rc.positionHedge = config.getDouble("run.position_hedge");
    if (!(rc.positionHedge >= 0 && rc.positionHedge <= 1)) throw ConfigError("run.position_hedge must be in [0, 1]");
    const std::int64_t pool = config.getInt("run.position_pool");
    if (pool < 0 || pool > 10000) throw ConfigError("run.position_pool must be in [0, 10000] (0: off)");
    rc.positionPool = static_cast<std::size_t>(pool);
    const std::string& refit = config.getString("run.refit");
    if (refit != "none" && refit != "finetune" && refit != "all")
        throw ConfigError("run.refit = \"" + refit + "\": expected none, finetune or all");
    const auto refitEpochs = config.getInt("run.refit_epochs");
    if (refitEpochs < 1 || refitEpochs > 10000) throw ConfigError("run.refit_epochs must be in 1..10000");
    rc.refitEpochs = refit != "none" ? static_cast<int>(refitEpochs) : 0;
    rc.refitAll = refit == "all";
    rc.scratch = config.getString("run.scratch");
    if (rc.scratch.empty()) throw ConfigError("run.scratch is empty: expected output, off or a directory");
    rc.spatial = spatial::SpatialOptions::fromConfig(config);
    rc.errorThreshold = config.getDouble("run.error_threshold");
    if (!(rc.errorThreshold > 0)) throw ConfigError("run.error_threshold must be > 0 (mm)");
    rc.bootstrapBlock = config.getDouble("run.bootstrap_block");
    if (!(rc.bootstrapBlock > 0)) throw ConfigError("run.bootstrap_block must be > 0 (metres)");
    const double minutes = config.getDouble("run.checkpoint_minutes");
    if (!(minutes >= 0 && minutes <= 1e6)) throw ConfigError("run.checkpoint_minutes must be in [0, 1e6]");
    rc.checkpointSeconds = 60.0 * minutes;
    const double progress = config.getDouble("run.progress_minutes");
    if (!(progress >= 0 && progress <= 1e6)) throw ConfigError("run.progress_minutes must be in [0, 1e6]");
    rc.progressSeconds = 60.0 * progress;
    if (args.resume && args.dryRun) throw ConfigError("run: --resume and --dry-run exclude each other");
    rc.input = args.input.empty() ? config.getString("input.path") : args.input;
    rc.read = readOptionsFromConfig(config);
    rc.commonMode = commonModeFromConfig(config);
    rc.referenceAtmosphere = referenceAtmosphereFromConfig(config);
    rc.read.truthEpochs = static_cast<std::size_t>(rc.horizon) + 1;  // the held-out differentials only
    rc.simulateKind = config.getString("simulate.kind");
    rc.simulate.kind = rc.simulateKind == "patterns" ? SceneKind::kPatterns : SceneKind::kScene;
    const auto points = config.getInt("simulate.points"), epochs = config.getInt("simulate.epochs");
    if (rc.input.empty() && (points < 1 || epochs < 3))
        throw ConfigError("simulate.points must be >= 1 and simulate.epochs >= 3");
    rc.simulate.points = static_cast<std::uint64_t>(std::max<std::int64_t>(points, 1));
    rc.simulate.epochs = static_cast<std::uint64_t>(std::max<std::int64_t>(epochs, 3));
    rc.simulate.seed = static_cast<std::uint64_t>(config.getInt("simulate.seed"));
    const auto drop = config.getInt("simulate.drop");
    if (drop < 0 || drop + 4 > epochs) throw ConfigError("simulate.drop must be in 0..simulate.epochs - 4");
    rc.simulate.drop = static_cast<std::uint64_t>(drop);
    rc.simulate.atmosphereMm = config.getDouble("simulate.atmosphere_mm");
    if (!(rc.simulate.atmosphereMm >= 0 && rc.simulate.atmosphereMm <= 1000))
        throw ConfigError("simulate.atmosphere_mm must be in 0..1000 (0 turns the atmosphere off)");
    return rc;
}

model::ModelConfig RunConfig::shapeOf(const Task& t) const {
    model::ModelConfig m = shape;
    m.cell = static_cast<model::CellKind>(t.cell);
    m.window = t.L;
    m.layers = t.K;
    m.units = t.S;
    m.validate();
    return m;
}

std::vector<RunConfig::Learned> RunConfig::learned() const {
    std::vector<Learned> out;
    if (baselines.globalLstm) out.push_back({"global_lstm", model::CellKind::kLstm});
    if (baselines.rnn) out.push_back({"rnn", model::CellKind::kRnn});
    return out;
}

int RunConfig::baselineWindow() const { return static_cast<int>(*std::max_element(L.begin(), L.end())); }

}  // namespace hlstm::pipeline
