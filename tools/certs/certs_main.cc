// fedjets-certs: generates the CA, coordinator and client certificates for
// mutual TLS. Only parses flags; the work is in common/certs.h.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/net/certs.h"

namespace {

namespace fs = std::filesystem;
using fedjets::common::CertRole;
using fedjets::common::Status;

void PrintWritten(const fs::path& dir, const std::string& name) {
  std::cout << "wrote " << (dir / (name + ".pem")).string() << "\n"
            << "wrote " << (dir / (name + ".key")).string() << "\n";
}

void PrintWrittenCa(const fs::path& dir) {
  std::cout << "wrote " << (dir / fedjets::common::kCaCertFile).string() << "\n"
            << "wrote " << (dir / fedjets::common::kCaKeyFile).string() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "fedjets-certs: generate EC P-256 certificates for fedjets mutual TLS"};
  app.require_subcommand(1);

  std::string dir, ca_dir, out_dir, name, role, cn = "fedjets CA";
  std::vector<std::string> hosts, client_names;
  int days = 825, clients = 0;
  bool force = false;

  CLI::App* ca = app.add_subcommand("ca", "create a self-signed CA");
  ca->add_option("--dir", dir, "directory for ca.pem and ca.key")->required();
  ca->add_option("--cn", cn, "CA common name")->capture_default_str();
  ca->add_option("--days", days, "validity in days")
      ->capture_default_str()
      ->check(CLI::Range(1, 36500));
  ca->add_flag("--force", force, "replace existing files");

  CLI::App* node =
      app.add_subcommand("node", "create a key and certificate signed by a CA");
  node->add_option("--ca-dir", ca_dir, "directory holding ca.pem and ca.key")
      ->required();
  node->add_option("--out", out_dir, "directory for <name>.pem and <name>.key")
      ->required();
  node->add_option("--name", name, "node name: certificate CN and file name")
      ->required();
  node->add_option("--role", role, "server (serverAuth) or client (clientAuth)")
      ->required()
      ->check(CLI::IsMember({"server", "client"}));
  node->add_option("--host", hosts,
                   "subjectAltName entry, IP or DNS name; repeatable "
                   "(a server needs at least one)");
  node->add_option("--client-name", client_names,
                   "a further client name this client certificate grants "
                   "(its CN is always granted); repeatable: a fedjets-client "
                   "process hosting --shards 0,1 needs client-0 and client-1. "
                   "A range PREFIX{FIRST..LAST[..STEP]} (quote it from the "
                   "shell) grants PREFIX followed by FIRST, FIRST+STEP, ... "
                   "<= LAST in one entry: 'client-{0..9999}' keeps the "
                   "certificate small (docs/PROTOCOL.md, \"Identity\")");
  node->add_option("--days", days, "validity in days")
      ->capture_default_str()
      ->check(CLI::Range(1, 36500));
  node->add_flag("--force", force, "replace existing files");

  CLI::App* run = app.add_subcommand(
      "run",
      "create a CA, a coordinator certificate and N client certificates");
  run->add_option("--dir", dir, "output directory")->required();
  run->add_option("--clients", clients, "number of client certificates")
      ->required()
      ->check(CLI::NonNegativeNumber);
  run->add_option("--host", hosts,
                  "coordinator subjectAltName entry, repeatable "
                  "(default: localhost 127.0.0.1 ::1)");
  run->add_flag("--force", force, "replace existing files");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
      return app.exit(e);  // --help
    }
    std::cerr << "fedjets-certs: " << e.what() << " (see --help)\n";
    return 1;
  }

  Status st;
  if (ca->parsed()) {
    st = fedjets::common::GenerateCa(dir, cn, days, force);
    if (st.ok()) PrintWrittenCa(dir);
  } else if (node->parsed()) {
    if (!client_names.empty() && (role != "client" || !hosts.empty())) {
      std::cerr << "fedjets-certs: --client-name is for --role client "
                   "certificates without --host\n";
      return 1;
    }
    st = client_names.empty()
             ? fedjets::common::GenerateNodeCert(
                   ca_dir, out_dir, name,
                   role == "server" ? CertRole::kServer : CertRole::kClient,
                   hosts, days, force)
             : fedjets::common::GenerateClientCert(ca_dir, out_dir, name,
                                                   client_names, days, force);
    if (st.ok()) PrintWritten(out_dir, name);
  } else {
    if (hosts.empty()) hosts = fedjets::common::DefaultCoordinatorHosts();
    st = fedjets::common::GenerateRunCertificates(dir, clients, hosts, force);
    if (st.ok()) {
      PrintWrittenCa(dir);
      PrintWritten(dir, fedjets::common::kCoordinatorCertName);
      for (int i = 0; i < clients; ++i) {
        PrintWritten(dir, fedjets::common::ClientCertName(i));
      }
    }
  }
  if (!st.ok()) {
    std::cerr << "fedjets-certs: " << st.ToString() << "\n";
    return 1;
  }
  return 0;
}
