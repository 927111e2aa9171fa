#!/usr/bin/env bash
# Writes a small tabular dataset for the CSV end-to-end tests:
#   OUT/blobs.csv                three Gaussian-ish blobs in 4 features, 300
#                                rows, string labels (alpha, beta, gamma) in
#                                the last column, one quoted field per row;
#   OUT/blobs-folder/client-{0,1,2}.csv and test.csv
#                                the same kind of data split per client, each
#                                client skewed towards one class;
#   OUT/blobs-bad.csv            a non-numeric feature on line 3, column 2.
# Deterministic: a Park-Miller generator in awk (exact in doubles, so mawk
# and gawk agree). Usage: make_blobs_csv.sh OUT_DIR
set -euo pipefail
out=${1:?usage: make_blobs_csv.sh OUT_DIR}
mkdir -p "$out/blobs-folder"
gen() {  # gen SEED ROWS SKEW_CLASS(-1 = balanced) > file
  awk -v seed="$1" -v rows="$2" -v skew="$3" 'BEGIN {
    x = seed
    split("alpha beta gamma", name, " ")
    print "f1,f2,f3,\"f4, with comma\",label"
    for (i = 0; i < rows; i++) {
      x = (16807 * x) % 2147483647
      c = (skew >= 0 && x % 10 < 6) ? skew : x % 3
      line = ""
      for (f = 0; f < 4; f++) {
        n = 0
        for (k = 0; k < 3; k++) { x = (16807 * x) % 2147483647; n += x / 2147483647 }
        v = (f == c ? 3 : 0) + (f == 3 ? 10 * c : 0) + (n - 1.5)
        line = line sprintf("%.4f,", v)
      }
      print line "\"" name[c + 1] "\""
    }
  }'
}
gen 12345 300 -1 > "$out/blobs.csv"
gen 101 80 0 > "$out/blobs-folder/client-0.csv"
gen 202 80 1 > "$out/blobs-folder/client-1.csv"
gen 303 80 2 > "$out/blobs-folder/client-2.csv"
gen 404 90 -1 > "$out/blobs-folder/test.csv"
printf 'f1,f2,label\n1,2,alpha\n3,NA,beta\n' > "$out/blobs-bad.csv"
