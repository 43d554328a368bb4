/// The one owner of the hlstm-output format: the format name and version, every dataset and
/// attribute name, the codes written to /points/status, and typed writers of the per-point
/// rows. Every reader and writer of the format (run, predict, partition, export, the tests)
/// takes the names from here, so a rename is one edit and the tie is an include.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "hlstm/io/hdf5.hpp"

namespace hlstm::output {

/// Root attribute `format` of every file written by run and predict.
inline constexpr char kFormatName[] = "hlstm-output";
/// Root attribute `format` of the files written by predict.
inline constexpr char kPredictionFormatName[] = "hlstm-prediction";
/// Root attribute `format_version`: the layout written by run().
inline constexpr int kFormatVersion = 2;  // 2: baselines, method per subregion, intervals, rates

/// Root attributes.
namespace attr {
inline constexpr char kFormat[] = "format";
inline constexpr char kFormatVersion[] = "format_version";
inline constexpr char kHlstmVersion[] = "hlstm_version";
inline constexpr char kConfig[] = "config";
inline constexpr char kInput[] = "input";
inline constexpr char kInputChecksum[] = "input_checksum";
inline constexpr char kHoldout[] = "holdout";
inline constexpr char kComplete[] = "complete";       ///< written last: 1 when the file is whole
inline constexpr char kCrs[] = "crs";                 ///< of /points/x: the CRS of x and y
inline constexpr char kSourceCrs[] = "source_crs";    ///< of /points/x: the input file's CRS
inline constexpr char kModels[] = "models";           ///< predict: the run output whose models it used
inline constexpr char kVersion[] = "version";         ///< partition: the hlstm version
inline constexpr char kProducer[] = "producer";       ///< partition: "hlstm partition"
inline constexpr char kDbDistance[] = "db_distance";  ///< of /partition/k_chosen: the distance that chose k
/// The atmosphere filter's setting (input.common_mode: off, all, history, recent; predict applies it)
inline constexpr char kCommonMode[] = "common_mode";
/// The epochs of the later part the filter's history / recent settings split off (predict's split)
inline constexpr char kCommonModeRecent[] = "common_mode_recent";
/// input.reference_atmosphere: "remove" when the reference acquisition's atmosphere was estimated
/// and removed from every other epoch (predict and update do the same), else "off"
inline constexpr char kReferenceAtmosphere[] = "reference_atmosphere";
/// run.refit: "finetune" (or "all") when each learned winner was fine-tuned after its selection on
/// the windows of the selection's epochs (all: of every visible epoch); the refitted model
/// forecasts and is in /models. "none": the selected model as judged.
inline constexpr char kRefit[] = "refit";
/// run.position_hedge: the own method's share of the position at a step the position choice gave
/// to another method (predict applies it; absent in older files: 0)
inline constexpr char kPositionHedge[] = "position_hedge";
/// run.position_pool: the neighbours over which each point's forecast increments were pooled
/// (predict applies it; absent in older files: 0, none)
inline constexpr char kPositionPool[] = "position_pool";
}  // namespace attr

/// /baselines
namespace baselines {
inline constexpr char kGroup[] = "/baselines";
inline constexpr char kAttrWindow[] = "window";  ///< of /baselines: L of window_mean / linear_trend
inline constexpr char kAccuracy[] = "/baselines/accuracy";
inline constexpr char kMae[] = "/baselines/mae";
inline constexpr char kMaeTruth[] = "/baselines/mae_truth";
inline constexpr char kMlrCoefficients[] = "/baselines/mlr_coefficients";
inline constexpr char kMse[] = "/baselines/mse";
inline constexpr char kName[] = "/baselines/name";
inline constexpr char kSd[] = "/baselines/sd";
inline constexpr char kStepMae[] = "/baselines/step_mae";
inline constexpr char kStepMaeTruth[] = "/baselines/step_mae_truth";
inline constexpr char kSubregionMae[] = "/baselines/subregion_mae";
inline constexpr char kSubregionMaeTruth[] = "/baselines/subregion_mae_truth";
inline constexpr char kSubregionSelectionScore[] = "/baselines/subregion_selection_score";
/// Positions: one row per position method (every baseline above on the same level as
/// HLSTM, then the position-only baselines), MAE of the absolute position per step.
inline constexpr char kPositionName[] = "/baselines/position_name";
inline constexpr char kPositionStepMae[] = "/baselines/position_step_mae";
inline constexpr char kPositionStepMaeTruth[] = "/baselines/position_step_mae_truth";
/// Per-method holdout predictions (methods x points x Y, float64, rows in /points order, the
/// methods in /baselines/name order; NaN where a method made no prediction): Fig. 12 for any
/// method (issue 20), the best baseline's scatter (issue 21).
inline constexpr char kHoldoutPred[] = "/baselines/holdout_pred";
/// Error distribution per method (one value per /baselines/name row), against the observations
/// and, with /truth, against the truth: share of points with |error| <= attribute `threshold`
/// of the group (mm; default 0.5 as the paper's section III-E), and |error| max, p50, p90, p99.
inline constexpr char kAttrErrorThreshold[] = "error_threshold";
inline constexpr char kWithinThreshold[] = "/baselines/within_threshold";
inline constexpr char kWithinThresholdTruth[] = "/baselines/within_threshold_truth";
inline constexpr char kAbsErrorQuantiles[] = "/baselines/abs_error_quantiles";  ///< methods x {max,p50,p90,p99}
inline constexpr char kAbsErrorQuantilesTruth[] = "/baselines/abs_error_quantiles_truth";
}  // namespace baselines

/// /forecast
namespace forecast {
inline constexpr char kGroup[] = "/forecast";
inline constexpr char kAbsError[] = "/forecast/abs_error";
inline constexpr char kHoldoutDates[] = "/forecast/holdout_dates";
inline constexpr char kInputDates[] =
    "/forecast/input_dates";  ///< YYYYMMDD of every epoch read (update checks NEW extends them)
inline constexpr char kHoldoutIntervalHigh[] = "/forecast/holdout_interval_high";
inline constexpr char kHoldoutIntervalLow[] = "/forecast/holdout_interval_low";
inline constexpr char kHoldoutPred[] = "/forecast/holdout_pred";
/// Absolute positions at the held-out epochs: the level at the last visible epoch + the
/// forecast increments (next_cumulative likewise at the last epoch).
inline constexpr char kHoldoutCumulative[] = "/forecast/holdout_cumulative";
inline constexpr char kHoldoutTrue[] = "/forecast/holdout_true";
inline constexpr char kHoldoutTruth[] = "/forecast/holdout_truth";
inline constexpr char kIntervalHigh[] = "/forecast/interval_high";
inline constexpr char kIntervalLow[] = "/forecast/interval_low";
inline constexpr char kNextCumulative[] = "/forecast/next_cumulative";
inline constexpr char kNextDates[] = "/forecast/next_dates";
inline constexpr char kNextDiff[] = "/forecast/next_diff";
inline constexpr char kPersistencePred[] = "/forecast/persistence_pred";
}  // namespace forecast

/// /grid_search
namespace grid_search {
inline constexpr char kGroup[] = "/grid_search";
inline constexpr char kL[] = "/grid_search/L";  ///< sequence length L
inline constexpr char kK[] = "/grid_search/K";  ///< layers K
inline constexpr char kS[] = "/grid_search/S";  ///< hidden size S
inline constexpr char kCost[] = "/grid_search/cost";
inline constexpr char kEpochs[] = "/grid_search/epochs";
inline constexpr char kSelectionScore[] = "/grid_search/selection_score";
inline constexpr char kStatus[] = "/grid_search/status";
inline constexpr char kSubregion[] = "/grid_search/subregion";
inline constexpr char kTask[] = "/grid_search/task";
inline constexpr char kTrainSamples[] = "/grid_search/train_samples";
inline constexpr char kValidationMae[] = "/grid_search/validation_mae";
inline constexpr char kValidationSamples[] = "/grid_search/validation_samples";
/// Training curves (candidates x epochs, NaN after a candidate's last epoch): the training loss
/// and the validation MAE of every epoch (issue 20 item 3).
inline constexpr char kTrainLossCurve[] = "/grid_search/train_loss";
inline constexpr char kValidationMaeCurve[] = "/grid_search/validation_mae_curve";
inline constexpr char kFinalTrainLoss[] = "/grid_search/final_train_loss";  ///< the last epoch's training loss
inline constexpr char kBestEpoch[] = "/grid_search/best_epoch";             ///< epoch of the kept weights (1-based)
/// 1 when the candidate's curves have converged (model::convergence), 0 not, -1 no curve
/// recorded (update's fine-tuning).
inline constexpr char kConverged[] = "/grid_search/converged";
inline constexpr char kAttrConvergenceTol[] = "tolerance";  ///< of /grid_search/converged: train.convergence_tol
inline constexpr char kAttrConvergenceWindow[] = "window";  ///< of /grid_search/converged: how w is chosen
}  // namespace grid_search

/// /metrics
namespace metrics {
inline constexpr char kGroup[] = "/metrics";
inline constexpr char kStepMaeTruth[] = "/metrics/step_mae_truth";
inline constexpr char kZoneMaeTruth[] = "/metrics/zone_mae_truth";
/// Per step: MAE of HLSTM's absolute positions against the observed and the truth's positions.
inline constexpr char kPositionStepMae[] = "/metrics/position_step_mae";
inline constexpr char kPositionStepMaeTruth[] = "/metrics/position_step_mae_truth";
/// Prefixes of the eq. (5)-(7) column sets <prefix>{n,mae,sd,mse,accuracy}.
inline constexpr char kZonePrefix[] = "/metrics/zone_";
inline constexpr char kStepPrefix[] = "/metrics/step_";
/// Attributes of /metrics: the global figures.
inline constexpr char kAttrN[] = "n";
inline constexpr char kAttrMae[] = "mae";
inline constexpr char kAttrSd[] = "sd";
inline constexpr char kAttrMse[] = "mse";
inline constexpr char kAttrAccuracy[] = "accuracy";
inline constexpr char kAttrMaePersistence[] = "mae_persistence";
inline constexpr char kAttrIntervalLevel[] = "interval_level";
inline constexpr char kAttrIntervalCoverage[] = "interval_coverage";
inline constexpr char kAttrMaeTruth[] = "mae_truth";
inline constexpr char kAttrAccuracyTruth[] = "accuracy_truth";
inline constexpr char kAttrMaeTruthPersistence[] = "mae_truth_persistence";
/// HLSTM's error distribution (as /baselines' per method): attributes within_threshold(_truth)
/// (share of |error| <= the /baselines attribute error_threshold) and {max, p50, p90, p99} of
/// |error| in abs_error_quantiles(_truth).
inline constexpr char kAttrWithinThreshold[] = "within_threshold";
inline constexpr char kAttrWithinThresholdTruth[] = "within_threshold_truth";
inline constexpr char kAbsErrorQuantiles[] = "/metrics/abs_error_quantiles";
inline constexpr char kAbsErrorQuantilesTruth[] = "/metrics/abs_error_quantiles_truth";
/// Paired comparison (attributes of /metrics): HLSTM's MAE minus the best baseline's over the same
/// points, with the 95 % CI of a bootstrap over square blocks of run.bootstrap_block metres; the
/// same against the truth with the suffix _truth.
inline constexpr char kAttrPairedBaseline[] = "paired_baseline";
inline constexpr char kAttrPairedDifference[] = "paired_mae_difference";
inline constexpr char kAttrPairedLow[] = "paired_ci_low";
inline constexpr char kAttrPairedHigh[] = "paired_ci_high";
inline constexpr char kAttrPairedN[] = "paired_n";
inline constexpr char kAttrPairedBlocks[] = "paired_blocks";
inline constexpr char kTruthSuffix[] = "_truth";
}  // namespace metrics

/// /models
namespace models {
inline constexpr char kGroup[] = "/models";
inline constexpr char kBytes[] = "/models/bytes";
inline constexpr char kOffset[] = "/models/offset";
inline constexpr char kSize[] = "/models/size";
inline constexpr char kSubregion[] = "/models/subregion";
}  // namespace models

/// /partition
namespace partition {
inline constexpr char kGroup[] = "/partition";
inline constexpr char kAlpha[] = "/partition/alpha";
inline constexpr char kDbIndexPearson[] = "/partition/db_index_pearson";
inline constexpr char kDbIndexVelocity[] = "/partition/db_index_velocity";
inline constexpr char kEdgeMean[] = "/partition/edge_mean";
inline constexpr char kEdgeStd[] = "/partition/edge_std";
inline constexpr char kEdgeThreshold[] = "/partition/edge_threshold";
inline constexpr char kKChosen[] = "/partition/k_chosen";
inline constexpr char kKValues[] = "/partition/k_values";
inline constexpr char kNComponents[] = "/partition/n_components";
inline constexpr char kNCutEdges[] = "/partition/n_cut_edges";
inline constexpr char kNCutLong[] = "/partition/n_cut_long";
inline constexpr char kNDuplicates[] = "/partition/n_duplicates";
inline constexpr char kNEdges[] = "/partition/n_edges";
inline constexpr char kNNoise[] = "/partition/n_noise";
inline constexpr char kNoiseId[] = "/partition/noise_id";
inline constexpr char kSubregionFirstRow[] = "/partition/subregion_first_row";
inline constexpr char kSubregionId[] = "/partition/subregion_id";
inline constexpr char kSubregionMeanVelocity[] = "/partition/subregion_mean_velocity";
inline constexpr char kSubregionNPoints[] = "/partition/subregion_n_points";
inline constexpr char kSubregionZone[] = "/partition/subregion_zone";
inline constexpr char kZoneCenter[] = "/partition/zone_center";
inline constexpr char kZoneSize[] = "/partition/zone_size";
inline constexpr char kZoneStart[] = "/partition/zone_start";
}  // namespace partition

/// /points
namespace points {
inline constexpr char kGroup[] = "/points";
inline constexpr char kId[] = "/points/id";
inline constexpr char kLat[] = "/points/lat";
inline constexpr char kLon[] = "/points/lon";
inline constexpr char kPid[] = "/points/pid";
inline constexpr char kSplit[] = "/points/split";
inline constexpr char kSubregion[] = "/points/subregion";
inline constexpr char kVelocity[] = "/points/velocity";
inline constexpr char kX[] = "/points/x";
inline constexpr char kY[] = "/points/y";
inline constexpr char kZone[] = "/points/zone";
inline constexpr char kStatus[] = "/points/status";
}  // namespace points

/// /subregions
namespace subregions {
inline constexpr char kGroup[] = "/subregions";
inline constexpr char kL[] = "/subregions/L";  ///< sequence length L
inline constexpr char kK[] = "/subregions/K";  ///< layers K
inline constexpr char kS[] = "/subregions/S";  ///< hidden size S
inline constexpr char kBestBaseline[] = "/subregions/best_baseline";
inline constexpr char kBestBaselineScore[] = "/subregions/best_baseline_score";
inline constexpr char kBestCandidateScore[] = "/subregions/best_candidate_score";
inline constexpr char kFailed[] = "/subregions/failed";
inline constexpr char kId[] = "/subregions/id";
inline constexpr char kIntervalHalfwidth[] = "/subregions/interval_halfwidth";
inline constexpr char kMaePersistence[] = "/subregions/mae_persistence";
inline constexpr char kMaeTruth[] = "/subregions/mae_truth";
inline constexpr char kMethod[] = "/subregions/method";
inline constexpr char kNPoints[] = "/subregions/n_points";
inline constexpr char kSelectionScore[] = "/subregions/selection_score";
inline constexpr char kValidationMae[] = "/subregions/validation_mae";
inline constexpr char kWhy[] = "/subregions/why";
/// Forecast combination (run.combine): the baseline mixed into the learned model's forecast
/// ("" for none) and the model's weight per step (subregions x Y; 1: the model alone); predict
/// applies the same mix.
inline constexpr char kCombinedWith[] = "/subregions/combined_with";
inline constexpr char kCombinedWeight[] = "/subregions/combined_weight";
/// Positions per step (run.positions, src/pipeline/position_choice.cpp): subregions x Y, -1 for
/// the subregion's method on the level, else the row of /baselines/position_name whose position
/// forecasts that step; predict, backtest --strategy frozen and update apply it.
inline constexpr char kPositionChoice[] = "/subregions/position_choice";
inline constexpr char kZone[] = "/subregions/zone";
/// Prefix of the eq. (5)-(7) columns <prefix>{n,mae,sd,mse,accuracy}.
inline constexpr char kColumnPrefix[] = "/subregions/";
}  // namespace subregions

/// /update: written by `hlstm update` (issue 19): the previous forecast scored against the new
/// epochs, and the drift of each subregion.
namespace update {
inline constexpr char kGroup[] = "/update";
inline constexpr char kScoredDates[] = "/update/scored_dates";  ///< YYYYMMDD of the new epochs PREV forecast
inline constexpr char kMethod[] = "/update/method";             ///< names, "hlstm" first, then the baselines
inline constexpr char kMae[] = "/update/mae";                   ///< methods x scored dates (position error)
inline constexpr char kMaeTruth[] = "/update/mae_truth";        ///< the same against /truth, when present
inline constexpr char kCoverage[] = "/update/coverage";         ///< per scored date: share inside PREV's interval
inline constexpr char kDrift[] = "/update/drift";               ///< per subregion: 1 when a full run is advised
inline constexpr char kInputs[] = "/update/inputs";             ///< the chain of inputs, oldest first
inline constexpr char kAttrPrevious[] = "previous";             ///< of /update: the --models file
}  // namespace update

/// /backtest: written by `hlstm backtest` (issue 23 item 4).
namespace backtest {
inline constexpr char kGroup[] = "/backtest";
inline constexpr char kOriginDates[] = "/backtest/origin_dates";  ///< YYYYMMDD of each origin's last visible epoch
inline constexpr char kMethod[] = "/backtest/method";             ///< "hlstm" first, then /baselines/name
inline constexpr char kMae[] = "/backtest/mae";                   ///< methods x origins x Y, position error per step
inline constexpr char kMaeTruth[] = "/backtest/mae_truth";        ///< the same against /truth, when present
inline constexpr char kCoverage[] = "/backtest/coverage";         ///< origins x Y
inline constexpr char kAttrStrategy[] = "strategy";               ///< of /backtest: "refit" or "frozen"
}  // namespace backtest

/// The file written by `hlstm spatial` (issue 20): format name and groups.
namespace spatial {
inline constexpr char kFormatName[] = "hlstm-spatial";
inline constexpr char kMoranVariable[] =
    "/moran/variable";  ///< velocity, holdout_observed, holdout_predicted, residual
inline constexpr char kMoranI[] = "/moran/I";
inline constexpr char kMoranExpected[] = "/moran/expected";
inline constexpr char kMoranVariance[] = "/moran/variance";
inline constexpr char kMoranZ[] = "/moran/z";
inline constexpr char kMoranP[] = "/moran/p";
inline constexpr char kMoranN[] = "/moran/n";
inline constexpr char kGiStarPrefix[] = "/gi_star/";  ///< /gi_star/<variable>: z per point, /points order
inline constexpr char kGeodetectorVariable[] = "/geodetector/variable";
inline constexpr char kGeodetectorStrata[] = "/geodetector/strata";
inline constexpr char kGeodetectorQ[] = "/geodetector/q";
inline constexpr char kGeodetectorP[] = "/geodetector/p";
inline constexpr char kNniR[] = "/nni/R";
inline constexpr char kNniZ[] = "/nni/z";
inline constexpr char kNniP[] = "/nni/p";
inline constexpr char kNniArea[] = "/nni/area";
inline constexpr char kNniN[] = "/nni/n";
inline constexpr int kFormatVersion = 1;  ///< root attribute format_version of the spatial file
/// Gi* per variable (one value per /moran/variable row): hot and cold points at |z| beyond the
/// two-sided alpha (1.96 for 0.05), and with the Benjamini-Hochberg false discovery rate alpha.
inline constexpr char kGiStarGroup[] = "/gi_star";
inline constexpr char kGiStarVariable[] = "/gi_star/variable";
inline constexpr char kGiStarHot[] = "/gi_star/hot";
inline constexpr char kGiStarCold[] = "/gi_star/cold";
inline constexpr char kGiStarHotFdr[] = "/gi_star/hot_fdr";
inline constexpr char kGiStarColdFdr[] = "/gi_star/cold_fdr";
/// Attributes of /gi_star: the observed and predicted holdout maps' classes compared.
inline constexpr char kAttrAgreement[] = "agreement";
inline constexpr char kAttrKappa[] = "kappa";
inline constexpr char kAttrAgreementFdr[] = "agreement_fdr";
inline constexpr char kAttrKappaFdr[] = "kappa_fdr";
/// One row per geodetector test: the subregion it is computed inside (-1: the whole scene), its
/// points and strata.
inline constexpr char kGeodetectorSubregion[] = "/geodetector/subregion";
inline constexpr char kGeodetectorN[] = "/geodetector/n";
inline constexpr char kGeodetectorNStrata[] = "/geodetector/n_strata";
/// Clark-Evans: the hull's perimeter, the mean nearest distance, and R, z, p without Donnelly's
/// edge correction (ArcGIS' Average Nearest Neighbor, the paper's tool).
inline constexpr char kNniPerimeter[] = "/nni/perimeter";
inline constexpr char kNniMeanDistance[] = "/nni/mean_distance";
inline constexpr char kNniRPlain[] = "/nni/R_plain";
inline constexpr char kNniZPlain[] = "/nni/z_plain";
inline constexpr char kNniPPlain[] = "/nni/p_plain";
/// Root attributes: the weights and parameters.
inline constexpr char kAttrK[] = "k";
inline constexpr char kAttrCell[] = "cell";
inline constexpr char kAttrAlpha[] = "alpha";
inline constexpr char kAttrHoldoutSteps[] = "holdout_steps";
inline constexpr char kAttrMoranWeights[] = "moran_weights";
inline constexpr char kAttrGiStarWeights[] = "gi_star_weights";
inline constexpr char kAttrNniCorrection[] = "nni_correction";
inline constexpr char kAttrPoints[] = "points";
}  // namespace spatial

/// /timing
namespace timing {
inline constexpr char kGroup[] = "/timing";
inline constexpr char kBaselineSeconds[] = "/timing/baseline_seconds";
inline constexpr char kCandidateRank[] = "/timing/candidate_rank";
inline constexpr char kCandidateSeconds[] = "/timing/candidate_seconds";
inline constexpr char kSubregionRank[] = "/timing/subregion_rank";
inline constexpr char kSubregionSeconds[] = "/timing/subregion_seconds";
}  // namespace timing

/// Why an input point was or was not forecast (/points/status, int8). Every input point is a
/// row of /points: the kept points first (in input order), then the others (in input order).
enum class PointStatus : std::int8_t {
    kForecast = 0,            ///< forecast by its subregion's winner
    kTooFewEpochs = 1,        ///< fewer valid visible epochs than input.min_valid_fraction asks
    kMasked = 2,              ///< masked out by input.mask (mask = 0)
    kNoData = 3,              ///< no value in any epoch (the file's no-data value, or all NaN)
    kInvalidCoordinates = 4,  ///< non-finite or untransformable coordinates
    kFar = 5,                 ///< predict/update: farther from every trained point than the edge threshold
    kNoModel = 6,             ///< its subregion has no usable model or baseline
};
inline constexpr int kPointStatusCount = 7;

/// Short name of a status ("forecast", "too_few_epochs", ...), as export writes it.
const char* toString(PointStatus s);

/// Writes one per-point dataset: `total` rows (of `width` values each when width > 1), this
/// rank's `local` rows starting at row `offset` (collective over the file's communicator).
template <class T>
void writePointRows(const h5::File& file, const std::string& path, std::uint64_t total, std::uint64_t offset,
                    const std::vector<T>& local, std::uint64_t width = 1) {
    std::vector<std::uint64_t> dims{total};
    if (width > 1) dims.push_back(width);
    file.createDataset<T>(path, dims).writeRows(offset, local.size() / std::max<std::uint64_t>(1, width), local.data());
}

/// Where one rank's rows of the per-point datasets are: every input point is a row, the kept
/// points first (this rank's at keptOffset), then the points that were not kept (this rank's
/// at keptTotal + droppedOffset), each part in input order.
struct PointRows {
    std::uint64_t keptTotal = 0, keptOffset = 0, keptCount = 0;
    std::uint64_t droppedTotal = 0, droppedOffset = 0, droppedCount = 0;
    [[nodiscard]] std::uint64_t total() const noexcept { return keptTotal + droppedTotal; }
};

/// One per-point dataset over every input point: this rank's kept rows and its not-kept rows
/// (`width` values each; two collective writes).
template <class T>
void writePointRows(const h5::File& file, const std::string& path, const PointRows& r, const std::vector<T>& kept,
                    const std::vector<T>& dropped, std::uint64_t width = 1) {
    std::vector<std::uint64_t> dims{r.total()};
    if (width > 1) dims.push_back(width);
    const auto ds = file.createDataset<T>(path, dims);
    const std::uint64_t w = std::max<std::uint64_t>(1, width);
    ds.writeRows(r.keptOffset, kept.size() / w, kept.data());
    ds.writeRows(r.keptTotal + r.droppedOffset, dropped.size() / w, dropped.data());
}
/// The same with `fill` in every column of the rows not kept (NaN forecasts, -1 labels).
template <class T>
void writePointRows(const h5::File& file, const std::string& path, const PointRows& r, const std::vector<T>& kept,
                    T fill, std::uint64_t width = 1) {
    writePointRows(file, path, r, kept, std::vector<T>(r.droppedCount * std::max<std::uint64_t>(1, width), fill),
                   width);
}

/// /points/x, /points/y (projected metres, or the CRS of attribute crs) and /points/id of this
/// rank's rows [offset, offset + x.size()) of `total` (collective).
void writePointCoordinates(const h5::File& file, std::uint64_t total, std::uint64_t offset,
                           const std::vector<double>& x, const std::vector<double>& y,
                           const std::vector<std::int64_t>& ids);

}  // namespace hlstm::output
