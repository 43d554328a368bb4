#include <cmath>
#include <filesystem>

#include "hlstm/core/hash.hpp"
#include "hlstm/data/input.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/partition/output.hpp"
#include "hlstm/version.hpp"
#include "stages.hpp"

namespace hlstm::pipeline {
namespace {

// The eq. (5)-(7) columns of one metrics table: <prefix>{n,mae,sd,mse,accuracy}.
void writeMetricColumns(const h5::File& out, const std::string& prefix, const std::vector<Metrics>& table) {
    std::vector<std::uint64_t> n;
    std::vector<double> mae, sd, mse, accuracy;
    for (const auto& m : table) {
        n.push_back(m.n);
        mae.push_back(m.mae);
        sd.push_back(m.sd);
        mse.push_back(m.mse);
        accuracy.push_back(m.accuracy);
    }
    out.writeSmall(prefix + "n", n);
    out.writeSmall(prefix + "mae", mae);
    out.writeSmall(prefix + "sd", sd);
    out.writeSmall(prefix + "mse", mse);
    out.writeSmall(prefix + "accuracy", accuracy);
}

template <class T>
void writeSmall2D(const h5::File& out, const std::string& path, const std::vector<T>& values, std::uint64_t rows,
                  std::uint64_t cols, bool writer) {
    auto ds = out.createDataset<T>(path, {rows, cols});
    ds.writeRows(0, writer ? rows : 0, values.data());
}

std::vector<double> maeOf(const std::vector<Metrics>& v) {
    std::vector<double> out;
    for (const auto& m : v) out.push_back(m.mae);
    return out;
}

// Writes one run's output; each section one method, sharing what every section needs.
class OutputWriter {
public:
    OutputWriter(const RunContext& ctx, const Config& config, const RunOutputs& r, h5::File& out)
        : ctx(ctx),
          config(config),
          r(r),
          out(out),
          comm(ctx.comm),
          rc(ctx.rc),
          block(r.block),
          subs(r.part.summary.subregions),
          book(r.eval.book),
          f(r.eval.owned),
          nSub(static_cast<std::int32_t>(subs.size())),
          rows(pointRowsOf(block)),
          Y(static_cast<std::uint64_t>(rc.horizon)),
          root(comm.isRoot()),
          hasTruth(block.stats.hasTruth) {}

    /// /points (coordinates, geography, split, partition) and /forecast, each rank its rows.
    void points() const;
    /// /subregions: one row per subregion, what won it and why; its timing in /timing.
    void subregions() const;
    /// /grid_search: one row per candidate; its timing in /timing.
    void gridSearch() const;
    void gridSearchCurves() const;
    /// /baselines: one row per baseline (Table III), per subregion and per step as 2-D datasets.
    void baselines() const;
    /// /models: each subregion's best candidate's model (/subregions/method says whether it won), in
    /// subregion order.
    void models() const;
    /// /metrics: the global figures as attributes, per-zone and per-step datasets.
    void metrics() const;
    /// Positions (issue 23): /forecast/holdout_cumulative, HLSTM's per-step position MAE in
    /// /metrics and every position method's in /baselines.
    void positions() const;
    /// Root attributes: format, versions, configuration, input and its checksum; complete = 1 last.
    void provenance() const;

private:
    const RunContext& ctx;
    const Config& config;
    const RunOutputs& r;
    h5::File& out;
    const Comm& comm;
    const RunConfig& rc;
    const LocalBlock& block;
    const std::vector<partition::SubregionInfo>& subs;
    const MetricBook& book;
    const OwnerForecasts& f;
    const std::int32_t nSub;
    const output::PointRows rows;  // every input point: kept, then not kept
    const std::uint64_t Y;
    const bool root, hasTruth;
};

void OutputWriter::points() const {
    writePointGeography(comm, out, block);
    output::writePointRows(out, output::points::kSplit, rows, f.split, std::int8_t{-1});
    partition::writePartition(out, r.part, rows, r.dbDistance);
    // Why each input point was or was not forecast: a kept point whose subregion has no
    // method is kNoModel; the others carry the reader's reason.
    std::vector<std::int8_t> status(block.points.size(), static_cast<std::int8_t>(output::PointStatus::kForecast));
    for (std::size_t i = 0; i < status.size(); ++i) {
        const Choice& c = r.selection.choice[static_cast<std::size_t>(r.part.subregion[i])];
        if (c.task < 0 && c.baseline < 0) status[i] = static_cast<std::int8_t>(output::PointStatus::kNoModel);
    }
    output::writePointRows(out, output::points::kStatus, rows, status, block.dropped.status);
    std::vector<float> absError(f.pred.size());
    for (std::size_t k = 0; k < absError.size(); ++k) absError[k] = std::abs(f.pred[k] - f.observed[k]);
    output::writePointRows(out, output::forecast::kHoldoutTrue, rows, f.observed, kNaN, Y);
    output::writePointRows(out, output::forecast::kHoldoutPred, rows, f.pred, kNaN, Y);
    output::writePointRows(out, output::forecast::kAbsError, rows, absError, kNaN, Y);
    output::writePointRows(out, output::forecast::kPersistencePred, rows, f.persistence, kNaN, Y);
    if (hasTruth) output::writePointRows(out, output::forecast::kHoldoutTruth, rows, f.truth, kNaN, Y);
    output::writePointRows(out, output::forecast::kHoldoutIntervalLow, rows, f.low, kNaN, Y);
    output::writePointRows(out, output::forecast::kHoldoutIntervalHigh, rows, f.high, kNaN, Y);
    output::writePointRows(out, output::forecast::kNextDiff, rows, f.nextDiff, kNaN, Y);
    output::writePointRows(out, output::forecast::kNextCumulative, rows, f.nextCum, kNaN, Y);
    output::writePointRows(out, output::forecast::kIntervalLow, rows, f.nextLow, kNaN, Y);
    output::writePointRows(out, output::forecast::kIntervalHigh, rows, f.nextHigh, kNaN, Y);
    out.writeSmall<std::int32_t>(output::forecast::kInputDates, block.points.dates);
    out.writeSmall<std::int32_t>(output::forecast::kNextDates, dates::following(block.points.dates, rc.horizon));
    out.writeSmall<std::int32_t>(
        output::forecast::kHoldoutDates,
        std::vector<std::int32_t>(block.points.dates.begin() + static_cast<std::ptrdiff_t>(ctx.visibleEpochs),
                                  block.points.dates.end()));
}

void OutputWriter::subregions() const {
    // One row per subregion: what won it and why.
    std::vector<std::int32_t> sid, szone, sL, sK, sS, srank, sstatus;
    std::vector<std::uint64_t> sn;
    std::vector<double> svmae, ssec, sscore, scand, sbscore;
    std::vector<std::string> smethod, swhy, sbest, scombined;
    std::vector<double> sweight;
    std::vector<float> shalf;
    for (std::int32_t s = 0; s < nSub; ++s) {
        const auto& info = subs[static_cast<std::size_t>(s)];
        const Choice& c = r.selection.choice[static_cast<std::size_t>(s)];
        const Task* t = c.task >= 0 ? &ctx.plan.tasks[static_cast<std::size_t>(c.task)] : nullptr;
        const TaskResult* tr = c.task >= 0 ? &r.selection.results[static_cast<std::size_t>(c.task)] : nullptr;
        sid.push_back(info.id);
        szone.push_back(info.zone);
        sn.push_back(info.nPoints);
        sL.push_back(t ? t->L : -1);
        sK.push_back(t ? t->K : -1);
        sS.push_back(t ? t->S : -1);
        srank.push_back(t ? t->rank : -1);
        sstatus.push_back(c.task >= 0 || c.baseline >= 0 ? 0 : 1);
        svmae.push_back(tr ? tr->validationMae : std::nan(""));
        ssec.push_back(tr ? tr->seconds : std::nan(""));
        sscore.push_back(c.score);
        scand.push_back(c.bestCandidate);
        sbscore.push_back(c.bestBaselineScore);
        smethod.push_back(c.task >= 0       ? model::toString(rc.shape.cell)
                          : c.baseline >= 0 ? model::toString(r.baselines.kinds[static_cast<std::size_t>(c.baseline)])
                                            : "none");
        swhy.push_back(c.why);
        scombined.push_back(c.combineBaseline >= 0
                                ? model::toString(r.baselines.kinds[static_cast<std::size_t>(c.combineBaseline)])
                                : "");
        for (std::size_t y = 0; y < static_cast<std::size_t>(rc.horizon); ++y)
            sweight.push_back(c.combineBaseline >= 0 && y < c.combineWeights.size() ? c.combineWeights[y] : 1.0);
        sbest.push_back(
            c.bestBaseline >= 0 ? model::toString(r.baselines.kinds[static_cast<std::size_t>(c.bestBaseline)]) : "");
        const auto& hw = r.back.halfWidths[static_cast<std::size_t>(s)];
        shalf.insert(shalf.end(), hw.begin(), hw.end());
    }
    out.writeSmall(output::subregions::kId, sid);
    out.writeSmall(output::subregions::kZone, szone);
    out.writeSmall(output::subregions::kNPoints, sn);
    out.writeSmall(output::subregions::kL, sL);
    out.writeSmall(output::subregions::kK, sK);
    out.writeSmall(output::subregions::kS, sS);
    out.writeSmall(output::subregions::kFailed, sstatus);
    out.writeStrings(output::subregions::kMethod, smethod);
    out.writeStrings(output::subregions::kWhy, swhy);
    out.writeStrings(output::subregions::kCombinedWith, scombined);
    out.writeSmall(output::subregions::kSelectionScore, sscore);
    out.writeSmall(output::subregions::kBestCandidateScore, scand);
    out.writeStrings(output::subregions::kBestBaseline, sbest);
    out.writeSmall(output::subregions::kBestBaselineScore, sbscore);
    out.writeSmall(output::subregions::kValidationMae, svmae);
    writeSmall2D(out, output::subregions::kIntervalHalfwidth, shalf, static_cast<std::uint64_t>(nSub), Y, root);
    writeSmall2D(out, output::subregions::kCombinedWeight, sweight, static_cast<std::uint64_t>(nSub), Y, root);
    writeSmall2D(out, output::subregions::kPositionChoice,
                 positionChoiceColumn(r.selection.choice, r.eval.names.size(), Y), static_cast<std::uint64_t>(nSub), Y,
                 root);
    writeMetricColumns(out, output::subregions::kColumnPrefix, book["sub"]);
    out.writeSmall(output::subregions::kMaePersistence, maeOf(book["persistence/sub"]));
    if (hasTruth) out.writeSmall(output::subregions::kMaeTruth, maeOf(book["sub_truth"]));
    // Timing and placement depend on the run, not on the data: kept apart in /timing.
    out.writeSmall(output::timing::kSubregionSeconds, ssec);
    out.writeSmall(output::timing::kSubregionRank, srank);
}

void OutputWriter::gridSearch() const {
    // One row per candidate.
    std::vector<std::int32_t> gi, gs, gL, gK, gS, gst, gep, grank;
    std::vector<double> gmae, gscore, gsec, gcost;
    std::vector<std::uint64_t> gtr, gva;
    for (const auto& tr : r.selection.results) {
        const auto& t = ctx.plan.tasks[static_cast<std::size_t>(tr.index)];
        gi.push_back(t.index);
        gs.push_back(t.subregion);
        gL.push_back(t.L);
        gK.push_back(t.K);
        gS.push_back(t.S);
        gst.push_back(tr.status);
        gep.push_back(tr.epochs);
        gmae.push_back(tr.validationMae);
        gscore.push_back(tr.score);
        gtr.push_back(tr.trainSamples);
        gva.push_back(tr.validationSamples);
        gsec.push_back(tr.seconds);
        grank.push_back(tr.rank);
        gcost.push_back(t.cost);
    }
    out.writeSmall(output::grid_search::kTask, gi);
    out.writeSmall(output::grid_search::kSubregion, gs);
    out.writeSmall(output::grid_search::kL, gL);
    out.writeSmall(output::grid_search::kK, gK);
    out.writeSmall(output::grid_search::kS, gS);
    out.writeSmall(output::grid_search::kStatus, gst);
    out.writeSmall(output::grid_search::kEpochs, gep);
    out.writeSmall(output::grid_search::kValidationMae, gmae);
    out.writeSmall(output::grid_search::kSelectionScore, gscore);
    out.writeSmall(output::grid_search::kTrainSamples, gtr);
    out.writeSmall(output::grid_search::kValidationSamples, gva);
    out.writeSmall(output::grid_search::kCost, gcost);
    gridSearchCurves();
    out.writeSmall(output::timing::kCandidateSeconds, gsec);
    out.writeSmall(output::timing::kCandidateRank, grank);
}

void OutputWriter::gridSearchCurves() const {
    // Candidates x epochs (issue 20 item 3), the last loss, the kept epoch and the verdict.
    const std::size_t n = r.selection.results.size(), E = static_cast<std::size_t>(rc.train.epochs);
    std::vector<double> loss(n * E), mae(n * E), last;
    std::vector<std::int32_t> best;
    for (std::size_t i = 0; i < n; ++i) {
        const double* row = r.selection.curves.data() + i * 2 * E;
        std::copy_n(row, E, loss.begin() + static_cast<std::ptrdiff_t>(i * E));
        std::copy_n(row + E, E, mae.begin() + static_cast<std::ptrdiff_t>(i * E));
        last.push_back(r.selection.results[i].trainLoss);
        best.push_back(r.selection.results[i].bestEpoch);
    }
    writeSmall2D(out, output::grid_search::kTrainLossCurve, loss, n, E, root);
    writeSmall2D(out, output::grid_search::kValidationMaeCurve, mae, n, E, root);
    out.writeSmall(output::grid_search::kFinalTrainLoss, last);
    out.writeSmall(output::grid_search::kBestEpoch, best);
    out.writeSmall(output::grid_search::kConverged, r.selection.converged);
    const h5::Dataset conv = out.openDataset(output::grid_search::kConverged);
    conv.writeAttribute(output::grid_search::kAttrConvergenceTol, rc.train.convergenceTol);
    conv.writeAttribute(output::grid_search::kAttrConvergenceWindow,
                        std::string("last w = max(2, epochs / 5) epochs vs the w before"));
}

void OutputWriter::baselines() const {
    // One row per baseline (Table III), per subregion and per step as 2-D datasets.
    const std::size_t nB = r.eval.names.size(), nPerPoint = r.baselines.kinds.size();
    std::vector<std::string> bname;
    std::vector<double> bmae, bsd, bmse, bacc, btruth, bsec(nB, 0.0),
        bscore(nB * static_cast<std::size_t>(nSub), std::nan(""));
    std::vector<double> bsub, bsubTruth, bstep, bstepTruth;
    for (const auto& bs : r.selection.baselineScores) {
        if (std::isfinite(bs.score))
            bscore[static_cast<std::size_t>(bs.baseline) * static_cast<std::size_t>(nSub) +
                   static_cast<std::size_t>(bs.subregion)] = bs.score;
        bsec[static_cast<std::size_t>(bs.baseline)] += bs.seconds;
    }
    for (const auto& tr : r.selection.results) {  // learned baselines: their model's training time
        const auto sub = ctx.plan.tasks[static_cast<std::size_t>(tr.index)].subregion;
        if (sub >= nSub) bsec[nPerPoint + static_cast<std::size_t>(sub - nSub)] += tr.seconds;
    }
    for (std::size_t b = 0; b < nB; ++b) {
        const std::string& name = r.eval.names[b];
        const Metrics& g = book[name][0];
        bname.push_back(name);
        bmae.push_back(g.mae);
        bsd.push_back(g.sd);
        bmse.push_back(g.mse);
        bacc.push_back(g.accuracy);
        for (double v : maeOf(book[name + "/sub"])) bsub.push_back(v);
        for (double v : maeOf(book[name + "/step"])) bstep.push_back(v);
        if (hasTruth) {
            btruth.push_back(book[name + "/truth"][0].mae);
            for (double v : maeOf(book[name + "/sub_truth"])) bsubTruth.push_back(v);
            for (double v : maeOf(book[name + "/step_truth"])) bstepTruth.push_back(v);
        }
    }
    out.writeStrings(output::baselines::kName, bname);
    out.writeSmall(output::baselines::kMae, bmae);
    out.writeSmall(output::baselines::kSd, bsd);
    out.writeSmall(output::baselines::kMse, bmse);
    out.writeSmall(output::baselines::kAccuracy, bacc);
    if (hasTruth) out.writeSmall(output::baselines::kMaeTruth, btruth);
    writeSmall2D(out, output::baselines::kSubregionMae, bsub, nB, static_cast<std::uint64_t>(nSub), root);
    writeSmall2D(out, output::baselines::kSubregionSelectionScore, bscore, nB, static_cast<std::uint64_t>(nSub), root);
    writeSmall2D(out, output::baselines::kStepMae, bstep, nB, Y, root);
    if (hasTruth) {
        writeSmall2D(out, output::baselines::kSubregionMaeTruth, bsubTruth, nB, static_cast<std::uint64_t>(nSub), root);
        writeSmall2D(out, output::baselines::kStepMaeTruth, bstepTruth, nB, Y, root);
    }
    out.writeObjectAttribute(output::baselines::kGroup, output::baselines::kAttrWindow,
                             static_cast<std::int32_t>(r.baselines.window));
    out.writeSmall(output::baselines::kMlrCoefficients, r.baselines.mlr.coefficients);
    out.writeSmall(output::timing::kBaselineSeconds, bsec);
}

void OutputWriter::models() const {
    out.writeSmall(output::models::kSubregion, r.back.models.subregion);
    out.writeSmall(output::models::kOffset, r.back.models.offset);
    out.writeSmall(output::models::kSize, r.back.models.size);
    out.writeSmall(output::models::kBytes, r.back.models.bytes);
}

void OutputWriter::metrics() const {
    // Metrics: attributes of /metrics (global), per-zone and per-step datasets.
    const auto& g = book["global"][0];
    out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrN, g.n);
    out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrMae, g.mae);
    out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrSd, g.sd);
    out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrMse, g.mse);
    out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrAccuracy, g.accuracy);
    out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrMaePersistence, book["persistence"][0].mae);
    out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrIntervalLevel, rc.interval);
    out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrIntervalCoverage, r.eval.coverage);
    if (hasTruth) {
        out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrMaeTruth, book["global_truth"][0].mae);
        out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrAccuracyTruth,
                                 book["global_truth"][0].accuracy);
        out.writeObjectAttribute(output::metrics::kGroup, output::metrics::kAttrMaeTruthPersistence,
                                 book["persistence/truth"][0].mae);
    }
    writeMetricColumns(out, output::metrics::kZonePrefix, book["zone"]);
    writeMetricColumns(out, output::metrics::kStepPrefix, book["step"]);
    if (hasTruth) {
        out.writeSmall(output::metrics::kZoneMaeTruth, maeOf(book["zone_truth"]));
        out.writeSmall(output::metrics::kStepMaeTruth, maeOf(book["step_truth"]));
    }
}

void OutputWriter::positions() const {
    output::writePointRows(out, output::forecast::kHoldoutCumulative, rows, f.predPos, kNaN, Y);
    out.writeSmall(output::metrics::kPositionStepMae, maeOf(book["pos_step"]));
    if (hasTruth) out.writeSmall(output::metrics::kPositionStepMaeTruth, maeOf(book["pos_step_truth"]));
    const auto& names = r.eval.positionNames;
    std::vector<double> mae, truth;
    for (const auto& name : names) {
        for (double v : maeOf(book[name + "/pos_step"])) mae.push_back(v);
        if (hasTruth)
            for (double v : maeOf(book[name + "/pos_step_truth"])) truth.push_back(v);
    }
    out.writeStrings(output::baselines::kPositionName, names);
    writeSmall2D(out, output::baselines::kPositionStepMae, mae, names.size(), Y, root);
    if (hasTruth) writeSmall2D(out, output::baselines::kPositionStepMaeTruth, truth, names.size(), Y, root);
}

void OutputWriter::provenance() const {
    out.writeAttribute(output::attr::kFormat, std::string(output::kFormatName));
    out.writeAttribute(output::attr::kFormatVersion, static_cast<std::int32_t>(output::kFormatVersion));
    out.writeAttribute(output::attr::kHlstmVersion, std::string(kVersion));
    out.writeAttribute(output::attr::kConfig, config.toToml());
    out.writeAttribute(output::attr::kInput, std::filesystem::absolute(rc.input).string());
    // Computed at the start for the checkpoints (reading a national archive twice costs a minute).
    std::string checksum = rc.inputChecksum;
    if (checksum.empty()) checksum = fileChecksum(comm, rc.input);
    out.writeAttribute(output::attr::kInputChecksum, checksum);
    out.writeAttribute(output::attr::kHoldout, static_cast<std::int32_t>(rc.horizon));
    out.writeAttribute(output::attr::kCommonMode, toString(rc.commonMode.use));
    out.writeAttribute(output::attr::kReferenceAtmosphere,
                       std::string(rc.referenceAtmosphere.remove ? "remove" : "off"));
    out.writeAttribute(output::attr::kCommonModeRecent,
                       static_cast<std::int32_t>(ctx.commonMode != nullptr ? ctx.commonMode->recent : 0));
    out.writeAttribute(output::attr::kRefit, std::string(rc.refitEpochs <= 0 ? "none"
                                                         : rc.refitAll       ? "all"
                                                                             : "finetune"));
    out.writeAttribute(output::attr::kPositionHedge, rc.positionHedge);
    out.writeAttribute(output::attr::kPositionPool, static_cast<std::int32_t>(rc.positionPool));
    out.writeAttribute(output::attr::kComplete, static_cast<std::int32_t>(1));  // last
}

}  // namespace

void writeStage(const RunContext& ctx, const Config& config, const RunOutputs& r, h5::File& out) {
    const OutputWriter w(ctx, config, r, out);
    w.points();
    w.subregions();
    w.gridSearch();
    w.baselines();
    w.models();
    w.metrics();
    w.positions();
    writeErrorDistribution(out, r.eval.errors, r.eval.owned, pointRowsOf(r.block), r.eval.names.size(),
                           static_cast<std::uint64_t>(ctx.rc.horizon), r.block.stats.hasTruth, ctx.comm.isRoot());
    w.provenance();  // complete = 1 last
}

}  // namespace hlstm::pipeline
