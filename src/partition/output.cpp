#include "hlstm/partition/output.hpp"

#include <string>
#include <vector>

namespace hlstm::partition {
namespace {

template <class T>
void writeScalar(const h5::File& file, const std::string& path, T value) {
    file.writeSmall<T>(path, std::vector<T>{value});
}

template <class T>
void writeRows(const h5::File& file, const std::string& path, std::uint64_t total, std::uint64_t offset,
               const std::vector<T>& rows) {
    file.createDataset<T>(path, {total}).writeRows(offset, rows.size(), rows.data());
}

}  // namespace

void writePartition(const h5::File& file, const PartitionResult& result, std::uint64_t rowOffset,
                    DbDistance chosenBy) {
    const PartitionSummary& s = result.summary;
    writeRows(file, "/points/velocity", s.nPoints, rowOffset, result.velocity);
    writeRows(file, "/points/zone", s.nPoints, rowOffset, result.zone);
    writeRows(file, "/points/subregion", s.nPoints, rowOffset, result.subregion);

    file.writeSmall<std::int32_t>("/partition/k_values", s.kValues);
    file.writeSmall<double>("/partition/db_index_velocity", s.dbVelocity);
    file.writeSmall<double>("/partition/db_index_pearson", s.dbPearson);
    writeScalar<std::int32_t>(file, "/partition/k_chosen", s.kChosen);
    file.openDataset("/partition/k_chosen")
        .writeAttribute("db_distance", std::string(chosenBy == DbDistance::kPearson ? "pearson" : "velocity"));
    writeScalar<double>(file, "/partition/alpha", s.alpha);
    writeScalar<double>(file, "/partition/edge_mean", s.edgeMean);
    writeScalar<double>(file, "/partition/edge_std", s.edgeStd);
    writeScalar<double>(file, "/partition/edge_threshold", s.edgeThreshold);
    writeScalar<std::uint64_t>(file, "/partition/n_edges", s.nEdges);
    writeScalar<std::uint64_t>(file, "/partition/n_cut_edges", s.nCutEdges);
    writeScalar<std::uint64_t>(file, "/partition/n_cut_long", s.nCutLong);
    writeScalar<std::uint64_t>(file, "/partition/n_components", s.nComponents);
    writeScalar<std::uint64_t>(file, "/partition/n_noise", s.nNoise);
    writeScalar<std::uint64_t>(file, "/partition/n_duplicates", s.nDuplicates);
    writeScalar<std::int32_t>(file, "/partition/noise_id", s.noiseId);
    file.writeSmall<double>("/partition/zone_center", s.zoneCenters);
    file.writeSmall<double>("/partition/zone_start", s.zoneStarts);
    file.writeSmall<std::uint64_t>("/partition/zone_size", s.zoneSizes);

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
    file.writeSmall<std::int32_t>("/partition/subregion_id", id);
    file.writeSmall<std::int32_t>("/partition/subregion_zone", zone);
    file.writeSmall<std::uint64_t>("/partition/subregion_n_points", nPoints);
    file.writeSmall<double>("/partition/subregion_mean_velocity", meanVelocity);
    file.writeSmall<std::uint64_t>("/partition/subregion_first_row", firstRow);
}

}  // namespace hlstm::partition
