#include "observability/log_sink.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <spdlog/logger.h>
#include <sys/stat.h>

#include "observability/log.hpp"
#include "observability/logging.hpp"
#include "observability/throttle.hpp"
#include "support/log_text.hpp"
#include "support/test_pki.hpp"

namespace mcpgate::observability {
namespace {

class log_file_test : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_temp_dir("mcpgate-logs"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (std::filesystem::path(dir_) / name).string(); }

  static std::vector<std::string> lines_of(const std::string& file) {
    std::ifstream in(file);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  // A logger named `component` writing through `sink` only.
  static std::shared_ptr<spdlog::logger> logger_on(const std::shared_ptr<log_sink>& sink, const std::string& component) {
    auto l = std::make_shared<spdlog::logger>(component, sink);
    l->set_level(spdlog::level::trace);
    return l;
  }

  std::string dir_;
};

TEST_F(log_file_test, TextLineHasUtcTimeLevelComponentAndTheMessageAsWritten) {
  auto sink = std::make_shared<log_sink>(stderr);
  sink->open(path("gateway.log"));
  auto l = logger_on(sink, "tunnel");
  l->warn("connector: edge {} unreachable: {}", "edge.example:7844", "Connection refused");
  l->info("request started method=GET host=a\"b path=/mcp");
  l->flush();
  const auto lines = lines_of(path("gateway.log"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(test::is_utc_millis(std::string_view(lines[0]).substr(0, 24))) << lines[0];
  EXPECT_EQ(lines[0].substr(24, 16), " WARN  tunnel   ") << lines[0];
  EXPECT_TRUE(lines[0].ends_with(" tunnel   connector: edge edge.example:7844 unreachable: Connection refused"))
      << lines[0];
  EXPECT_TRUE(lines[1].ends_with(" INFO  tunnel   request started method=GET host=a\"b path=/mcp")) << lines[1];
}

TEST_F(log_file_test, TextLinesCannotBeForgedWithControlCharacters) {
  auto sink = std::make_shared<log_sink>(stderr);
  sink->open(path("gateway.log"));
  logger_on(sink, "http")->info("no route for host host={}", "evil\n2026-01-01T00:00:00.000Z ERROR gateway forged\x1b[31m");
  sink->flush();
  const auto lines = lines_of(path("gateway.log"));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(R"(host=evil\n2026-01-01T00:00:00.000Z ERROR gateway forged\u001b[31m)"), std::string::npos)
      << lines[0];
}

TEST_F(log_file_test, JsonLineParsesWithEveryFieldAndEscaping) {
  auto sink = std::make_shared<log_sink>(stderr, config::log_format::json);
  sink->open(path("gateway.log"));
  const std::string hostile = "quote \" backslash \\ newline \n cr \r tab \t bell \x07 del \x7f caf\xc3\xa9";
  logger_on(sink, "stdio")->error("stdio server stderr: {}", hostile);
  logger_on(sink, "gateway")->debug("plain");
  sink->flush();
  const auto lines = lines_of(path("gateway.log"));
  ASSERT_EQ(lines.size(), 2u);
  const auto v = boost::json::parse(lines[0]).as_object();
  EXPECT_TRUE(test::is_utc_millis(v.at("time").as_string()));
  EXPECT_EQ(v.at("level").as_string(), "error");
  EXPECT_EQ(v.at("component").as_string(), "stdio");
  EXPECT_EQ(v.at("msg").as_string(), "stdio server stderr: " + hostile);
  EXPECT_EQ(v.size(), 4u);
  EXPECT_EQ(boost::json::parse(lines[1]).at("level").as_string(), "debug");
}

TEST_F(log_file_test, ReopenAfterRenameStartsANewFileAtTheOldPath) {
  auto sink = std::make_shared<log_sink>(stderr);
  const auto live = path("gateway.log");
  sink->open(live);
  auto l = logger_on(sink, "gateway");
  l->info("before rotation");
  l->flush();
  std::filesystem::rename(live, path("gateway.log.1"));
  l->info("still to the renamed file");  // what a process writes between mv and SIGHUP
  sink->reopen();
  l->info("after rotation");
  l->flush();
  const auto old_lines = lines_of(path("gateway.log.1"));
  ASSERT_EQ(old_lines.size(), 2u);
  EXPECT_TRUE(old_lines[1].ends_with("still to the renamed file"));
  const auto new_lines = lines_of(live);
  ASSERT_EQ(new_lines.size(), 1u);
  EXPECT_TRUE(new_lines[0].ends_with("after rotation"));
}

TEST_F(log_file_test, OpenAppendsAndCreatesWithoutGroupWriteOrOtherAccess) {
  const auto file = path("gateway.log");
  { std::ofstream(file) << "kept\n"; }
  ::chmod(file.c_str(), 0600);
  auto sink = std::make_shared<log_sink>(stderr);
  sink->open(file);
  logger_on(sink, "gateway")->info("appended");
  sink->flush();
  EXPECT_EQ(lines_of(file).size(), 2u);

  const auto fresh = path("new.log");
  sink->open(fresh);
  struct stat st {};
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0037, 0u);  // at most 0640
}

TEST_F(log_file_test, AFileThatCannotBeOpenedIsAnErrorAndTheOldOneStays) {
  auto sink = std::make_shared<log_sink>(stderr);
  sink->open(path("gateway.log"));
  EXPECT_THROW(sink->open(path("no/such/dir/gateway.log")), std::runtime_error);
  logger_on(sink, "gateway")->info("still here");
  sink->flush();
  EXPECT_EQ(lines_of(path("gateway.log")).size(), 1u);
}

TEST_F(log_file_test, FieldsInTextQuoteWhatWouldBeAmbiguous) {
  auto sink = std::make_shared<log_sink>(stderr);
  sink->open(path("access.log"));
  sink->write_fields(spdlog::level::info, "access", [](config::log_format f, std::string& line) {
    append_field(line, f, "route", "echo");
    append_field(line, f, "host", "a b");
    append_field(line, f, "path", "/x\"y=z");
    append_field(line, f, "reason", "");
    append_field(line, f, "caller", "-");
    append_field(line, f, "status", "200", true);
  });
  sink->set_format(config::log_format::json);
  sink->write_fields(spdlog::level::info, "access", [](config::log_format f, std::string& line) {
    append_field(line, f, "host", "a b");
    append_field(line, f, "status", "200", true);
  });
  sink->flush();
  const auto lines = lines_of(path("access.log"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].ends_with(R"( INFO  access   route=echo host="a b" path="/x\"y=z" reason=- caller="-" status=200)"))
      << lines[0];
  const auto v = boost::json::parse(lines[1]).as_object();
  EXPECT_EQ(v.at("component").as_string(), "access");
  EXPECT_EQ(v.at("host").as_string(), "a b");
  EXPECT_EQ(v.at("status").as_int64(), 200);
}

// A sink that keeps each message: what the throttle let through.
class kept_lines final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::string> lines;

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override { lines.emplace_back(msg.payload.data(), msg.payload.size()); }
  void flush_() override {}
};

TEST(LogThrottled, OneLinePerKeyPerIntervalAndFilteredLinesSpendNothing) {
  auto kept = std::make_shared<kept_lines>();
  spdlog::logger l("test", kept);
  l.set_level(spdlog::level::info);
  for (int i = 0; i < 5; ++i) log_throttled(l, spdlog::level::debug, "log-throttled-test-a", "debug {}", i);
  for (int i = 0; i < 5; ++i) log_throttled(l, spdlog::level::warn, "log-throttled-test-a", "refused {}", i);
  ASSERT_GE(kept->lines.size(), 1u);
  EXPECT_EQ(kept->lines[0], "refused 0") << "the debug lines must not have used the key's budget";
  EXPECT_LE(kept->lines.size(), 2u);  // 2 only if the loop crossed the one-second interval
}

}  // namespace
}  // namespace mcpgate::observability
