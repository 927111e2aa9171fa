#include "common/data/partition.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <random>
#include <string_view>
#include <system_error>

#include "common/base/seeded_random.h"
#include "common/data/partition_classes.h"

namespace fedjets::common {
namespace {

using partition_internal::AssignClasses;
using partition_internal::CutClassesAmongHolders;
using partition_internal::SplitEvenly;
using Parts = std::vector<std::vector<int64_t>>;

// Enough redraws that a feasible min_examples_per_client is met with near
// certainty, few enough that an infeasible one fails in well under a second.
constexpr int kMaxDirichletTries = 1000;

constexpr const char* kAcceptedForms =
    "accepted forms: iid, classes:K (K >= 1), dirichlet:ALPHA (ALPHA > 0), "
    "dirichlet:ALPHA:MIN (MIN >= 0 examples per client)";

// Aborts with `what` when a caller breaks a documented precondition.
void CheckOrDie(bool ok, const std::string& what) {
  if (ok) return;
  std::fprintf(stderr, "fedjets: precondition failed: %s\n", what.c_str());
  std::abort();
}

// --- Portable sampling helpers (see the header for why they exist). ---

// Uniform in the open interval (0, 1), so its log is always finite.
double UniformOpen01(std::mt19937_64& rng) {
  return (static_cast<double>(rng() >> 11) + 0.5) * 0x1.0p-53;
}

double StandardNormal(std::mt19937_64& rng) {  // Box-Muller
  const double u1 = UniformOpen01(rng);
  const double u2 = UniformOpen01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// Log of a Gamma(shape, 1) draw (Marsaglia & Tsang, 2000). Returned as a log
// because for shape << 1 (alpha = 0.05) the draw itself underflows to 0.
double LogGammaSample(std::mt19937_64& rng, double shape) {
  if (shape < 1.0) {
    // Gamma(a) = Gamma(a + 1) * U^(1/a).
    return LogGammaSample(rng, shape + 1.0) +
           std::log(UniformOpen01(rng)) / shape;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0.0;
    double v = 0.0;
    do {
      x = StandardNormal(rng);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = UniformOpen01(rng);
    if (u < 1.0 - 0.0331 * x * x * x * x ||
        std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) {
      return std::log(d * v);
    }
  }
}

// A Dirichlet(alpha, ..., alpha) draw of length n.
std::vector<double> DirichletSample(std::mt19937_64& rng, double alpha, int n) {
  std::vector<double> p(n);
  for (double& x : p) x = LogGammaSample(rng, alpha);
  const double max_log = *std::max_element(p.begin(), p.end());
  double sum = 0.0;
  for (double& x : p) sum += (x = std::exp(x - max_log));
  for (double& x : p) x /= sum;
  return p;
}

Parts SplitIid(size_t n, int num_clients, std::mt19937_64& rng) {
  std::vector<int64_t> perm(n);
  for (size_t i = 0; i < n; ++i) perm[i] = static_cast<int64_t>(i);
  Shuffle(perm, rng);
  std::vector<int64_t> clients(num_clients);
  for (int c = 0; c < num_clients; ++c) clients[c] = c;
  Parts parts(num_clients);
  SplitEvenly(perm, clients, parts);
  return parts;
}

Result<Parts> SplitClasses(const std::vector<std::vector<int64_t>>& by_class,
                           int num_clients, int k, std::mt19937_64& rng) {
  const int64_t num_classes = static_cast<int64_t>(by_class.size());
  if (k < 1 || k > num_classes) {
    return InvalidArgument("classes_per_client is " + std::to_string(k) +
                           "; it must be in [1, num_classes = " +
                           std::to_string(num_classes) + "]");
  }
  // Every class must be able to feed its most crowded holder set; checked
  // up front so the outcome never depends on the seed.
  const int64_t slots = int64_t{num_clients} * k;
  const int64_t max_holders = (slots + num_classes - 1) / num_classes;
  for (int64_t c = 0; c < num_classes; ++c) {
    const int64_t have = static_cast<int64_t>(by_class[c].size());
    if (have == 0) {
      return InvalidArgument("class " + std::to_string(c) +
                             " has no examples; classes:K needs every class "
                             "in [0, num_classes) present");
    }
    if (have < max_holders) {
      return InvalidArgument(
          "class " + std::to_string(c) + " has " + std::to_string(have) +
          " examples but may be shared by " + std::to_string(max_holders) +
          " clients; use fewer clients or fewer classes per client");
    }
  }
  const Parts class_sets = AssignClasses(num_classes, num_clients, k, rng);
  return CutClassesAmongHolders(by_class, class_sets, rng);
}

Result<Parts> SplitDirichlet(const std::vector<std::vector<int64_t>>& by_class,
                             size_t n, int num_clients,
                             const PartitionSpec& spec, std::mt19937_64& rng) {
  if (!std::isfinite(spec.alpha) || spec.alpha <= 0.0) {
    return InvalidArgument("dirichlet alpha is " + std::to_string(spec.alpha) +
                           "; it must be finite and > 0");
  }
  const int64_t min = spec.min_examples_per_client;
  if (min < 0 || (min > 0 && static_cast<int64_t>(n) / min < num_clients)) {
    return InvalidArgument("min_examples_per_client is " + std::to_string(min) +
                           " but " + std::to_string(n) +
                           " examples cannot give that many to each of " +
                           std::to_string(num_clients) + " clients");
  }
  // A draw is judged on its cut points alone; examples are shuffled and
  // handed out only for the draw that is kept, so rejected draws stay cheap.
  std::vector<std::vector<size_t>> ends(by_class.size());
  for (int attempt = 0; attempt < kMaxDirichletTries; ++attempt) {
    std::vector<int64_t> sizes(num_clients, 0);
    for (size_t c = 0; c < by_class.size(); ++c) {
      if (by_class[c].empty()) continue;
      const std::vector<double> share =
          DirichletSample(rng, spec.alpha, num_clients);
      const size_t m = by_class[c].size();
      ends[c].resize(num_clients);
      double cum = 0.0;
      size_t begin = 0;
      for (int client = 0; client < num_clients; ++client) {
        cum += share[client];
        // The last client takes the rest; rounding can push cum past 1 or a
        // floor below the previous cut, hence the clamp.
        const size_t end =
            client + 1 == num_clients
                ? m
                : std::clamp(static_cast<size_t>(std::floor(cum * m)), begin,
                             m);
        ends[c][client] = end;
        sizes[client] += static_cast<int64_t>(end - begin);
        begin = end;
      }
    }
    if (*std::min_element(sizes.begin(), sizes.end()) < min) continue;
    Parts parts(num_clients);
    for (size_t c = 0; c < by_class.size(); ++c) {
      if (by_class[c].empty()) continue;
      std::vector<int64_t> items = by_class[c];
      Shuffle(items, rng);
      size_t begin = 0;
      for (int client = 0; client < num_clients; ++client) {
        parts[client].insert(parts[client].end(), items.begin() + begin,
                             items.begin() + ends[c][client]);
        begin = ends[c][client];
      }
    }
    return parts;
  }
  return InvalidArgument(
      "every one of " + std::to_string(kMaxDirichletTries) +
      " draws left some client with fewer than " + std::to_string(min) +
      " examples; raise alpha, lower min_examples_per_client, use fewer "
      "clients or another seed");
}

}  // namespace

Result<PartitionSpec> ParsePartitionSpec(const std::string& text) {
  auto bad = [&](const std::string& why) -> Status {
    return InvalidArgument("bad partition spec \"" + text + "\": " + why +
                           "; " + kAcceptedForms);
  };
  std::vector<std::string_view> fields;
  std::string_view rest = text;
  for (;;) {
    const size_t colon = rest.find(':');
    fields.push_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  auto parse = [](std::string_view s, auto& out) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size() && !s.empty();
  };
  PartitionSpec spec;
  const std::string_view kind = fields[0];
  if (kind == "iid") {
    if (fields.size() != 1) return bad("iid takes no parameter");
    spec.kind = PartitionSpec::Kind::kIid;
  } else if (kind == "classes") {
    if (fields.size() != 2) return bad("classes needs exactly one K");
    if (!parse(fields[1], spec.classes_per_client) ||
        spec.classes_per_client < 1) {
      return bad("K must be an integer >= 1");
    }
    spec.kind = PartitionSpec::Kind::kClasses;
  } else if (kind == "dirichlet") {
    if (fields.size() != 2 && fields.size() != 3) {
      return bad("dirichlet needs ALPHA and optionally MIN");
    }
    if (!parse(fields[1], spec.alpha) || !std::isfinite(spec.alpha) ||
        spec.alpha <= 0.0) {
      return bad("ALPHA must be a finite number > 0");
    }
    if (fields.size() == 3 &&
        (!parse(fields[2], spec.min_examples_per_client) ||
         spec.min_examples_per_client < 0)) {
      return bad("MIN must be an integer >= 0");
    }
    spec.kind = PartitionSpec::Kind::kDirichlet;
  } else {
    return bad("unknown kind \"" + std::string(kind) + "\"");
  }
  return spec;
}

std::string ToString(const PartitionSpec& spec) {
  switch (spec.kind) {
    case PartitionSpec::Kind::kIid:
      return "iid";
    case PartitionSpec::Kind::kClasses:
      return "classes:" + std::to_string(spec.classes_per_client);
    case PartitionSpec::Kind::kDirichlet: {
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), spec.alpha);
      std::string s = "dirichlet:" + std::string(buf, end);
      if (spec.min_examples_per_client != 1) {
        // Appended in two steps: "literal" + std::string trips GCC 12's
        // -Wrestrict false positive (GCC bug 105651) here.
        s += ':';
        s += std::to_string(spec.min_examples_per_client);
      }
      return s;
    }
  }
  return "unknown";
}

Result<Parts> Partition(const std::vector<int64_t>& labels, int64_t num_classes,
                        int num_clients, const PartitionSpec& spec,
                        uint64_t seed) {
  if (num_clients < 1) {
    return InvalidArgument("num_clients is " + std::to_string(num_clients) +
                           "; it must be >= 1");
  }
  if (num_classes < 1) {
    return InvalidArgument("num_classes is " + std::to_string(num_classes) +
                           "; it must be >= 1");
  }
  if (static_cast<size_t>(num_clients) > labels.size()) {
    return InvalidArgument("more clients (" + std::to_string(num_clients) +
                           ") than examples (" + std::to_string(labels.size()) +
                           ")");
  }
  auto by_class = partition_internal::IndicesByClass(labels, num_classes);
  if (!by_class.ok()) return by_class.status();
  std::mt19937_64 rng(seed);
  Result<Parts> parts = Parts();
  switch (spec.kind) {
    case PartitionSpec::Kind::kIid:
      parts = SplitIid(labels.size(), num_clients, rng);
      break;
    case PartitionSpec::Kind::kClasses:
      parts =
          SplitClasses(*by_class, num_clients, spec.classes_per_client, rng);
      break;
    case PartitionSpec::Kind::kDirichlet:
      parts = SplitDirichlet(*by_class, labels.size(), num_clients, spec, rng);
      break;
  }
  if (!parts.ok()) {
    return parts.status().Annotate("partition " + ToString(spec));
  }
  for (auto& p : *parts) std::sort(p.begin(), p.end());
  return parts;
}

std::vector<std::vector<int64_t>> ClassHistogram(
    const std::vector<int64_t>& labels, int64_t num_classes,
    const std::vector<std::vector<int64_t>>& parts) {
  Parts hist(parts.size(), std::vector<int64_t>(num_classes, 0));
  for (size_t client = 0; client < parts.size(); ++client) {
    for (int64_t i : parts[client]) {
      CheckOrDie(i >= 0 && static_cast<size_t>(i) < labels.size(),
                 "ClassHistogram: index " + std::to_string(i) +
                     " outside [0, " + std::to_string(labels.size()) + ")");
      const int64_t y = labels[i];
      CheckOrDie(y >= 0 && y < num_classes,
                 "ClassHistogram: label " + std::to_string(y) +
                     " outside [0, " + std::to_string(num_classes) + ")");
      ++hist[client][y];
    }
  }
  return hist;
}

std::string FormatHistogram(const std::vector<std::vector<int64_t>>& hist,
                            const std::vector<std::string>& class_names) {
  size_t num_classes = 0;
  for (const auto& row : hist) num_classes = std::max(num_classes, row.size());
  // Build every cell first so each column can be as wide as its widest cell.
  std::vector<std::vector<std::string>> table(1, {"client"});
  for (size_t c = 0; c < num_classes; ++c) {
    table[0].push_back(c < class_names.size() ? class_names[c]
                                              : std::to_string(c));
  }
  table[0].push_back("total");
  std::vector<int64_t> totals(num_classes, 0);
  for (size_t i = 0; i <= hist.size(); ++i) {
    const bool last = i == hist.size();
    std::vector<std::string> row = {last ? "total" : std::to_string(i)};
    int64_t sum = 0;
    for (size_t c = 0; c < num_classes; ++c) {
      const int64_t n =
          last ? totals[c] : (c < hist[i].size() ? hist[i][c] : 0);
      if (!last) totals[c] += n;
      sum += n;
      row.push_back(std::to_string(n));
    }
    row.push_back(std::to_string(sum));
    table.push_back(std::move(row));
  }
  std::vector<size_t> width(num_classes + 2, 0);
  for (const auto& row : table) {
    for (size_t c = 0; c < row.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  std::string out;
  for (const auto& row : table) {
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) out += "  ";
      out.append(width[c] - row[c].size(), ' ').append(row[c]);
    }
    out += '\n';
  }
  return out;
}

}  // namespace fedjets::common
