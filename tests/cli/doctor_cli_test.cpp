// `mcpgate doctor` against a deployment made here: certificates from the pki library or
// `certs`, an upstream that is a listening socket of this process on 127.0.0.1 port 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <memory>
#include <thread>

#include "cli/cli_support.hpp"
#include "net/tls_context.hpp"
#include "pki/files.hpp"
#include "pki/issue.hpp"
#include "support/test_pki.hpp"

namespace mcpgate::cli_test {
namespace {

// A TCP socket on 127.0.0.1 with a kernel-chosen port; listening (the kernel completes
// handshakes without accept) or only bound (connections are refused, the port stays ours).
class local_socket {
 public:
  explicit local_socket(bool listening) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (listening) {
      EXPECT_EQ(::listen(fd_, 16), 0);
    }
  }
  ~local_socket() { ::close(fd_); }
  local_socket(const local_socket&) = delete;
  local_socket& operator=(const local_socket&) = delete;
  unsigned port() const { return port_; }

 private:
  int fd_;
  unsigned port_ = 0;
};

// An https upstream on 127.0.0.1 port 0: completes TLS handshakes with `files`, then drops
// the connection (doctor only handshakes).
class tls_upstream {
 public:
  explicit tls_upstream(const config::tls_files& files)
      : ctx_(net::make_server_tls_context(files)),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~tls_upstream() {
    io_.stop();
    thread_.join();
  }
  tls_upstream(const tls_upstream&) = delete;
  tls_upstream& operator=(const tls_upstream&) = delete;
  unsigned port() const { return acceptor_.local_endpoint().port(); }

 private:
  using tcp = boost::asio::ip::tcp;
  void accept() {
    acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      auto stream = std::make_shared<boost::asio::ssl::stream<tcp::socket>>(std::move(socket), *ctx_);
      stream->async_handshake(boost::asio::ssl::stream_base::server, [stream](const boost::system::error_code&) {});
      accept();
    });
  }
  boost::asio::io_context io_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

struct deployment {
  temp_dir dir;
  std::string data = dir / "data";
  std::string config = dir / "config.yaml";

  deployment() {
    EXPECT_EQ(run_mcpgate({"certs", "ca", "--out", data}).exit_code, 0);
    issue("example.test");
  }
  void issue(const std::string& domain) {
    const auto r = run_mcpgate({"certs", "server", "--ca", data, "--domain", domain, "--out", data, "--key-type", "ecdsa-p256"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  void write_config(unsigned upstream_port, const std::string& listen = "127.0.0.1:0",
                    const std::string& upstream_block = "upstream:\n  allowed_ips: [127.0.0.0/8]\n") const {
    std::ofstream f(config);
    f << "listen_addr: \"" << listen << "\"\n"
      << "tunnel_domain: example.test\n"
      << "tls:\n  cert_file: /data/tls.crt\n  key_file: /data/tls.key\n"
      << "routes:\n  echo: http://127.0.0.1:" << upstream_port << "\n"
      << upstream_block;
  }
  run_result doctor(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"doctor", "--config", config, "--data-dir", data, "--timeout", "2000"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_mcpgate(args);
  }
};

std::string fails(const run_result& r) {
  std::string out;
  for (const auto& l : lines_starting(r.out, "FAIL")) out += l + "\n";
  return out;
}

TEST(DoctorCli, GoodSetupPassesEveryCheck) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port());
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(lines_starting(r.out, "FAIL").empty()) << r.out;
  EXPECT_TRUE(lines_starting(r.out, "WARN").empty()) << r.out;
  EXPECT_TRUE(has_line(r.out, "PASS config: " + d.config + ": 1 route, 1 listener, tunnel_domain example.test")) << r.out;
  EXPECT_TRUE(has_line(r.out, "PASS tls key readable: /data/tls.key (here " + d.data + "/tls.key)")) << r.out;
  EXPECT_TRUE(has_line(r.out, "PASS tls key matches cert: the key is the certificate's"));
  EXPECT_TRUE(has_line(r.out, "PASS tls cert signed by CA: signed by CN=mcp-tunnel-ca (signature verified)"));
  EXPECT_TRUE(has_line(r.out, "PASS tls cert subjectAltName echo.example.test: covered (DNS:example.test, DNS:*.example.test)"));
  EXPECT_TRUE(has_line(r.out, "PASS route echo allowed_ips: 127.0.0.1 inside upstream.allowed_ips")) << r.out;
  EXPECT_EQ(lines_starting(r.out, "PASS route echo connect: 127.0.0.1:" + std::to_string(upstream.port()) + " answered in ").size(), 1u)
      << r.out;
  EXPECT_TRUE(has_line(r.out, "PASS listen 127.0.0.1:0: port 0: any free port"));
  const auto summary = lines_starting(r.out, "doctor: ");
  ASSERT_EQ(summary.size(), 1u) << r.out;
  EXPECT_EQ(summary[0].substr(summary[0].find(" passed, ")), " passed, 0 warnings, 0 failed") << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - summary[0].size() - 1), summary[0] + "\n") << "the summary comes last";
}

TEST(DoctorCli, MissingKey) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port());
  std::filesystem::remove(d.data + "/tls.key");
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(fails(r), "FAIL tls key readable: " + d.data + "/tls.key: cannot open: No such file or directory\n") << r.out;
}

TEST(DoctorCli, KeyOfAnotherCertificate) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port());
  const std::string first_key = read_text(d.data + "/tls.key");
  d.issue("example.test");
  pki::write_key_file(d.data + "/tls.key", first_key);
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(fails(r), "FAIL tls key matches cert: " + d.data + "/tls.key is not the key of " + d.data + "/tls.crt\n") << r.out;
}

TEST(DoctorCli, ExpiredCertificate) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port());
  pki::server_options options;
  options.domain = "example.test";
  options.key = pki::key_type::ecdsa_p256;
  options.now = std::time(nullptr) - 100 * 86400;
  const pki::issued old = pki::issue_server_cert(pki::load_ca_dir(d.data), options);
  pki::write_key_file(d.data + "/tls.key", old.key_pem);
  pki::write_cert_file(d.data + "/tls.crt", old.cert_pem);
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 1);
  const std::string failed = fails(r);
  EXPECT_EQ(failed.rfind("FAIL tls cert validity: expired on ", 0), 0u) << r.out;
  EXPECT_EQ(failed.size() - failed.rfind(" UTC (expired 10d 0h ago)\n"), std::string(" UTC (expired 10d 0h ago)\n").size())
      << r.out;
  EXPECT_EQ(std::count(failed.begin(), failed.end(), '\n'), 1) << r.out;
  EXPECT_TRUE(has_line(r.out, "  fix: mcpgate certs renew --ca DIR --out DIR"));
}

TEST(DoctorCli, CertificateForAnotherDomain) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port());
  d.issue("other.test");
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(fails(r),
            "FAIL tls cert subjectAltName: does not cover <route>.example.test: has DNS:other.test, DNS:*.other.test\n"
            "FAIL tls cert subjectAltName echo.example.test: not covered: has DNS:other.test, DNS:*.other.test\n")
      << r.out;
}

TEST(DoctorCli, UpstreamOutsideAllowedIps) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port(), "127.0.0.1:0", "");  // default allowed_ips: RFC 1918 only
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(fails(r), "FAIL route echo allowed_ips: IP validation failed: 127.0.0.1 is not a private address\n") << r.out;
  EXPECT_TRUE(lines_starting(r.out, "PASS route echo connect").empty()) << "a refused address is never dialled";
}

TEST(DoctorCli, UnreachableUpstream) {
  deployment d;
  local_socket closed(false);
  d.write_config(closed.port());
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(fails(r), "FAIL route echo connect: 127.0.0.1:" + std::to_string(closed.port()) + ": Connection refused\n")
      << r.out;
  EXPECT_TRUE(has_line(r.out, "  fix: start the upstream, or correct routes.echo (scheme://host:port)"));
}

TEST(DoctorCli, StdioRoutesAreCheckedForTheirProgram) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port(), "127.0.0.1:0",
                 "  tools: \"stdio:cat --flag\"\n  gone: \"stdio:/nonexistent/server --stdio\"\n"
                 "upstream:\n  allowed_ips: [127.0.0.0/8]\n");
  const auto r = d.doctor();
  EXPECT_EQ(fails(r), "FAIL route gone program: program /nonexistent/server is not an executable file\n") << r.out;
  EXPECT_TRUE(has_line(r.out, "  fix: install it where the gateway runs, or give its full path in routes.gone.upstream"));
  const auto cat = lines_starting(r.out, "PASS route tools program: ");
  ASSERT_EQ(cat.size(), 1u) << r.out;
  EXPECT_NE(cat[0].find("/cat"), std::string::npos);  // found in PATH
}

TEST(DoctorCli, HttpsUpstreamHandshakeWithTheConfiguredTrust) {
  deployment d;
  const test::test_pki upstream_pki({"localhost"}, {"127.0.0.1"});
  tls_upstream upstream(config::tls_files{upstream_pki.server_cert, upstream_pki.server_key});
  const std::string port = std::to_string(upstream.port());
  {
    std::ofstream f(d.config);
    f << "listen_addr: \"127.0.0.1:0\"\ntunnel_domain: example.test\n"
      << "tls:\n  cert_file: /data/tls.crt\n  key_file: /data/tls.key\n"
      << "routes:\n  web: https://127.0.0.1:" << port << "\n"
      << "upstream:\n  allowed_ips: [127.0.0.0/8]\n  tls:\n    ca_file: " << upstream_pki.ca_cert << "\n";
  }
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_TRUE(has_line(r.out, "PASS route web tls: handshake with 127.0.0.1 verified")) << r.out;

  // Trusting another CA (the tunnel's, by mistake): the upstream's certificate fails.
  std::string text = read_text(d.config);
  text.replace(text.find(upstream_pki.ca_cert), upstream_pki.ca_cert.size(), d.data + "/ca.crt");
  std::ofstream(d.config) << text;
  const auto untrusted = d.doctor();
  EXPECT_EQ(untrusted.exit_code, 1);
  const std::string failed = fails(untrusted);
  EXPECT_EQ(failed.rfind("FAIL route web tls: 127.0.0.1:" + port + ": certificate verify failed", 0), 0u) << untrusted.out;
}

TEST(DoctorCli, ListenPortInUse) {
  deployment d;
  local_socket upstream(true);
  const std::string listen = "127.0.0.1:" + std::to_string(upstream.port());
  d.write_config(upstream.port(), listen);
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 1);
  const std::string expected = "FAIL listen " + listen + ": port " + std::to_string(upstream.port()) + " is already in use";
  // Who holds it is named when /proc tells: here, this test process.
  EXPECT_TRUE(fails(r) == expected + "\n" ||
              fails(r) == expected + " by pid " + std::to_string(::getpid()) + " (cli_tests)\n")
      << r.out;
}

TEST(DoctorCli, KeyNotReadableByTheContainerUser) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port());
  const auto r = d.doctor({"--as-user", "65532"});
  EXPECT_EQ(r.exit_code, 1);
  struct stat st {};
  ::stat((d.data + "/tls.key").c_str(), &st);
  const std::string owner = std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid);
  EXPECT_EQ(fails(r), "FAIL tls key readable by uid 65532: " + d.data + "/tls.key is 0600 owner " + owner +
                          ": not readable by uid 65532 gid 65532\n")
      << r.out;
  EXPECT_TRUE(has_line(r.out, "  fix: make it readable by the gateway's user: in the Compose layout `chmod 644 " + d.data +
                                  "/tls.key` (the proxy runs as uid 65532), else chown it to the service user"));

  ::chmod((d.data + "/tls.key").c_str(), 0644);
  const auto fixed = d.doctor({"--as-user", "65532:65532"});
  EXPECT_EQ(fixed.exit_code, 0) << fixed.out;

  const auto bad_user = d.doctor({"--as-user", "nobody"});
  EXPECT_EQ(bad_user.exit_code, 2);
  EXPECT_EQ(bad_user.err, "mcpgate doctor: --as-user \"nobody\": expected UID or UID:GID, e.g. 65532\n");
}

TEST(DoctorCli, ConfigErrorsAreAllPrinted) {
  deployment d;
  {
    std::ofstream f(d.config);
    f << "listen_addr: \":8080\"\nroutes:\n  - echo: http://127.0.0.1:1\nlog_level: loud\n";
  }
  const auto r = d.doctor();
  EXPECT_EQ(r.exit_code, 1);
  // Every error, each with its place (the loader's wording is its own business).
  EXPECT_EQ(lines_starting(r.out, "FAIL config: " + d.config + ":3:3: error: routes: ").size(), 1u) << r.out;
  EXPECT_EQ(lines_starting(r.out, "FAIL config: " + d.config + ":4:12: error: log_level: ").size(), 1u) << r.out;
  EXPECT_TRUE(lines_starting(r.out, "PASS").empty()) << "nothing else is checked without a config";
  EXPECT_TRUE(has_line(r.out, "  fix: correct " + d.config + " (mcpgate validate lists every error with its line)"));
}

TEST(DoctorCli, EdgeReachability) {
  deployment d;
  local_socket upstream(true);
  d.write_config(upstream.port());
  local_socket edge(true);
  const std::string reachable = "127.0.0.1:" + std::to_string(edge.port());
  const auto ok = d.doctor({"--edge", reachable});
  EXPECT_EQ(ok.exit_code, 0) << ok.out;
  EXPECT_EQ(lines_starting(ok.out, "PASS edge " + reachable + ": connected to " + reachable + " in ").size(), 1u) << ok.out;

  local_socket closed(false);
  const std::string unreachable = "127.0.0.1:" + std::to_string(closed.port());
  const auto bad = d.doctor({"--edge", unreachable});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_EQ(fails(bad), "FAIL edge " + unreachable + ": " + unreachable + ": Connection refused\n") << bad.out;
}

}  // namespace
}  // namespace mcpgate::cli_test
