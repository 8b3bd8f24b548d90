// `mcpgate certs ...` run as a process: files, modes, messages and exit codes.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <fstream>

#include "cli/cli_support.hpp"

namespace mcpgate::cli_test {
namespace {

// Whether `text` starts with (or, `whole`, is) before + "90d 0h" + after, or the same
// with "89d 23h": a second may tick between issuing and checking.
bool ninety_days(const std::string& text, const std::string& before, const std::string& after, bool whole = false) {
  for (const char* left : {"90d 0h", "89d 23h"}) {
    const std::string expected = before + left + after;
    if (whole ? text == expected : text.rfind(expected, 0) == 0) return true;
  }
  return false;
}

// ca + an ECDSA server certificate (fast) in `dir`, both expected to succeed.
void make_ca_and_server(const temp_dir& dir, const std::vector<std::string>& server_extra = {}) {
  const auto ca = run_mcpgate({"certs", "ca", "--out", dir.path()});
  ASSERT_EQ(ca.exit_code, 0) << ca.err;
  std::vector<std::string> args{"certs", "server", "--ca", dir.path(), "--domain", "example.test", "--out", dir.path(),
                                "--key-type", "ecdsa-p256"};
  args.insert(args.end(), server_extra.begin(), server_extra.end());
  const auto server = run_mcpgate(args);
  ASSERT_EQ(server.exit_code, 0) << server.err;
}

TEST(CertsCli, CaServerInspectRoundTrip) {
  temp_dir dir;
  const std::string data = dir / "data";
  const auto ca = run_mcpgate({"certs", "ca", "--out", data});
  ASSERT_EQ(ca.exit_code, 0) << ca.err;
  EXPECT_EQ(ca.err, "");
  EXPECT_EQ(lines_starting(ca.out, "wrote " + data + "/ca.key (EC P-256, mode 0600)").size(), 1u) << ca.out;
  EXPECT_EQ(lines_starting(ca.out, "wrote " + data + "/ca.crt (CN=mcp-tunnel-ca, valid until ").size(), 1u) << ca.out;
  EXPECT_EQ(file_mode(data + "/ca.key"), 0600u);
  EXPECT_EQ(file_mode(data + "/ca.crt"), 0644u);
  EXPECT_EQ(file_mode(data), 0755u);
  EXPECT_EQ(ca.out.find("PRIVATE KEY"), std::string::npos) << "never prints key material";

  // The default server key is RSA 4096, as Anthropic's setup component makes.
  const auto server = run_mcpgate({"certs", "server", "--ca", data, "--domain", "Example.TEST", "--out", data});
  ASSERT_EQ(server.exit_code, 0) << server.err;
  EXPECT_TRUE(has_line(server.out, "wrote " + data + "/tls.key (RSA 4096 bits, mode 0600)")) << server.out;
  EXPECT_EQ(lines_starting(server.out, "wrote " + data + "/tls.crt (DNS:example.test, DNS:*.example.test, valid until ").size(), 1u)
      << server.out;
  EXPECT_EQ(file_mode(data + "/tls.key"), 0600u);
  EXPECT_EQ(file_mode(data + "/tls.crt"), 0644u);
  EXPECT_EQ(server.out.find("PRIVATE KEY"), std::string::npos);

  const auto inspect = run_mcpgate({"certs", "inspect", data + "/ca.crt", data + "/tls.crt", "--domain", "example.test"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.out << inspect.err;
  EXPECT_TRUE(has_line(inspect.out, data + "/ca.crt: CA certificate, CN=mcp-tunnel-ca")) << inspect.out;
  EXPECT_TRUE(has_line(inspect.out, data + "/tls.crt: server certificate, CN=example.test")) << inspect.out;
  EXPECT_TRUE(has_line(inspect.out, "PASS signed by CA: signed by CN=mcp-tunnel-ca (signature verified)")) << inspect.out;
  EXPECT_TRUE(has_line(inspect.out, "PASS subjectAltName: DNS:*.example.test covers every <route>.example.test"));
  EXPECT_TRUE(lines_starting(inspect.out, "FAIL").empty()) << inspect.out;
  EXPECT_TRUE(lines_starting(inspect.out, "WARN").empty()) << inspect.out;
  EXPECT_EQ(lines_starting(inspect.out, "PASS").size(), 9u + 10u);
}

TEST(CertsCli, CaKeyIsNeverOverwrittenWithoutForce) {
  temp_dir dir;
  ASSERT_EQ(run_mcpgate({"certs", "ca", "--out", dir.path()}).exit_code, 0);
  const std::string key = read_text(dir / "ca.key");
  const std::string cert = read_text(dir / "ca.crt");

  const auto again = run_mcpgate({"certs", "ca", "--out", dir.path()});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(again.err.rfind("mcpgate certs ca: " + (dir / "ca.key") + " exists; refusing to overwrite a CA key.", 0), 0u)
      << again.err;
  EXPECT_NE(again.err.find("Use --force"), std::string::npos);
  EXPECT_EQ(read_text(dir / "ca.key"), key);
  EXPECT_EQ(read_text(dir / "ca.crt"), cert);

  const auto forced = run_mcpgate({"certs", "ca", "--out", dir.path(), "--force", "--key-type", "rsa-2048", "--days", "30",
                                   "--cn", "second CA"});
  ASSERT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(read_text(dir / "ca.key"), key);
  EXPECT_TRUE(has_line(forced.out.substr(0, forced.out.find('\n')),
                       "wrote " + (dir / "ca.key") + " (RSA 2048 bits, mode 0600): keep it private and backed up"))
      << forced.out;
  EXPECT_NE(forced.out.find("(CN=second CA, valid until "), std::string::npos) << forced.out;
}

TEST(CertsCli, KeyModesAndTheWorldReadableWarning) {
  temp_dir dir;
  make_ca_and_server(dir, {"--world-readable"});
  EXPECT_EQ(file_mode(dir / "tls.key"), 0644u);
  EXPECT_EQ(file_mode(dir / "ca.key"), 0600u);

  const auto world = run_mcpgate({"certs", "server", "--ca", dir.path(), "--domain", "example.test", "--out",
                                  dir / "w", "--key-type", "ecdsa-p256", "--world-readable"});
  ASSERT_EQ(world.exit_code, 0) << world.err;
  EXPECT_EQ(world.err, "warning: " + (dir / "w/tls.key") +
                           " is world-readable (0644): any local user can read this private key; meant only for the "
                           "container case, where the proxy runs as uid 65532 and reads a bind-mounted key it does "
                           "not own\n");

  const auto group = run_mcpgate({"certs", "server", "--ca", dir.path(), "--domain", "example.test", "--out", dir / "g",
                                  "--key-type", "ecdsa-p256", "--group-readable"});
  ASSERT_EQ(group.exit_code, 0) << group.err;
  EXPECT_EQ(group.err, "");
  EXPECT_EQ(file_mode(dir / "g/tls.key"), 0640u);

  const auto both = run_mcpgate({"certs", "server", "--ca", dir.path(), "--domain", "example.test", "--out", dir / "b",
                                 "--group-readable", "--world-readable"});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_NE(both.err.find("excludes"), std::string::npos) << both.err;

  const auto ca_world = run_mcpgate({"certs", "ca", "--out", dir / "ca2", "--world-readable"});
  EXPECT_NE(ca_world.exit_code, 0);
  EXPECT_FALSE(std::filesystem::exists(dir / "ca2/ca.key"));
}

TEST(CertsCli, ClearErrorsForBadInput) {
  temp_dir dir;
  ASSERT_EQ(run_mcpgate({"certs", "ca", "--out", dir.path()}).exit_code, 0);
  const auto wildcard = run_mcpgate({"certs", "server", "--ca", dir.path(), "--domain", "*.example.test", "--out", dir.path()});
  EXPECT_EQ(wildcard.exit_code, 1);
  EXPECT_EQ(wildcard.err,
            "mcpgate certs: invalid domain \"*.example.test\": give the domain without a wildcard; the certificate "
            "covers the domain and *.domain\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "tls.key")) << "nothing written on error";

  const auto no_ca = run_mcpgate({"certs", "server", "--ca", dir / "none", "--domain", "example.test", "--out", dir.path()});
  EXPECT_EQ(no_ca.exit_code, 1);
  EXPECT_EQ(no_ca.err, "mcpgate certs: " + (dir / "none/ca.crt") + ": cannot open: No such file or directory\n");

  const auto key_type = run_mcpgate({"certs", "server", "--ca", dir.path(), "--domain", "example.test", "--out",
                                     dir.path(), "--key-type", "dsa"});
  EXPECT_EQ(key_type.exit_code, 1);
  EXPECT_EQ(key_type.err,
            "mcpgate certs: unknown --key-type \"dsa\" (expected one of ecdsa-p256, rsa-2048, rsa-3072, rsa-4096)\n");
}

TEST(CertsCli, RenewIsANoOpWhileFarFromExpiry) {
  temp_dir dir;
  make_ca_and_server(dir);
  const std::string cert = read_text(dir / "tls.crt");
  const std::string key = read_text(dir / "tls.key");
  const auto renew = run_mcpgate({"certs", "renew", "--ca", dir.path(), "--out", dir.path(), "--renew-before", "720h"});
  ASSERT_EQ(renew.exit_code, 0) << renew.err;
  EXPECT_TRUE(ninety_days(renew.out, (dir / "tls.crt") + ": ", " left, more than --renew-before 720h: not renewed\n", true))
      << renew.out;
  EXPECT_EQ(read_text(dir / "tls.crt"), cert);
  EXPECT_EQ(read_text(dir / "tls.key"), key);
}

TEST(CertsCli, RenewReissuesNearExpiryKeepingDomainKeyTypeAndMode) {
  temp_dir dir;
  make_ca_and_server(dir, {"--days", "20", "--world-readable"});
  const std::string cert = read_text(dir / "tls.crt");
  const auto renew = run_mcpgate({"certs", "renew", "--ca", dir.path(), "--out", dir.path(), "--renew-before", "30d"});
  ASSERT_EQ(renew.exit_code, 0) << renew.err;
  EXPECT_NE(read_text(dir / "tls.crt"), cert);
  EXPECT_TRUE(has_line(renew.out, "wrote " + (dir / "tls.key") + " (EC P-256, mode 0644)")) << renew.out;
  EXPECT_EQ(lines_starting(renew.out, "wrote " + (dir / "tls.crt") + " (DNS:example.test, DNS:*.example.test, valid until ").size(), 1u)
      << renew.out;
  EXPECT_EQ(file_mode(dir / "tls.key"), 0644u) << "a container reading the key keeps reading it";

  const auto inspect = run_mcpgate({"certs", "inspect", "--ca", dir / "ca.crt", dir / "tls.crt", "--domain", "example.test"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.out;
  const auto validity = lines_starting(inspect.out, "PASS validity: valid until ");
  ASSERT_EQ(validity.size(), 1u) << inspect.out;
  EXPECT_TRUE(validity[0].size() > 20 && ninety_days(validity[0].substr(validity[0].find(" UTC (")), " UTC (", " left)", true))
      << validity[0];
}

TEST(CertsCli, RenewDefaultsAlwaysRenewAndReplaceAForeignCertificate) {
  temp_dir dir;
  make_ca_and_server(dir);
  const std::string cert = read_text(dir / "tls.crt");
  const auto always = run_mcpgate({"certs", "renew", "--ca", dir.path(), "--out", dir.path()});
  ASSERT_EQ(always.exit_code, 0) << always.err;
  EXPECT_NE(read_text(dir / "tls.crt"), cert);

  // A new CA: the server certificate is replaced although it has plenty of time left.
  ASSERT_EQ(run_mcpgate({"certs", "ca", "--out", dir.path(), "--force"}).exit_code, 0);
  const auto foreign = run_mcpgate({"certs", "renew", "--ca", dir.path(), "--out", dir.path(), "--renew-before", "720h"});
  ASSERT_EQ(foreign.exit_code, 0) << foreign.err;
  EXPECT_TRUE(ninety_days(foreign.out, "renewing " + (dir / "tls.crt") + " although ",
                          " left: signed by CA: the issuer name is CN=mcp-tunnel-ca but the CA's key does not verify "
                          "the signature"))
      << foreign.out;
  const auto inspect = run_mcpgate({"certs", "inspect", dir / "ca.crt", dir / "tls.crt"});
  EXPECT_EQ(inspect.exit_code, 0) << inspect.out;

  temp_dir empty;
  ASSERT_EQ(run_mcpgate({"certs", "ca", "--out", empty.path()}).exit_code, 0);
  const auto nothing = run_mcpgate({"certs", "renew", "--ca", empty.path(), "--out", empty.path()});
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_EQ(nothing.err, "mcpgate certs: " + (empty / "tls.crt") + ": no certificate to take the domain from: give --domain\n");
  const auto bad_duration = run_mcpgate({"certs", "renew", "--ca", dir.path(), "--out", dir.path(), "--renew-before", "soon"});
  EXPECT_EQ(bad_duration.exit_code, 1);
  EXPECT_EQ(bad_duration.err.rfind("mcpgate certs: --renew-before \"soon\": ", 0), 0u) << bad_duration.err;
}

TEST(CertsCli, InspectReportsFailuresAndJson) {
  temp_dir dir;
  make_ca_and_server(dir);
  const std::string bundle = dir / "bundle.pem";
  {
    std::ofstream f(bundle);
    f << read_text(dir / "ca.crt") << read_text(dir / "ca.crt");
  }
  const auto bad = run_mcpgate({"certs", "inspect", "--ca", bundle, bundle, dir / "missing.crt"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_TRUE(has_line(bad.out, "FAIL single certificate: 2 CERTIFICATE blocks; the tunnel takes exactly one CA "
                                "certificate per upload"))
      << bad.out;
  EXPECT_TRUE(has_line(bad.out, "  fix: keep only the CA certificate in the file (a tunnel holds up to two CAs, "
                                "uploaded one by one)"));
  EXPECT_TRUE(has_line(bad.out, "FAIL readable: " + (dir / "missing.crt") + ": cannot open: No such file or directory"));

  const auto wrong_domain = run_mcpgate({"certs", "inspect", dir / "ca.crt", dir / "tls.crt", "--domain", "other.test", "--json"});
  EXPECT_EQ(wrong_domain.exit_code, 1);
  const boost::json::value json = boost::json::parse(wrong_domain.out);
  EXPECT_EQ(json.at("ok"), false);
  const auto& files = json.at("files").as_array();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].at("kind"), "ca");
  EXPECT_EQ(files[1].at("kind"), "server");
  EXPECT_EQ(files[1].at("subject"), "CN=example.test");
  bool found = false;
  for (const auto& check : files[1].at("checks").as_array()) {
    if (check.at("name") != "subjectAltName") continue;
    found = true;
    EXPECT_EQ(check.at("status"), "FAIL");
    EXPECT_EQ(check.at("detail"), "does not cover <route>.other.test: has DNS:example.test, DNS:*.example.test");
  }
  EXPECT_TRUE(found) << wrong_domain.out;
}

}  // namespace
}  // namespace mcpgate::cli_test
