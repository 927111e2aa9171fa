#!/usr/bin/env bash
# Writes satellite.csv, a CSV with six string-labelled classes, from the
# Landsat satellite data that Debian's r-cran-mlbench ships
# (scripts/install-deps.sh installs it): 6,435 rows, the 36 spectral values
# of a 3x3 pixel neighbourhood (x.1 ... x.36) as features and the land
# class of the centre pixel as the label, in the last column ("red soil",
# "cotton crop", "grey soil", "damp grey soil", "vegetation stubble",
# "very damp grey soil").
#
# Usage: make_satellite_csv.sh [OUT.csv]   (default: ./satellite.csv)
set -euo pipefail
out=${1:-satellite.csv}
if [[ ! -d /usr/lib/R/site-library/mlbench ]] || ! command -v Rscript >/dev/null; then
  echo "make_satellite_csv: r-cran-mlbench not found; run scripts/install-deps.sh" >&2
  exit 1
fi
Rscript --vanilla -e '
  suppressMessages(library(mlbench))
  data(Satellite)
  out <- commandArgs(trailingOnly = TRUE)[1]
  write.csv(Satellite, out, row.names = FALSE, quote = FALSE)
  cat(sprintf("make_satellite_csv: %d rows, %d classes\n", nrow(Satellite),
              nlevels(Satellite$classes)), file = stderr())
' "$out"
echo "make_satellite_csv: wrote $out" >&2
