#include "hlstm/config/config.hpp"

namespace hlstm {

// Every configuration key, its default and what it means. Modules read keys by name.
const std::vector<ConfigKey>& configSchema() {
    using L = std::vector<std::int64_t>;
    static const std::vector<ConfigKey> kSchema = {
        // input
        {"input.path", std::string(""),
         "input file: native .h5, MintPy timeseries.h5/.he5, LiCSBAS cum.h5, EGMS .csv; empty: simulate a scene"},
        {"input.format", std::string("auto"), "auto (by content) | native | mintpy | licsbas | egms"},
        {"input.geometry", std::string(""),
         "MintPy radar geometry: geometry file with /latitude, /longitude (empty: inputs/geometryRadar.h5 beside the "
         "input)"},
        {"input.mask", std::string(""),
         "gridded inputs: mask file with /mask, non-zero = keep (e.g. MintPy maskTempCoh.h5)"},
        {"input.min_valid_fraction", 0.5, "drop points with fewer valid epochs than this fraction"},
        {"input.until", std::int64_t{0},
         "YYYYMMDD: cut the input after this date (inclusive), as if the archive ended there; 0 = no cut"},
        {"input.exclude_dates", L{0}, "YYYYMMDD acquisitions left out at read (list); 0 = none"},
        {"input.common_mode", std::string("off"),
         "atmosphere filter: each epoch's spatially smooth, temporally white part removed (common_mode.hpp): off | "
         "all (every visible epoch) | history (the epochs the candidates train on) | recent (the later epochs only)"},
        {"input.common_mode_km", 2.0, "common mode: half-width of the spatial box (km; the unit of x, y / 1000)"},
        {"input.common_mode_window", std::int64_t{12}, "common mode: epochs of each point's local temporal fit"},
        {"input.common_mode_degree", std::int64_t{2}, "common mode: degree of that fit (1 line, 2 quadratic)"},
        {"input.common_mode_passes", std::int64_t{4},
         "common mode: passes, each on the previous pass's corrected series"},
        {"input.reference_atmosphere", std::string("off"),
         "the reference acquisition's atmosphere (a constant in every other value of a point), estimated from the "
         "epochs nearest it and a spatial box of input.common_mode_km (common_mode.hpp): off | remove"},
        {"input.reference_window", std::int64_t{24}, "reference atmosphere: epochs nearest the reference one fitted"},
        // simulated scene used when input.path is empty
        {"simulate.kind", std::string("scene"), "scene | patterns"},
        {"simulate.points", std::int64_t{20000}, "points of the simulated scene"},
        {"simulate.epochs", std::int64_t{89}, "epochs of the simulated scene (12-day spacing)"},
        {"simulate.seed", std::int64_t{1}, "seed of the simulated scene"},
        {"simulate.drop", std::int64_t{0}, "acquisitions lost at seeded positions (24-day gaps)"},
        {"simulate.atmosphere_mm", 5.0,
         "scene: per-epoch atmosphere strength (mm; blobs of 3-15 km, stronger in summer); 0 = off"},
        // update (hlstm update: a new acquisition scored, learned and forecast)
        {"update.epochs", std::int64_t{3}, "fine-tuning epochs of each model on the windows the new epochs complete"},
        {"update.reselect", true, "judge the fine-tuned models against the baselines again (false: keep PREV's)"},
        {"update.repartition", false,
         "partition the new input again; each new subregion fine-tunes the model of the PREV subregion most of its "
         "points were in"},
        {"update.drift_factor", 1.5,
         "drift: a subregion's validation error after the update above this factor x its error at the selection"},
        {"update.zone_share", 0.5, "drift: share of a subregion's points whose velocity now lies in another zone"},
        // partition (paper II-A, KDP)
        {"partition.k_min", std::int64_t{2}, "smallest number of K-means clusters tried"},
        {"partition.k_max", std::int64_t{10}, "largest number of K-means clusters tried"},
        {"partition.db_distance", std::string("velocity"), "velocity | pearson: which DB index chooses k"},
        {"partition.alpha", 3.0, "Delaunay edges longer than mean + alpha*std are cut"},
        {"partition.min_points", std::int64_t{1000}, "smaller components join the noise subregion"},
        // samples and model (paper II-B)
        {"model.kind", std::string("lstm"), "lstm | rnn"},
        {"model.horizon", std::int64_t{1}, "Y: differential steps predicted (label length)"},
        {"model.sampling", std::string("all"), "all (windows every stride rates) | latest (paper: one per point)"},
        {"model.stride", std::int64_t{6}, "window stride when sampling = all"},
        {"model.validation_fraction", 0.3, "fraction of a subregion's points used for validation"},
        {"model.std_floor", 0.1, "floor of a window's std, as a fraction of the subregion's median (data-relative)"},
        {"model.target", std::string("local"),
         "local (centred mean rate, residual from the line and annual terms through the last 576 days) | signal "
         "(the same, residual from the velocity) | next (paper)"},
        {"model.smoothing", std::int64_t{5},
         "h: rates averaged (centred) in a signal label and the selection reference"},
        {"model.seed", std::int64_t{42}, "seed of splits, initialisation and shuffling"},
        // training
        {"train.epochs", std::int64_t{30}, "training epochs"},
        {"train.batch", std::int64_t{256}, "minibatch size"},
        {"train.lr", 1e-3, "Adam learning rate"},
        {"train.beta1", 0.9, "Adam beta1"},
        {"train.beta2", 0.999, "Adam beta2"},
        {"train.eps", 1e-8, "Adam epsilon"},
        {"train.loss", std::string("mse"), "mse | mae | huber"},
        {"train.early_stop_patience", std::int64_t{0}, "epochs without validation MAE gain before stopping (0: off)"},
        {"train.curves", true, "record the validation MAE of every epoch (/grid_search/validation_mae_curve)"},
        {"train.convergence_tol", 0.05,
         "relative change and half-spread of the last epochs' curves below which training counts as converged"},
        {"train.threads", std::int64_t{0}, "threads per rank (0: OMP_NUM_THREADS / SLURM_CPUS_PER_TASK / 1)"},
        {"train.shards", std::int64_t{4},
         "shards per minibatch of a data-parallel candidate (ranks beyond it idle there)"},
        {"train.shard_share", 0.3,
         "a candidate above this share of the total cost is trained by every rank together (0: never)"},
        {"train.slice_rows", true,
         "a data-parallel subregion's rows are split over its group (each rank holds its slice, not all; "
         "the same results): false holds all of them on every rank of the group"},
        // grid search (eq. 3-4)
        {"grid.L", L{60}, "sequence lengths L tried (window incl. label)"},
        {"grid.K", L{3}, "LSTM layer counts K tried"},
        {"grid.S", L{10}, "hidden sizes S tried"},
        // run
        {"run.holdout", std::int64_t{1}, "H: last epochs hidden for the honest forecast check"},
        {"run.baselines", std::string("default"),
         "comma list of baselines computed beside HLSTM: default (persistence,window_mean,velocity,linear_trend,"
         "ses,ar,mlr,local_annual; local_annual: a line and annual terms through the last 576 days), all (adds the "
         "learned global_lstm and rnn), or names"},
        {"run.select", std::string("smoothed"),
         "smoothed: each subregion's winner among its candidates and the baselines by the forecast error against "
         "the validation points' smoothed rates | paper: the candidate with the smallest next-step validation MAE"},
        {"run.incumbent", std::string("auto"),
         "a baseline (one of run.baselines) that keeps a subregion unless the best candidate "
         "beats it by more than 2 standard errors of their per-cut score differences (inflated for the cuts' "
         "autocorrelation) | auto: local_annual when it is among run.baselines and run.select = smoothed | none: "
         "the lowest score wins"},
        {"run.interval", 0.9, "coverage of the split-conformal prediction intervals (0: none)"},
        {"run.interval_cuts", std::int64_t{12},
         "validation cut epochs pooled for the interval residuals (at most the out-of-time ones)"},
        {"run.selection_cuts", std::int64_t{8},
         "N: the candidates train on the visible epochs minus Y + smoothing - 1 + N; selection and intervals are "
         "judged at the N (intervals: up to N + smoothing - 1) cuts after them (out of time); 0: train on all "
         "visible epochs and select at one in-time cut"},
        {"run.cut_stride", std::int64_t{1},
         "epochs between successive selection cuts (1: consecutive); spread cuts see more epochs' independent "
         "atmospheres and seasons, at the cost of (N - 1) x (stride - 1) more epochs the candidates do not train "
         "on; less where the candidates would keep fewer than half the visible epochs"},
        {"run.level_epochs", std::int64_t{24},
         "positions: the current level is a fit through the last this many epochs, at the last one (1: the last "
         "value)"},
        {"run.level_degree", std::int64_t{2}, "positions: the level's fit is a line (1) or a quadratic (2)"},
        {"run.level_season", true,
         "positions: the level's fit runs through the last run.level_epochs values less the annual terms of "
         "local_annual's fit (a line and annual terms through the last 576 days), added back at the last epoch; "
         "false: through the values themselves"},
        {"run.combine", std::string("scored"),
         "where a learned model won a subregion: scored = its forecast mixed with the best baseline's at weights "
         "0.75, 0.5, 0.25, each judged out of time like the candidates, a mix wins when its score is lower; step = "
         "per step the weight (1, 0.75, 0.5, 0.25, 0) with the lowest out-of-time error at that step; mean = 0.5 "
         "only; off = the model alone"},
        {"run.positions", std::string("choose"),
         "positions per subregion and step: choose = the lowest out-of-time position error among the subregion's "
         "method on the level, every baseline on the same level and the position baselines (ties to the method); "
         "own = the subregion's method on the level at every step"},
        {"run.position_hedge", 0.5,
         "at a step the position choice gave to another method, the position is this share of the subregion's "
         "method's on the level plus the rest of the chosen one's (0: the chosen method's alone)"},
        {"run.position_pool", std::int64_t{32},
         "each point's forecast increments are a plane in x, y through those of its this many nearest points of "
         "its subregion, at the point; its level stays its own (0: each point's own increments)"},
        {"run.refit", std::string("none"),
         "finetune: after the out-of-time selection each learned winner is fine-tuned (warm start, as hlstm update) "
         "on the windows the selection's epochs complete (every model.stride-th end), and that model forecasts and "
         "is stored | all: the same on every window of the visible epochs | none: the selected model as judged"},
        {"run.refit_epochs", std::int64_t{3}, "run.refit = finetune or all: epochs of the winners' fine-tuning"},
        {"run.scratch", std::string("output"),
         "where tables wait while a phase needs the memory (rank 0's series during the partition, the baselines' "
         "tables during training; removed at the end): output = files beside the output (OUT.scratch.r<rank>.*.tmp) "
         "| off = kept in memory (higher peak, no disk writes) | a directory, e.g. a node-local $TMPDIR"},
        {"run.progress_minutes", 1.0,
         "training progress: rank 0 prints candidates done / total, the share of the planned cost and the time left "
         "this often (minutes), and at the start and the end of training (0: only then)"},
        {"run.checkpoint_minutes", 10.0,
         "a candidate in training is checkpointed this often (minutes; finished candidates always; 0: only those)"},
        {"run.error_threshold", 0.5, "error distribution: the share of points with |error| <= this (mm; paper: 0.5)"},
        {"run.bootstrap_block", 10000.0,
         "side (metres) of the square blocks resampled for the CI of HLSTM's MAE minus the best baseline's"},
        // spatial (hlstm spatial, and the end of hlstm run when enabled)
        {"spatial.enabled", false, "hlstm run also writes OUT.spatial.h5 (hlstm spatial: Tables II and V) at its end"},
        {"spatial.k", std::int64_t{8}, "nearest neighbours of the Moran's I and Gi* weights"},
        {"spatial.cell", 1000.0, "side of the geodetector's regular grid strata (metres)"},
        {"spatial.alpha", 0.05, "significance level of the Gi* hot/cold spots and of the q and Moran tests"},
    };
    return kSchema;
}

}  // namespace hlstm
