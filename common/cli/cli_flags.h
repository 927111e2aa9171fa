// Command-line flags shared by the fedjets binaries (CLI11), so that every
// binary spells and documents them the same way.
#pragma once

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/data/dataset_registry.h"
#include "common/data/dataset_source.h"
#include "common/net/connection.h"
#include "common/net/tls.h"

namespace fedjets::common {

// An option whose --help shows its default (the value `value` holds now).
template <class T>
CLI::Option* AddOptionWithDefault(CLI::App& app, const std::string& name,
                                  T& value, const std::string& help) {
  return app.add_option(name, value, help)->capture_default_str();
}

inline void AddTlsFlags(CLI::App& app, TlsFiles& tls, bool& insecure) {
  app.add_option("--ca", tls.ca,
                 "PEM file of the run's CA certificate (signs every node)");
  app.add_option("--cert", tls.cert, "PEM file of this node's certificate");
  app.add_option("--key", tls.key, "PEM file of this node's private key");
  app.add_flag("--insecure", insecure,
               "use plain TCP without TLS or authentication (testing only; "
               "logs a warning)");
}

inline void AddLimitFlags(CLI::App& app, ConnectionLimits& limits) {
  AddOptionWithDefault(app, "--max-frame-bytes", limits.max_frame_bytes,
                       "largest frame accepted from a peer, checked before "
                       "allocating (must match on both sides)");
  AddOptionWithDefault(app, "--chunk-bytes", limits.chunk_bytes,
                       "tensor bytes per chunk message; larger tensors are "
                       "streamed in chunks");
  AddOptionWithDefault(app, "--max-tensor-bytes", limits.max_tensor_bytes,
                       "largest single tensor a peer may send");
}

inline void AddDatasetFlags(CLI::App& app, DatasetSource& data) {
  std::string names;
  for (const auto& n : RegisteredDatasetNames()) {
    names += (names.empty() ? "" : ", ") + n;
  }
  AddOptionWithDefault(
      app, "--dataset", data.name,
      "dataset loader, one of: " + names + " (see docs/DATASETS.md)");
  AddOptionWithDefault(app, "--data", data.path, "dataset file or directory");
  app.add_option_function<std::vector<std::string>>(
         "--data-option",
         [&data](const std::vector<std::string>& kvs) {
           for (const auto& kv : kvs) {
             const auto eq = kv.find('=');
             if (eq == std::string::npos || eq == 0) {
               throw CLI::ValidationError(
                   "--data-option", "expected KEY=VALUE, got '" + kv + "'");
             }
             data.options[kv.substr(0, eq)] = kv.substr(eq + 1);
           }
         },
         "loader option KEY=VALUE (repeatable), e.g. label=COLUMN, "
         "test=FILE, test_fraction=0.2, classes=A,B,C, ignore=COL1,COL2, "
         "standardize=false for csv")
      ->allow_extra_args(false);
}

// A duration flag given in seconds.
inline CLI::Option* AddSecondsFlag(CLI::App& app, const std::string& name,
                                   std::chrono::milliseconds& value,
                                   const std::string& help) {
  return app
      .add_option_function<double>(
          name,
          [&value](double s) {
            value = std::chrono::milliseconds(static_cast<int64_t>(s * 1000));
          },
          help + fmt::format(" (seconds, default {})",
                             static_cast<double>(value.count()) / 1000.0))
      ->check(CLI::PositiveNumber);
}

inline void AddLogLevelFlag(CLI::App& app, std::string& level) {
  app.add_option("--log-level", level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();
}

// `--resume DIR`: continue the run in DIR. Registered as not configurable,
// so a run's saved config never asks for a resume.
inline CLI::Option* AddResumeFlag(CLI::App& app, std::string& dir,
                                  const std::string& help) {
  return app.add_option("--resume", dir, help)->configurable(false);
}

// The command line with `--config DIR/<config_name>` added when it holds
// `--resume DIR` (or --resume=DIR) and no --config, so a resumed run reads
// the flags it was started with; flags on the command line still win.
// args[0] is the program.
inline std::vector<std::string> WithResumeConfig(
    std::vector<std::string> args, const std::string& config_name) {
  std::string dir;
  bool has_config = false;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string_view a = args[i];
    if (a == "--config" || a.starts_with("--config=")) has_config = true;
    if (a == "--resume" && i + 1 < args.size()) dir = args[i + 1];
    if (a.starts_with("--resume=")) dir = a.substr(9);
  }
  if (!dir.empty() && !has_config) {
    args.push_back("--config");
    args.push_back(dir + "/" + config_name);
  }
  return args;
}

}  // namespace fedjets::common
