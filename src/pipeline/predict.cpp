#include "hlstm/pipeline/predict.hpp"
#include "hlstm/io/output_format.hpp"

#include "hlstm/pipeline/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <unordered_map>

#include "hlstm/config/config.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/common_mode.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/pipeline/position_choice.hpp"
#include "hlstm/version.hpp"
#include "match.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
int predict(const Comm& comm, const std::string& modelsPath, const std::string& inputPath,
            const std::string& outputPath, const ReadOptions& readOptions, FarPoints far) {
    // No file it reads (models, input, mask, geometry) may be replaced by the output.
    FilesRead reads = filesRead(inputPath, readOptions);
    reads.add(modelsPath, "the models, --models");
    h5::AtomicOutput atomic(comm, outputPath, reads.paths, reads.options);
    // Models and the point map of the earlier run: small, read by every rank.
    std::vector<std::int64_t> knownId;
    std::vector<std::string> knownPid;                               // EGMS: points are matched by pid
    double edgeThreshold = std::numeric_limits<double>::infinity();  // metres: farther is another scene
    std::vector<double> knownX, knownY;
    std::vector<std::int32_t> knownSub, modelSub;
    std::vector<std::uint64_t> modelOffset, modelSize;
    std::vector<std::uint8_t> modelBytes;
    std::vector<std::int32_t> subIds;
    std::vector<std::string> subMethod, subCombined;  // the baseline mixed into a model's forecast ("": none)
    std::vector<double> subWeight;                    // the model's weight in that mix
    std::vector<float> halfWidth;                     // subregions x Y: the run's interval half-widths (mm)
    std::vector<std::int32_t> positionChoice;         // subregions x Y (position_choice.cpp; empty: own)
    std::vector<std::string> positionNames;           // /baselines/position_name, what it indexes
    CommonModeOptions commonMode;                     // the run's input.common_mode (off for a file without it)
    ReferenceAtmosphereOptions referenceAtmosphere;   // and its input.reference_atmosphere
    std::size_t commonModeRecent = 0;                 // and its history / recent split
    LevelRule levelRule{0, false, 1};                 // the run's run.level_epochs, level_season (0: no config)
    double positionHedge = 0;                         // the run's run.position_hedge (0: an older file)
    std::int32_t positionPool = 0;                    // the run's run.position_pool (0: an older file)
    BaselineSet baselines;
    coordinated(comm, "predict:models", [&] {
        try {
            if (!std::filesystem::exists(modelsPath)) throw InputError(modelsPath + ": no such file");
            if (std::filesystem::is_directory(modelsPath))
                throw InputError(modelsPath + ": is a directory, not an hlstm-output file");
            if (!h5::isHdf5(modelsPath))
                throw InputError(modelsPath + ": not an HDF5 file (expected the output of hlstm run)");
            h5::File f(modelsPath, h5::Access::kReadOnly);
            if (!f.hasAttribute(output::attr::kFormat) ||
                f.readStringAttribute(output::attr::kFormat) != output::kFormatName)
                throw InputError(modelsPath + ": not an hlstm-output file (no format = \"hlstm-output\" attribute)");
            if (!f.hasAttribute(output::attr::kComplete) || f.readAttribute<std::int32_t>(output::attr::kComplete) != 1)
                throw InputError(modelsPath + ": incomplete hlstm-output file (complete != 1)");
            knownId = f.openDataset(output::points::kId).readAll<std::int64_t>();
            knownX = f.openDataset(output::points::kX).readAll<double>();
            knownY = f.openDataset(output::points::kY).readAll<double>();
            knownSub = f.openDataset(output::points::kSubregion).readAll<std::int32_t>();
            if (f.exists(output::points::kPid)) knownPid = f.readStrings(output::points::kPid);
            if (f.exists(output::partition::kEdgeThreshold)) {
                const auto t = f.openDataset(output::partition::kEdgeThreshold).readAll<double>();
                if (!t.empty() && std::isfinite(t[0]) && t[0] > 0) edgeThreshold = t[0];
            }
            modelSub = f.openDataset(output::models::kSubregion).readAll<std::int32_t>();
            modelOffset = f.openDataset(output::models::kOffset).readAll<std::uint64_t>();
            modelSize = f.openDataset(output::models::kSize).readAll<std::uint64_t>();
            modelBytes = f.openDataset(output::models::kBytes).readAll<std::uint8_t>();
            if (f.hasAttribute(output::attr::kFormatVersion) &&
                f.readAttribute<std::int32_t>(output::attr::kFormatVersion) < 2)
                throw InputError(modelsPath + ": hlstm-output format version 1; re-run hlstm run with this version");
            subIds = f.openDataset(output::subregions::kId).readAll<std::int32_t>();
            subMethod = f.readStrings(output::subregions::kMethod);
            if (f.exists(output::subregions::kCombinedWith)) {  // run.combine (combine_stage.cpp)
                subCombined = f.readStrings(output::subregions::kCombinedWith);
                subWeight = f.openDataset(output::subregions::kCombinedWeight).readAll<double>();
            }
            if (f.exists(output::subregions::kPositionChoice)) {
                positionChoice = f.openDataset(output::subregions::kPositionChoice).readAll<std::int32_t>();
                positionNames = f.readStrings(output::baselines::kPositionName);
            }
            if (f.exists(output::subregions::kIntervalHalfwidth))
                halfWidth = f.openDataset(output::subregions::kIntervalHalfwidth).readAll<float>();
            if (f.hasAttribute(output::attr::kConfig)) {
                Config runConfig;
                runConfig.loadTomlText(f.readStringAttribute(output::attr::kConfig), modelsPath);
                levelRule = {static_cast<int>(runConfig.getInt("run.level_epochs")),
                             runConfig.getBool("run.level_season"),
                             static_cast<int>(runConfig.getInt("run.level_degree"))};
                if (f.hasAttribute(output::attr::kPositionHedge))
                    positionHedge = f.readAttribute<double>(output::attr::kPositionHedge);
                if (f.hasAttribute(output::attr::kPositionPool))
                    positionPool = f.readAttribute<std::int32_t>(output::attr::kPositionPool);
                commonMode = commonModeFromConfig(runConfig);  // the run's atmosphere filter, applied again
                referenceAtmosphere = referenceAtmosphereFromConfig(runConfig);
                if (f.hasAttribute(output::attr::kCommonModeRecent))
                    commonModeRecent =
                        static_cast<std::size_t>(f.readAttribute<std::int32_t>(output::attr::kCommonModeRecent));
            }
            baselines.kinds = model::allBaselines();
            baselines.window =
                f.readObjectAttribute<std::int32_t>(output::baselines::kGroup, output::baselines::kAttrWindow);
            baselines.mlr.coefficients = f.openDataset(output::baselines::kMlrCoefficients).readAll<double>();
            baselines.mlr.lags = static_cast<int>(baselines.mlr.coefficients.size()) - 1;
        } catch (const H5Error& err) {
            // A copy cut short opens (or not) and then fails in its datasets.
            throw InputError(modelsPath + ": truncated or damaged hlstm-output file: " + err.what());
        }
    });
    // Subregions that a baseline won are forecast with that baseline.
    std::unordered_map<std::int32_t, std::size_t> baselineOf;
    coordinated(comm, "predict:models", [&] {
        for (std::size_t i = 0; i < subIds.size() && i < subMethod.size(); ++i) {
            if (subMethod[i] == "lstm" || subMethod[i] == "rnn" || subMethod[i] == "none") continue;
            const auto kind = model::baselineFromString(subMethod[i]);
            baselineOf[subIds[i]] = static_cast<std::size_t>(
                std::find(baselines.kinds.begin(), baselines.kinds.end(), kind) - baselines.kinds.begin());
        }
    });
    std::unordered_map<std::int32_t, model::Model> models;
    coordinated(comm, "predict:models", [&] {
        for (std::size_t i = 0; i < modelSub.size(); ++i)
            models.emplace(modelSub[i],
                           model::modelFromBytes(std::string(
                               reinterpret_cast<const char*>(modelBytes.data()) + modelOffset[i], modelSize[i])));
    });
    if (comm.isRoot()) log::info() << "loaded " << models.size() << " subregion model(s) from " << modelsPath;

    LocalBlock block = readInput(comm, inputPath, readOptions);
    const std::size_t n = block.points.size(), m = block.points.nEpochs();
    int horizon = models.empty() ? 1 : models.begin()->second.config.horizon;
    if (models.empty() && !subIds.empty()) {
        h5::File f(modelsPath, h5::Access::kReadOnly);
        horizon = f.readAttribute<std::int32_t>("holdout");
    }
    referenceAtmosphereStage(comm, referenceAtmosphere, block.points, m);  // as the run re-referenced its series
    const model::TimeAxis axis = model::TimeAxis::fromDates(block.points.dates);
    if (commonMode.use != CommonModeUse::kOff) {  // as the run filtered the series it forecast from
        const CommonModeField field = estimateCommonMode(comm, block.points, m, commonMode);
        const auto [from, to] = commonModeEpochs(commonMode.use, m, commonModeRecent);
        subtractCommonMode(field, block.points, from, to);
        if (comm.isRoot())
            log::info() << "common mode (" << toString(commonMode.use) << ") removed from epochs " << from << ".."
                        << to;
    }

    std::vector<float> nextDiff(n * static_cast<std::size_t>(horizon), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> nextCum = nextDiff, low = nextDiff, high = nextDiff, halfOf = nextDiff;
    KnownPoints known{std::move(knownId), std::move(knownPid), std::move(knownX),
                      std::move(knownY),  std::move(knownSub), edgeThreshold};
    PointMatch match;
    std::map<std::int32_t, std::vector<double>> shares;  // the own method's share per subregion (poolStage)
    coordinated(comm, "predict:forecast", [&] {
        match = matchPoints(known, block, far, inputPath, modelsPath);
        std::unordered_map<std::int32_t, std::vector<std::size_t>> members;
        for (std::size_t i = 0; i < n; ++i)
            if (match.status[i] == 0) members[match.subregion[i]].push_back(i);
        for (auto& [s, rows] : members) {
            if (s < 0) continue;  // far points: NaN
            Forecaster method;
            auto mit = models.find(s);
            auto bit = baselineOf.find(s);
            // A baseline that won forecasts though /models may keep the subregion's best candidate.
            if (bit != baselineOf.end()) {
                method = baselines.forecaster(bit->second, horizon);
            } else if (mit != models.end()) {
                const model::Model& mdl = mit->second;
                method = [&mdl](const model::SeriesView& v) { return model::forecast(mdl, v).differential; };
                const std::size_t k =
                    static_cast<std::size_t>(std::find(subIds.begin(), subIds.end(), s) - subIds.begin());
                const auto Y = static_cast<std::size_t>(horizon);  // subWeight: subregions x Y
                if (k < subCombined.size() && (k + 1) * Y <= subWeight.size() && !subCombined[k].empty()) {
                    const auto kind = model::baselineFromString(subCombined[k]);
                    method = combinedForecaster(
                        method,
                        baselines.forecaster(
                            static_cast<std::size_t>(std::find(baselines.kinds.begin(), baselines.kinds.end(), kind) -
                                                     baselines.kinds.begin()),
                            horizon),
                        std::vector<double>(subWeight.begin() + static_cast<std::ptrdiff_t>(k * Y),
                                            subWeight.begin() + static_cast<std::ptrdiff_t>((k + 1) * Y)));
                }
            } else {
                continue;  // subregion without a model: NaN
            }
            std::vector<float> series;
            for (std::size_t i : rows) series.insert(series.end(), block.points.series(i), block.points.series(i) + m);
            const std::vector<float> rates = method({series.data(), rows.size(), m, &axis, m});
            const auto Y = static_cast<std::size_t>(horizon);
            const std::size_t sIndex = static_cast<std::size_t>(std::find(subIds.begin(), subIds.end(), s) -
                                                                subIds.begin());  // row of /subregions/*
            const float* half = halfWidth.size() >= (sIndex + 1) * Y ? halfWidth.data() + sIndex * Y : nullptr;
            // Forecast epochs follow the nominal spacing: rates are the differentials. Positions
            // start from the run's robust level (run.level_epochs), as the run's next_cumulative
            // and its intervals do (from the last value for a file without its configuration), or
            // come at a step from the method the run chose for it (position_choice.cpp).
            const std::vector<std::int32_t> steps =
                positionChoice.size() >= (sIndex + 1) * Y
                    ? positionStepsFromFile(positionChoice.data() + sIndex * Y, Y, positionNames, baselines)
                    : std::vector<std::int32_t>{};
            shares[s] = ownShare(steps, Y, positionHedge);
            const std::vector<float> positions = positionsOf(steps, {series.data(), rows.size(), m, &axis, m}, rates,
                                                             baselines, levelRule, horizon, positionHedge);
            for (std::size_t r = 0; r < rows.size(); ++r) {
                for (std::size_t y = 0; y < Y; ++y) {
                    const std::size_t dst = rows[r] * Y + y;
                    const float d = rates[r * Y + y];
                    nextDiff[dst] = d;
                    nextCum[dst] = positions[r * Y + y];
                    if (half != nullptr && std::isfinite(half[y])) {
                        halfOf[dst] = half[y];
                        low[dst] = nextCum[dst] - half[y];
                        high[dst] = nextCum[dst] + half[y];
                    }
                }
            }
        }
    });
    if (positionPool > 0) {  // the run's pooled increments (pool_stage.cpp), intervals moved alike
        const auto Y = static_cast<std::size_t>(horizon);
        poolStage(comm, static_cast<std::size_t>(positionPool), Y, block.points.x, block.points.y, match.subregion,
                  shares, {{nextDiff.data(), nextCum.data(), Y}});
        for (std::size_t j = 0; j < nextCum.size(); ++j)
            if (std::isfinite(halfOf[j])) low[j] = nextCum[j] - halfOf[j], high[j] = nextCum[j] + halfOf[j];
    }
    const std::uint64_t byNearest = comm.allreduce(match.byNearest, Reduce::kSum);
    const std::uint64_t farCount = comm.allreduce(match.far, Reduce::kSum);
    const bool byPid = match.byPid;
    coordinated(comm, "predict:forecast", [&] {
        if (farCount > 0 && farCount == block.keptTotal)
            throw InputError(inputPath + ": none of its " + std::to_string(farCount) +
                             " points is within the partition's edge threshold (" + std::to_string(edgeThreshold) +
                             " m) of a point the models of " + modelsPath +
                             " were trained on: another scene; run hlstm run on it (or --assign-far nearest)");
    });
    if (comm.isRoot()) {
        log::info() << "forecast " << block.keptTotal - farCount << " of " << block.keptTotal << " points ("
                    << byNearest << " not in the model file took their nearest known point's subregion; matched by "
                    << (byPid ? "pid" : "id") << ")";
        if (farCount > 0)
            log::warn() << farCount << " point(s) of " << inputPath << " are farther than the edge threshold ("
                        << edgeThreshold << " m) from every trained point: status far, NaN forecasts "
                        << "(--assign-far nearest gives them the nearest subregion's model)";
    }

    atomic.write("predict:write", [&](h5::File& out) {
        // Every input point is a row: the kept ones, then the others with their reason.
        const output::PointRows rows = pointRowsOf(block);
        const std::uint64_t Y = static_cast<std::uint64_t>(horizon);
        constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
        writePointGeography(comm, out, block);
        output::writePointRows(out, output::points::kSubregion, rows, match.subregion, std::int32_t{-1});
        output::writePointRows(out, output::points::kStatus, rows, match.status, block.dropped.status);
        output::writePointRows(out, output::forecast::kNextDiff, rows, nextDiff, kMissing, Y);
        output::writePointRows(out, output::forecast::kNextCumulative, rows, nextCum, kMissing, Y);
        // The run's split-conformal half-widths per subregion and step around next_cumulative.
        output::writePointRows(out, output::forecast::kIntervalLow, rows, low, kMissing, Y);
        output::writePointRows(out, output::forecast::kIntervalHigh, rows, high, kMissing, Y);
        out.writeSmall<std::int32_t>(output::forecast::kNextDates, dates::following(block.points.dates, horizon));
        out.writeAttribute(output::attr::kFormat, std::string(output::kPredictionFormatName));
        out.writeAttribute(output::attr::kHlstmVersion, std::string(kVersion));
        out.writeAttribute(output::attr::kModels, std::filesystem::absolute(modelsPath).string());
        out.writeAttribute(output::attr::kInput, std::filesystem::absolute(inputPath).string());
        out.writeAttribute(output::attr::kComplete, static_cast<std::int32_t>(1));
    });
    if (comm.isRoot()) log::info() << "wrote " << outputPath;
    return 0;
}

}  // namespace hlstm::pipeline
