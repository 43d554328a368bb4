#include "hlstm/partition/output.hpp"

#include <cmath>
#include <string>
#include <vector>

#include "hlstm/io/output_format.hpp"

namespace hlstm::partition {
namespace {

template <class T> void writeScalar(const h5::File& file, const std::string& path, T value) {
    file.writeSmall<T>(path, std::vector<T>{value});
}

}  // namespace

void writePartition(const h5::File& file, const PartitionResult& result, const output::PointRows& rows,
                    DbDistance chosenBy) {
    const PartitionSummary& s = result.summary;
    output::writePointRows(file, output::points::kVelocity, rows, result.velocity, std::nan(""));
    output::writePointRows(file, output::points::kZone, rows, result.zone, std::int32_t{-1});
    output::writePointRows(file, output::points::kSubregion, rows, result.subregion, std::int32_t{-1});

    file.writeSmall<std::int32_t>(output::partition::kKValues, s.kValues);
    file.writeSmall<double>(output::partition::kDbIndexVelocity, s.dbVelocity);
    file.writeSmall<double>(output::partition::kDbIndexPearson, s.dbPearson);
    writeScalar<std::int32_t>(file, output::partition::kKChosen, s.kChosen);
    file.openDataset(output::partition::kKChosen)
        .writeAttribute(output::attr::kDbDistance,
                        std::string(chosenBy == DbDistance::kPearson ? "pearson" : "velocity"));
    writeScalar<double>(file, output::partition::kAlpha, s.alpha);
    writeScalar<double>(file, output::partition::kEdgeMean, s.edgeMean);
    writeScalar<double>(file, output::partition::kEdgeStd, s.edgeStd);
    writeScalar<double>(file, output::partition::kEdgeThreshold, s.edgeThreshold);
    writeScalar<std::uint64_t>(file, output::partition::kNEdges, s.nEdges);
    writeScalar<std::uint64_t>(file, output::partition::kNCutEdges, s.nCutEdges);
    writeScalar<std::uint64_t>(file, output::partition::kNCutLong, s.nCutLong);
    writeScalar<std::uint64_t>(file, output::partition::kNComponents, s.nComponents);
    writeScalar<std::uint64_t>(file, output::partition::kNNoise, s.nNoise);
    writeScalar<std::uint64_t>(file, output::partition::kNDuplicates, s.nDuplicates);
    writeScalar<std::int32_t>(file, output::partition::kNoiseId, s.noiseId);
    file.writeSmall<double>(output::partition::kZoneCenter, s.zoneCenters);
    file.writeSmall<double>(output::partition::kZoneStart, s.zoneStarts);
    file.writeSmall<std::uint64_t>(output::partition::kZoneSize, s.zoneSizes);

    std::vector<std::int32_t> id, zone;
    std::vector<std::uint64_t> nPoints, firstRow;
    std::vector<double> meanVelocity;
    for (const auto& r : s.subregions) {
        id.push_back(r.id);
        zone.push_back(r.zone);
        nPoints.push_back(r.nPoints);
        firstRow.push_back(r.firstRow);
        meanVelocity.push_back(r.meanVelocity);
    }
    file.writeSmall<std::int32_t>(output::partition::kSubregionId, id);
    file.writeSmall<std::int32_t>(output::partition::kSubregionZone, zone);
    file.writeSmall<std::uint64_t>(output::partition::kSubregionNPoints, nPoints);
    file.writeSmall<double>(output::partition::kSubregionMeanVelocity, meanVelocity);
    file.writeSmall<std::uint64_t>(output::partition::kSubregionFirstRow, firstRow);
}

}  // namespace hlstm::partition
