#include "common/data/csv_folder.h"

#include <fmt/format.h>

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/data/csv_dataset.h"

namespace fedjets::common {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kFolderOptions = {"label", "ignore", "classes",
                                                 "standardize"};

std::string ClientFile(const fs::path& dir, int i) {
  return (dir / fmt::format("client-{}.csv", i)).string();
}

// Indices i of the client-<i>.csv files in `dir` ("client-007.csv" is not
// one: indices are written without leading zeros).
Result<std::set<int>> ClientIndices(const fs::path& dir) {
  std::error_code ec;
  std::set<int> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string f = e.path().filename().string();
    if (!f.starts_with("client-") || !f.ends_with(".csv")) continue;
    const std::string digits = f.substr(7, f.size() - 11);
    if (digits.empty() || digits.size() > 6 ||
        digits.find_first_not_of("0123456789") != std::string::npos ||
        (digits.size() > 1 && digits[0] == '0')) {
      continue;
    }
    found.insert(std::stoi(digits));
  }
  if (ec) {
    return InvalidArgument(
        fmt::format("{}: cannot list: {}", dir.string(), ec.message()));
  }
  return found;
}

// The shared facts of a folder (see the header).
struct Folder {
  fs::path dir;
  CsvOptions options;
  bool whole = false;            // every client file was read
  std::vector<CsvRows> clients;  // when whole
  std::optional<CsvRows> test;   // when read
  std::vector<std::string> classes;
  std::optional<Standardizer> st;  // nullopt: identity, size from the file
  std::string name;
};

Status CheckSameColumns(const CsvRows& a, const CsvRows& b) {
  if (a.feature_names == b.feature_names) return Status::Ok();
  std::string fa, fb;
  for (const auto& n : a.feature_names) fa += (fa.empty() ? "" : ",") + n;
  for (const auto& n : b.feature_names) fb += (fb.empty() ? "" : ",") + n;
  return InvalidArgument(fmt::format(
      "{}: feature columns ({}) differ from those of {} ({}); every file of a "
      "csv-folder needs the same columns",
      b.path, fb, a.path, fa));
}

// Reads what the folder needs. `want_test` reads test.csv; `num_clients`
// (> 0) is checked against the number of client files when whole.
Result<Folder> OpenFolder(const DatasetSource& source, bool want_test,
                          int num_clients) {
  Folder f;
  f.dir = source.path;
  f.name = f.dir.filename().string();
  if (f.name.empty()) f.name = f.dir.parent_path().filename().string();
  auto o = CsvOptionsFromSource(source, kFolderOptions);
  if (!o.ok()) return o.status();
  f.options = *o;
  std::error_code ec;
  if (!fs::is_directory(f.dir, ec)) {
    return NotFound(
        fmt::format("{}: no such directory (a csv-folder holds client-0.csv, "
                    "client-1.csv, ... and test.csv)",
                    f.dir.string()));
  }
  auto indices = ClientIndices(f.dir);
  if (!indices.ok()) return indices.status();
  const int n = static_cast<int>(indices->size());
  int first_missing = -1;
  for (int i = 0; i < n; ++i) {
    if (!indices->contains(i)) {
      first_missing = i;
      break;
    }
  }
  const bool explicit_facts =
      !f.options.classes.empty() && !f.options.standardize;
  f.whole =
      first_missing < 0 && n > 0 && (num_clients <= 0 || n == num_clients);
  if (!f.whole && !explicit_facts) {
    std::string why;
    if (n == 0) {
      why = "it holds no client-<i>.csv file";
    } else if (first_missing >= 0) {
      why = fmt::format(
          "{} is missing (client files must be numbered 0.."
          "N-1 without gaps)",
          ClientFile(f.dir, first_missing));
    } else {
      why = fmt::format(
          "it holds {} client files (client-0.csv..client-{}.csv) but the "
          "federation has {} clients; make --clients/--num-shards {}",
          n, n - 1, num_clients, n);
    }
    return InvalidArgument(fmt::format(
        "csv-folder {}: {}. Shared classes and feature scaling come from the "
        "whole folder; on a host that holds only its own file, set "
        "--data-option classes=A,B,... and --data-option standardize=false",
        f.dir.string(), why));
  }
  if (f.whole) {
    for (int i = 0; i < n; ++i) {
      auto rows = ReadCsvRows(ClientFile(f.dir, i), f.options);
      if (!rows.ok()) return rows.status();
      if (i > 0) FEDJETS_RETURN_IF_ERROR(CheckSameColumns(f.clients[0], *rows));
      f.clients.push_back(std::move(rows).value());
    }
  }
  if (want_test || f.whole) {
    const std::string test_path = (f.dir / "test.csv").string();
    if (!fs::exists(test_path, ec)) {
      return NotFound(test_path +
                      ": no such file; a csv-folder needs test.csv for "
                      "evaluation");
    }
    auto rows = ReadCsvRows(test_path, f.options);
    if (!rows.ok()) return rows.status();
    if (f.whole) FEDJETS_RETURN_IF_ERROR(CheckSameColumns(f.clients[0], *rows));
    f.test = std::move(rows).value();
  }
  std::vector<const CsvRows*> all;
  for (const auto& c : f.clients) all.push_back(&c);
  if (f.test) all.push_back(&*f.test);
  auto classes = ResolveClasses(all, f.options);
  if (!classes.ok()) return classes.status();
  f.classes = *classes;
  if (f.options.standardize) {
    std::vector<const CsvRows*> train;
    for (const auto& c : f.clients) train.push_back(&c);
    f.st = FitStandardizer(train);
  }
  return f;
}

Result<Dataset> Load(const Folder& f, const CsvRows& rows) {
  return ToDataset(
      rows, AllRows(rows), f.classes,
      f.st ? *f.st : IdentityStandardizer(rows.feature_names.size()), f.name);
}

}  // namespace

Result<TrainTest> LoadCsvFolder(const DatasetSource& source) {
  auto f = OpenFolder(source, /*want_test=*/true, /*num_clients=*/0);
  if (!f.ok()) return f.status();
  TrainTest out;
  auto test = Load(*f, *f->test);
  if (!test.ok()) return test.status();
  out.test = std::move(test).value();
  out.train = Subset(out.test, {});
  for (const auto& c : f->clients) {
    auto d = Load(*f, c);
    if (!d.ok()) return d.status();
    out.train.features.insert(out.train.features.end(), d->features.begin(),
                              d->features.end());
    out.train.labels.insert(out.train.labels.end(), d->labels.begin(),
                            d->labels.end());
  }
  if (f->whole) {
    FEDJETS_RETURN_IF_ERROR(CheckEveryClassPresent(
        out.train, "any client file of " + f->dir.string()));
  }
  return out;
}

Result<Dataset> LoadCsvFolderClient(const DatasetSource& source, int client,
                                    int num_clients) {
  if (client < 0 || client >= num_clients) {
    return InvalidArgument(
        fmt::format("client {} is outside [0, {})", client, num_clients));
  }
  auto f = OpenFolder(source, /*want_test=*/false, num_clients);
  if (!f.ok()) return f.status();
  if (f->whole) return Load(*f, f->clients[client]);
  const std::string path = ClientFile(f->dir, client);
  auto rows = ReadCsvRows(path, f->options);
  if (!rows.ok()) return rows.status();
  return Load(*f, *rows);
}

}  // namespace fedjets::common
