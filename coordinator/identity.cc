#include "coordinator/identity.h"

#include <fmt/format.h>

#include <charconv>
#include <utility>
#include <vector>

#include "common/base/log_quote.h"
#include "common/base/read_file.h"
#include "coordinator/validation.h"

namespace fedjets::coordinator {
namespace {

// The whitespace-separated fields of `line`, up to a '#'.
std::vector<std::string_view> Fields(std::string_view line) {
  line = line.substr(0, line.find('#'));
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() &&
           (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) {
      ++i;
    }
    size_t end = i;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t' &&
           line[end] != '\r') {
      ++end;
    }
    if (end > i) out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

std::string AnchorText(int anchor) {
  return anchor < 0 ? "no anchor" : fmt::format("anchor expert {}", anchor);
}

}  // namespace

common::Status CheckNameMatchesCertificate(std::string_view name,
                                           const common::CertIdentity& cert) {
  if (cert.Grants(name)) return common::Status::Ok();
  return common::PermissionDenied(fmt::format(
      "Hello names client '{}', but the certificate it connected with (CN "
      "{}) grants {}: a client may only use a name its certificate grants",
      name, common::QuoteForLog(cert.common_name),
      cert.GrantedCount() == 0 ? std::string("only its CN")
                               : fmt::format("its CN and {} other client names",
                                             cert.GrantedCount())));
}

common::Result<AllowList> AllowList::Parse(std::string_view text,
                                           const std::string& source) {
  AllowList list;
  list.source_ = source;
  int line_no = 0;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? "" : text.substr(eol + 1);
    ++line_no;
    const auto fields = Fields(line);
    if (fields.empty()) continue;
    auto fail = [&](const std::string& what) {
      return common::InvalidArgument(
          fmt::format("allow-list {}:{}: {}", source, line_no, what));
    };
    if (fields.size() > 2) {
      return fail(fmt::format(
          "{} fields; want NAME or NAME ANCHOR (a '#' starts a comment)",
          fields.size()));
    }
    const std::string_view name = fields[0];
    if (!CheckClientName(name).ok()) {
      return fail(fmt::format(
          "{} is not a client name (1 to 64 bytes of [A-Za-z0-9._-])",
          common::QuoteForLog(name)));
    }
    Entry entry{-1, line_no};
    if (fields.size() == 2) {
      const std::string_view a = fields[1];
      auto [end, ec] =
          std::from_chars(a.data(), a.data() + a.size(), entry.anchor);
      if (ec != std::errc() || end != a.data() + a.size() || entry.anchor < 0) {
        return fail(fmt::format(
            "anchor {} of client '{}' is not an expert index (an integer "
            ">= 0)",
            common::QuoteForLog(a), name));
      }
    }
    auto [it, inserted] = list.entries_.emplace(std::string(name), entry);
    if (!inserted) {
      return fail(fmt::format("client '{}' is listed again (first on line {})",
                              name, it->second.line));
    }
  }
  if (list.entries_.empty()) {
    return common::InvalidArgument(fmt::format(
        "allow-list {} lists no client: it would refuse everyone", source));
  }
  return list;
}

common::Result<AllowList> AllowList::Load(const std::string& path) {
  common::Result<std::string> text = common::ReadFileToString(path);
  if (!text.ok()) return text.status().Annotate("allow-list (--allow-list)");
  return Parse(*text, path);
}

common::Status AllowList::CheckAnchors(int num_experts) const {
  for (const auto& [name, e] : entries_) {
    if (e.anchor < 0 || e.anchor < num_experts) continue;
    return common::InvalidArgument(fmt::format(
        "allow-list {}:{}: client '{}' is the anchor of expert {}, but {}",
        source_, e.line, name, e.anchor,
        num_experts == 0 ? std::string("this run has no experts (FedJETs only)")
                         : fmt::format("this run has {} experts (0..{})",
                                       num_experts, num_experts - 1)));
  }
  return common::Status::Ok();
}

common::Status AllowList::Admits(std::string_view name, int anchor_expert,
                                 int num_experts) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    return common::PermissionDenied(
        fmt::format("client '{}' is not on the allow-list {}", name, source_));
  }
  const Entry& e = it->second;
  if (num_experts > 0 && anchor_expert != e.anchor) {
    return common::PermissionDenied(fmt::format(
        "client '{}' declares {}, but the allow-list {}:{} gives it {}", name,
        AnchorText(anchor_expert), source_, e.line, AnchorText(e.anchor)));
  }
  return common::Status::Ok();
}

NameClaims::Claim::Claim(Claim&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr)), name_(std::move(o.name_)) {}

NameClaims::Claim& NameClaims::Claim::operator=(Claim&& o) noexcept {
  if (this != &o) {
    Release();
    owner_ = std::exchange(o.owner_, nullptr);
    name_ = std::move(o.name_);
  }
  return *this;
}

void NameClaims::Claim::Release() {
  if (owner_ != nullptr) owner_->held_.erase(name_);
  owner_ = nullptr;
}

std::optional<NameClaims::Claim> NameClaims::TryClaim(std::string_view name) {
  if (!held_.emplace(name).second) return std::nullopt;
  return Claim(this, std::string(name));
}

}  // namespace fedjets::coordinator
