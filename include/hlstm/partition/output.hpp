/// Writes a partition into an hlstm output file: /points/{velocity,zone,subregion} and
/// /partition/* (DB curves, chosen k, edge statistics, subregion table).
#pragma once

#include <cstdint>

#include "hlstm/io/hdf5.hpp"
#include "hlstm/io/output_format.hpp"
#include "hlstm/partition/partition.hpp"

namespace hlstm::partition {

/// Writes this rank's rows of /points/{velocity (mm/yr), zone, subregion} at rows
/// [rowOffset, rowOffset + local rows) of datasets sized summary.nPoints, and /partition/*:
/// k_values, db_index_velocity, db_index_pearson, k_chosen (attr db_distance), alpha,
/// edge_mean, edge_std, edge_threshold (coordinate units), n_edges, n_cut_edges, n_cut_long,
/// n_components, n_noise, n_duplicates, noise_id, zone_center, zone_start, zone_size and the
/// subregion table subregion_{id,zone,n_points,mean_velocity,first_row}. Scalars are
/// one-element datasets. Collective over the file's communicator (every rank passes the same
/// summary).
void writePartition(const h5::File& file, const PartitionResult& result, const output::PointRows& rows,
                    DbDistance chosenBy);

}  // namespace hlstm::partition
