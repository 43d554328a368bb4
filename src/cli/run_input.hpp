/// The input a run read, found again from its output (root attributes `input`, `input_checksum`
/// and `config`): what `hlstm plot`, `hlstm report` and `hlstm export --history` / `.tif` read
/// the observed series and the grid from. Serial: call it on one rank.
#pragma once

#include <string>

#include "hlstm/data/native_reader.hpp"

namespace hlstm::cli {

/// The input of the run that wrote `out`: `given` (--input) when not empty, else OUT's root
/// attribute `input`. InputError naming the path and where it came from when it is missing,
/// and, when OUT has `input_checksum`, when the file's checksum differs (both checksums named).
/// `escape` ends each message: what else the user can do ("or --no-history").
std::string runInputOf(const std::string& out, const std::string& given, const std::string& escape);

/// The reader settings the run used (OUT's root attribute `config`, its input.* keys);
/// the defaults when OUT has none.
ReadOptions runReadOptionsOf(const std::string& out);

}  // namespace hlstm::cli
