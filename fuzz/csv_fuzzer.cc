// Fuzzes the CSV reader and the "csv" dataset loader. The input is a CSV
// file's text: CsvReader reads every record from it in memory (each field
// also through ParseCsvNumber), then the input is written to a scratch file
// and loaded with LoadDataset (the registry path fedjets-sim takes for
// --dataset csv: header, labels, classes, standardisation, the split and
// the dataset invariants).
#include <cstdint>
#include <string>

#include "common/data/csv_reader.h"
#include "common/data/dataset_source.h"
#include "fuzz/fuzz_input.h"

namespace fedjets::fuzz {
namespace {

constexpr int kMaxRecords = 4096;

void ReadRecords(std::string text) {
  auto reader = common::CsvReader::FromString(std::move(text), "fuzz.csv");
  common::CsvRecord record;
  for (int i = 0; i < kMaxRecords; ++i) {
    auto more = reader.Next(&record);
    if (!more.ok() || !*more) return;
    for (const std::string& field : record.fields) {
      (void)common::ParseCsvNumber(field);
    }
  }
}

}  // namespace
}  // namespace fedjets::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fedjets;
  const std::string text(reinterpret_cast<const char*>(data), size);
  fuzz::ReadRecords(text);
  common::DatasetSource source;
  source.name = "csv";
  source.path = fuzz::WriteScratchFile("data.csv", text);
  (void)common::LoadDataset(source);
  return 0;
}
