// `hlstm predict`: forecasts for a new input from the models of an earlier run.
#include "command.hpp"
#include "hlstm/pipeline/predict.hpp"

namespace hlstm::cli {
namespace {

struct PredictArgs {
    std::string models, input, output;
    double minValid = 0.5;
    std::string assignFar = "none";
    InputOptions format;
};

Action setupPredict(CLI::App& sub) {
    auto a = std::make_shared<PredictArgs>();
    sub.add_option("--models", a->models, "hlstm-output file of an earlier `hlstm run` (holds /models)")->required();
    sub.add_option("--input", a->input, "new input (any input format, see --format), e.g. with a new acquisition")
        ->required();
    sub.add_option("-o,--output", a->output, "output .h5 with /forecast/{next_diff,next_cumulative,next_dates}")
        ->required();
    sub.add_option("--min-valid-fraction", a->minValid, "drop points with fewer valid epochs")->capture_default_str();
    sub.add_option("--assign-far", a->assignFar,
                   "points farther than the partition's edge threshold from every trained point: none (status far, "
                   "NaN forecasts) or nearest (the nearest trained point's subregion)")
        ->check(CLI::IsMember({"none", "nearest"}))
        ->capture_default_str();
    a->format.add(sub);
    return [a](const Comm& comm) {
        return pipeline::predict(comm, a->models, a->input, a->output, a->format.readOptions(a->minValid, false),
                                 a->assignFar == "nearest" ? pipeline::FarPoints::kNearest : pipeline::FarPoints::kNaN);
    };
}

const Registrar kRegistrar({"predict", "Forecast a new input with the saved models of an hlstm-output file",
                            setupPredict});

}  // namespace
}  // namespace hlstm::cli
