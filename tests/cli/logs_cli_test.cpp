// `mcpgate gateway` with `log_format: json` and log files: every line is JSON with its
// fields, and log rotation (mv + SIGHUP) moves writing to new files at the old paths.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "support/log_text.hpp"
#include "cli/cli_support.hpp"
#include "support/configs.hpp"
#include "support/http_test_client.hpp"
#include "support/wait.hpp"

namespace mcpgate::cli_test {
namespace {

using namespace std::chrono_literals;

std::string file_text(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  return read_text(path);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool contains(const std::string& path, const std::string& part) { return file_text(path).find(part) != std::string::npos; }

// Every line of `path` is a JSON object with the process log's fields (or the access log's).
void expect_json_lines(const std::string& path, bool access) {
  const auto lines = lines_of(file_text(path));
  EXPECT_FALSE(lines.empty()) << path;
  for (const auto& line : lines) {
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    ASSERT_FALSE(ec) << path << ": not JSON: " << line;
    ASSERT_TRUE(v.is_object()) << line;
    const auto& o = v.as_object();
    ASSERT_TRUE(o.contains("time") && o.at("time").is_string()) << line;
    EXPECT_TRUE(test::is_utc_millis(o.at("time").as_string()))
        << line;
    ASSERT_TRUE(o.contains("level") && o.contains("component")) << line;
    if (access) {
      EXPECT_EQ(o.at("component").as_string(), "access") << line;
      EXPECT_EQ(o.at("type").as_string(), "access") << line;
      EXPECT_TRUE(o.contains("status") && o.contains("duration_ms") && o.contains("route")) << line;
    } else {
      EXPECT_NE(o.at("component").as_string(), "access") << line;
      EXPECT_TRUE(o.contains("msg") && o.at("msg").is_string()) << line;
    }
  }
}

TEST(LogsCli, JsonLogFilesAreReopenedOnSighup) {
  temp_dir dir;
  // Bound, never listening: the route's upstream refuses every connection (a warning line).
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket reserved(io);
  reserved.open(boost::asio::ip::tcp::v4());
  reserved.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto process_log = dir / "gateway.log";
  const auto access_log = dir / "access.log";
  {
    std::ofstream config(dir / "config.yaml");
    config << fmt::format(R"(log_format: json
log_file: {}
access_log_file: {}
listeners: [ {{ address: "127.0.0.1:0", mode: plain }} ]
routes:
  "*": "http://127.0.0.1:{}"
upstream:
  allowed_ips: [127.0.0.0/8]
)",
                          process_log, access_log, reserved.local_endpoint().port());
  }
  background_process gw({"gateway", "-config", dir / "config.yaml"}, dir / "stdout", dir / "stderr");
  std::optional<unsigned> listening;
  std::string out;
  ASSERT_TRUE(test::wait_until([&] {
    out = file_text(dir / "stdout");
    listening = test::port_after(out, "mcpgate gateway: listening on 127.0.0.1:");
    return listening.has_value();
  }))
      << "stdout:\n" << out << "\nstderr:\n" << file_text(dir / "stderr");
  const auto port = static_cast<std::uint16_t>(*listening);

  const auto request = [&](const std::string& path) {
    test::http_test_client client;
    client.connect("127.0.0.1", port);
    auto req = test::mcp_post("{}");
    req.target(path);
    EXPECT_EQ(client.request(req).result_int(), 502);
  };
  request("/mcp/before");
  // Lines below warn are flushed within a second: wait for them, with a deadline.
  ASSERT_TRUE(test::wait_until([&] { return contains(process_log, "request started") && contains(access_log, "/mcp/before"); }))
      << file_text(process_log) << file_text(access_log);
  EXPECT_TRUE(contains(process_log, R"("component":"gateway","msg":"route configured route=*)"));
  EXPECT_TRUE(contains(process_log, R"("level":"warn","component":"http","msg":"upstream unavailable)"));
  EXPECT_TRUE(file_text(dir / "stderr").empty()) << "the process log goes to log_file only";
  EXPECT_EQ(file_text(dir / "stdout").find("\"type\":\"access\""), std::string::npos) << "access lines go to the file";
  expect_json_lines(process_log, false);
  expect_json_lines(access_log, true);

  // logrotate: move the files away, then SIGHUP.
  std::filesystem::rename(process_log, process_log + ".1");
  std::filesystem::rename(access_log, access_log + ".1");
  gw.signal(SIGHUP);
  ASSERT_TRUE(test::wait_until([&] { return contains(process_log, "config reloaded from"); }))
      << "no new " << process_log << "; stderr:\n" << file_text(dir / "stderr");
  request("/mcp/after");
  ASSERT_TRUE(test::wait_until([&] { return contains(access_log, "/mcp/after"); })) << file_text(access_log);
  EXPECT_FALSE(contains(access_log + ".1", "/mcp/after"));
  EXPECT_FALSE(contains(process_log + ".1", "config reloaded from"));
  EXPECT_EQ(file_mode(process_log) & 0037, 0u);  // 0640 at most
  expect_json_lines(process_log, false);
  expect_json_lines(access_log, true);

  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait_exit(10s), 0);
  EXPECT_TRUE(contains(process_log, "shutdown complete")) << "flushed at exit";
}

TEST(LogsCli, ALogFileThatCannotBeOpenedStopsTheStart) {
  temp_dir dir;
  {
    std::ofstream config(dir / "config.yaml");
    config << "log_file: " << (dir / "missing/gateway.log") << "\n"
           << "listeners: [ { address: \"127.0.0.1:0\", mode: plain } ]\n";
  }
  const auto r = run_mcpgate({"gateway", "-config", dir / "config.yaml"}, {}, 20s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("cannot start: log_file: cannot open " + (dir / "missing/gateway.log")), std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace mcpgate::cli_test
