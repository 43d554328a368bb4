#include "hlstm/pipeline/predict.hpp"
#include "hlstm/io/output_format.hpp"

#include "hlstm/pipeline/evaluate.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <unordered_map>

#include "hlstm/config/config.hpp"
#include "hlstm/core/coordinated.hpp"
#include "hlstm/core/log.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_file.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/model/model.hpp"
#include "hlstm/version.hpp"

namespace hlstm::pipeline {
namespace {

// Nearest known point by a uniform grid of buckets (about 4 points per cell).
class NearestIndex {
public:
    NearestIndex(const std::vector<double>& x, const std::vector<double>& y) : x_(x), y_(y) {
        if (x.empty()) return;
        x0_ = *std::min_element(x.begin(), x.end());
        y0_ = *std::min_element(y.begin(), y.end());
        const double w = *std::max_element(x.begin(), x.end()) - x0_, h = *std::max_element(y.begin(), y.end()) - y0_;
        const double cells = std::max(1.0, static_cast<double>(x.size()) / 4.0);
        cell_ = std::max(std::sqrt(std::max(w * h, 1e-12) / cells), 1e-9);
        nx_ = static_cast<long>(w / cell_) + 1;
        ny_ = static_cast<long>(h / cell_) + 1;
        for (std::size_t i = 0; i < x.size(); ++i) buckets_[key(cx(x[i]), cy(y[i]))].push_back(i);
    }
    /// The nearest known point and its squared distance (also for points far outside the
    /// known points' box: the search starts at the point's projection q onto the box, and for
    /// every known k, |p - k|^2 >= |p - q|^2 + |q - k|^2 because the box is convex).
    std::size_t nearest(double px, double py, double* distance2 = nullptr) const {
        const double qx = std::clamp(px, x0_, x0_ + static_cast<double>(nx_) * cell_),
                     qy = std::clamp(py, y0_, y0_ + static_cast<double>(ny_) * cell_);
        const double d0 = (px - qx) * (px - qx) + (py - qy) * (py - qy);
        const long ix = cx(qx), iy = cy(qy);
        std::size_t best = 0;
        double bestD = std::numeric_limits<double>::infinity();
        for (long ring = 0; ring <= std::max(nx_, ny_); ++ring) {
            for (long a = ix - ring; a <= ix + ring; ++a)
                for (long b = iy - ring; b <= iy + ring; ++b) {
                    if (std::max(std::labs(a - ix), std::labs(b - iy)) != ring) continue;
                    auto it = buckets_.find(key(a, b));
                    if (it == buckets_.end()) continue;
                    for (std::size_t i : it->second) {
                        const double d = (x_[i] - px) * (x_[i] - px) + (y_[i] - py) * (y_[i] - py);
                        if (d < bestD || (d == bestD && i < best)) {
                            bestD = d;
                            best = i;
                        }
                    }
                }
            // Every point outside this ring is at least ring * cell from q.
            const double ringD = static_cast<double>(ring) * cell_;
            if (std::isfinite(bestD) && bestD <= d0 + ringD * ringD) break;
        }
        if (distance2 != nullptr) *distance2 = bestD;
        return best;
    }

private:
    long cx(double v) const { return static_cast<long>(std::floor((v - x0_) / cell_)); }
    long cy(double v) const { return static_cast<long>(std::floor((v - y0_) / cell_)); }
    static long long key(long a, long b) {
        return (static_cast<long long>(a) << 32) ^ static_cast<long long>(b & 0xffffffff);
    }
    const std::vector<double>& x_;
    const std::vector<double>& y_;
    double x0_ = 0, y0_ = 0, cell_ = 1;
    long nx_ = 1, ny_ = 1;
    std::unordered_map<long long, std::vector<std::size_t>> buckets_;
};

}  // namespace

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
    std::vector<std::string> subMethod;
    std::vector<float> halfWidth;  // subregions x Y: the run's interval half-widths (mm)
    int levelEpochs = 0;           // the run's run.level_epochs (0: a file without its config)
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
            if (f.exists(output::subregions::kIntervalHalfwidth))
                halfWidth = f.openDataset(output::subregions::kIntervalHalfwidth).readAll<float>();
            if (f.hasAttribute(output::attr::kConfig)) {
                Config runConfig;
                runConfig.loadTomlText(f.readStringAttribute(output::attr::kConfig), modelsPath);
                levelEpochs = static_cast<int>(runConfig.getInt("run.level_epochs"));
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
    const model::TimeAxis axis = model::TimeAxis::fromDates(block.points.dates);

    std::vector<std::int32_t> sub(n, -1);
    std::vector<float> nextDiff(n * static_cast<std::size_t>(horizon), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> nextCum = nextDiff, low = nextDiff, high = nextDiff;
    std::uint64_t byNearest = 0, farCount = 0;
    // Per kept point: forecast, or far from every trained point (NaN forecasts).
    std::vector<std::int8_t> status(n, static_cast<std::int8_t>(output::PointStatus::kForecast));
    // EGMS points are matched by pid (a release that removes a point shifts every line after
    // it); the other formats by id.
    const bool byPid = !block.pids.empty() && !knownPid.empty();
    coordinated(comm, "predict:forecast", [&] {
        std::unordered_map<std::int64_t, std::size_t> byId;
        std::unordered_map<std::string, std::size_t> byPidIndex;
        if (byPid)
            for (std::size_t i = 0; i < knownPid.size(); ++i) byPidIndex.emplace(knownPid[i], i);
        else
            for (std::size_t i = 0; i < knownId.size(); ++i) byId.emplace(knownId[i], i);
        NearestIndex nearest(knownX, knownY);
        std::unordered_map<std::int32_t, std::vector<std::size_t>> members;
        std::uint64_t moved = 0;
        std::string example;
        for (std::size_t i = 0; i < n; ++i) {
            std::size_t k = 0;
            bool known = false;
            if (byPid) {
                auto it = byPidIndex.find(block.pids[i]);
                if ((known = it != byPidIndex.end())) k = it->second;
            } else {
                auto it = byId.find(block.points.ids[i]);
                if ((known = it != byId.end())) k = it->second;
            }
            if (known) {
                // The same id must be the same place: another scene may reuse ids 1..n.
                const double x = block.points.x[i], y = block.points.y[i];
                const double tolerance = byPid ? 1.0 : 1e-6 * (std::abs(x) + std::abs(y) + 1.0);  // metres for pids
                if (std::abs(knownX[k] - x) + std::abs(knownY[k] - y) > tolerance && moved++ == 0)
                    example = (byPid ? "pid " + block.pids[i] : "point id " + std::to_string(block.points.ids[i])) +
                              " is at (" + std::to_string(x) + ", " + std::to_string(y) + ") here but at (" +
                              std::to_string(knownX[k]) + ", " + std::to_string(knownY[k]) + ") in " + modelsPath;
            } else {
                double d2 = 0;
                k = nearest.nearest(block.points.x[i], block.points.y[i], &d2);
                if (far == FarPoints::kNaN && !(std::sqrt(d2) <= edgeThreshold)) {
                    status[i] = static_cast<std::int8_t>(output::PointStatus::kFar);
                    sub[i] = -1;
                    ++farCount;
                    continue;
                }
                ++byNearest;
            }
            sub[i] = knownSub.empty() ? -1 : knownSub[k];
            members[sub[i]].push_back(i);
        }
        if (moved > 0)
            throw InputError(inputPath + ": " + example + " (coordinates differ for " + std::to_string(moved) +
                             " point(s) with a known " + (byPid ? "pid" : "id") +
                             " on this rank): not the scene the models were trained on" +
                             (byPid ? std::string("") : "; give its points their own ids or run hlstm run on it"));
        for (auto& [s, rows] : members) {
            if (s < 0) continue;  // far points: NaN
            Forecaster method;
            auto mit = models.find(s);
            auto bit = baselineOf.find(s);
            if (mit != models.end()) {
                const model::Model& mdl = mit->second;
                method = [&mdl](const model::SeriesView& v) { return model::forecast(mdl, v).differential; };
            } else if (bit != baselineOf.end()) {
                method = baselines.forecaster(bit->second, horizon);
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
            for (std::size_t r = 0; r < rows.size(); ++r) {
                // Forecast epochs follow the nominal spacing: rates are the differentials. Positions
                // start from the run's robust level (run.level_epochs), as the run's next_cumulative
                // and its intervals do; from the last value for a file without its configuration.
                double cum = levelEpochs > 0 ? localLevel(series.data() + r * m, axis.steps.data(), m, levelEpochs)
                                             : series[r * m + m - 1];
                for (std::size_t y = 0; y < Y; ++y) {
                    const std::size_t dst = rows[r] * Y + y;
                    const float d = rates[r * Y + y];
                    cum += d;
                    nextDiff[dst] = d;
                    nextCum[dst] = std::isfinite(d) ? static_cast<float>(cum) : std::numeric_limits<float>::quiet_NaN();
                    if (half != nullptr && std::isfinite(half[y])) {
                        low[dst] = nextCum[dst] - half[y];
                        high[dst] = nextCum[dst] + half[y];
                    }
                }
            }
        }
    });
    byNearest = comm.allreduce(byNearest, Reduce::kSum);
    farCount = comm.allreduce(farCount, Reduce::kSum);
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
        output::writePointRows(out, output::points::kSubregion, rows, sub, std::int32_t{-1});
        output::writePointRows(out, output::points::kStatus, rows, status, block.dropped.status);
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
