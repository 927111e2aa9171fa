// Who may join as which client (docs/PROTOCOL.md, "Identity"): a client's
// name is tied to the certificate it connected with, an optional
// allow-list (--allow-list) names the identities a run admits and their
// anchor experts, and at most one live session holds each name.
//
// Pure and torch-free, except AllowList::Load, which reads a file.
// Thread-compatible: the coordinator uses all of it from its network
// thread.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/net/cert_identity.h"

namespace fedjets::coordinator {

// OK when `cert` grants `name` (its CN, or a client name its subjectAltName
// lists); PermissionDenied naming both otherwise. `name` has passed
// CheckClientName.
common::Status CheckNameMatchesCertificate(std::string_view name,
                                           const common::CertIdentity& cert);

// The identities a run admits. A text file, one identity a line:
//   NAME           the client NAME, not an anchor
//   NAME ANCHOR    the client NAME, anchor of expert ANCHOR (FedJETs)
// separated by spaces or tabs; '#' starts a comment; blank lines are
// skipped. Parsing is strict: a bad name or anchor, a third field, a
// repeated name or a file with no identity is an error naming file:line.
class AllowList {
 public:
  // Parses `text`, which came from `source` (named in errors).
  static common::Result<AllowList> Parse(std::string_view text,
                                         const std::string& source);
  static common::Result<AllowList> Load(const std::string& path);

  // At start-up: every listed anchor is an expert of the run (below
  // `num_experts`; with 0, a run without experts, none may be listed).
  common::Status CheckAnchors(int num_experts) const;
  // A Hello from `name` declaring `anchor_expert` (-1: none): OK when the
  // name is listed and, in a run with experts (num_experts > 0), the anchor
  // is the listed one; PermissionDenied naming the file and line otherwise.
  common::Status Admits(std::string_view name, int anchor_expert,
                        int num_experts) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int anchor = -1;
    int line = 0;
  };
  std::string source_;
  std::map<std::string, Entry, std::less<>> entries_;
};

// The names that have a live session. A Claim holds its name until it is
// released or destroyed; the NameClaims must outlive its claims.
class NameClaims {
 public:
  class Claim {
   public:
    Claim() = default;
    Claim(Claim&& o) noexcept;
    Claim& operator=(Claim&& o) noexcept;
    ~Claim() { Release(); }
    void Release();

   private:
    friend class NameClaims;
    Claim(NameClaims* owner, std::string name)
        : owner_(owner), name_(std::move(name)) {}
    NameClaims* owner_ = nullptr;
    std::string name_;
  };

  // A claim on `name`, or nothing while another claim holds it.
  std::optional<Claim> TryClaim(std::string_view name);
  bool Held(std::string_view name) const { return held_.count(name) > 0; }

 private:
  std::set<std::string, std::less<>> held_;
};

}  // namespace fedjets::coordinator
