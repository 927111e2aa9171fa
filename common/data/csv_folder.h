// The "csv-folder" dataset: real per-client data. A directory holds one
// training file per client, client-0.csv ... client-<N-1>.csv, and test.csv
// for evaluation; client i trains on client-i.csv alone and no partitioner
// runs. Files follow the format of common/csv_dataset.h and must share their
// feature columns.
//
// Every client must map labels to the same class ids and scale features the
// same way, so those shared facts come from one of two places:
//   - the whole folder (the default, and what fedjets-sim uses): classes
//     are derived from the labels of every client file and test.csv together
//     (or taken from --data-option classes), and standardisation uses the
//     pooled statistics of all client files (the training data; never
//     test.csv). The folder must then hold exactly client-0..client-<N-1>
//     with N the number of clients in the federation.
//   - explicit options, for deployments where each host has only its own
//     file: --data-option classes=a,b,c and standardize=false (features
//     already on a common scale). Then a client reads only client-<i>.csv
//     and the coordinator only test.csv.
// Any other combination on a partial folder is an error that says which
// file is missing and which options to set; it never falls back silently.
//
// Options: label, ignore, classes, standardize. Thread-safe (no shared
// state).
#pragma once

#include "common/base/status.h"
#include "common/data/dataset.h"
#include "common/data/dataset_source.h"

namespace fedjets::common {

// Test split: test.csv. Train split: the client files concatenated in
// client order (empty, with the same metadata, when only explicit options
// are used and the folder is partial).
Result<TrainTest> LoadCsvFolder(const DatasetSource& source);

// The training data of client `client` of `num_clients`: client-<i>.csv.
Result<Dataset> LoadCsvFolderClient(const DatasetSource& source, int client,
                                    int num_clients);

}  // namespace fedjets::common
