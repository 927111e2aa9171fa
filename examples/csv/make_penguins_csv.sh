#!/usr/bin/env bash
# Writes penguins.csv for the CSV example from the Palmer penguins data that
# Debian's r-cran-palmerpenguins ships (scripts/install-deps.sh installs it):
# the four body measurements as features and the species name (a string:
# Adelie, Chinstrap, Gentoo) as the label, in the last column. The two rows
# whose measurements are all NA are dropped here, explicitly, because the
# csv loader rejects non-numeric features rather than skip rows silently.
# island, sex and year are left out.
#
# Usage: make_penguins_csv.sh [OUT.csv]   (default: ./penguins.csv)
set -euo pipefail
src=/usr/lib/R/site-library/palmerpenguins/extdata/penguins.csv
out=${1:-penguins.csv}
if [[ ! -r $src ]]; then
  echo "make_penguins_csv: $src not found; run scripts/install-deps.sh" >&2
  exit 1
fi
awk -F, 'NR == 1 {
           print "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,species"
           next
         }
         $3 == "NA" || $4 == "NA" || $5 == "NA" || $6 == "NA" { dropped++; next }
         { print $3 "," $4 "," $5 "," $6 "," $1; kept++ }
         END { printf "make_penguins_csv: %d rows kept, %d with NA dropped\n",
               kept, dropped > "/dev/stderr" }' "$src" > "$out"
echo "make_penguins_csv: wrote $out" >&2
