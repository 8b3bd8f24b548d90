// Helpers for the certificate tooling tests: a scratch directory, issued material, parsed
// certificates, running the openssl CLI, and finding one check among inspect's results.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "pki/inspect.hpp"
#include "pki/issue.hpp"
#include "pki/pem.hpp"
#include "support/test_pki.hpp"

namespace mcpgate::pki::testing {

// A fresh directory, removed with everything in it at the end of the test.
class scratch_dir {
 public:
  scratch_dir() : path_(test::make_temp_dir("mcpgate-pki")) {}
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

inline ca_material as_material(const issued& ca) { return {ca.cert_pem, ca.key_pem, "ca.crt", "ca.key"}; }

// ECDSA everywhere a test does not care about the key type: RSA 4096 takes a second.
inline issued make_ca() { return generate_ca({}); }
inline issued make_server(const issued& ca, const std::string& domain = "example.test") {
  server_options options;
  options.domain = domain;
  options.key = key_type::ecdsa_p256;
  return issue_server_cert(as_material(ca), options);
}

inline x509_ptr parse(const std::string& pem) { return parse_certificate(pem, "test"); }

// Runs a shell command, returning its stdout (stderr folded in) and exit status.
struct command_result {
  int status = -1;
  std::string output;
};
inline command_result run_command(const std::string& command) {
  command_result out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

// The one result called `name`, rendered as `certs inspect` prints it ("FAIL name: detail"),
// or "(no check NAME)".
inline std::string line(const std::vector<check_result>& results, std::string_view name) {
  for (const auto& r : results) {
    if (r.name == name) return std::string(to_string(r.status)) + " " + r.name + ": " + r.detail;
  }
  return "(no check " + std::string(name) + ")";
}

inline const check_result* find(const std::vector<check_result>& results, std::string_view name) {
  for (const auto& r : results) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

// Every result is PASS; the message lists them all otherwise.
inline ::testing::AssertionResult all_pass(const std::vector<check_result>& results) {
  for (const auto& r : results) {
    if (r.status != check_status::pass) return ::testing::AssertionFailure() << format_checks(results);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace mcpgate::pki::testing
