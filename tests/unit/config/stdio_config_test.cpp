// stdio upstreams as the loader reads them: the `stdio:` command line (split like a shell
// splits words, nothing else), the object form, and mistakes reported with their place.
#include <gtest/gtest.h>

#include "config/command_line.hpp"
#include "config/loader.hpp"
#include "config_test_util.hpp"

namespace mcpgate::config {
namespace {

using testing::has;
using testing::has_part;
using testing::loads;

std::vector<std::string> split(std::string_view text) {
  std::string why;
  auto words = split_command_line(text, &why);
  EXPECT_TRUE(words) << why;
  return words.value_or(std::vector<std::string>{});
}

std::string split_error(std::string_view text) {
  std::string why;
  EXPECT_FALSE(split_command_line(text, &why));
  return why;
}

TEST(CommandLine, SplitsWordsAndQuotesWithoutInterpretingAnything) {
  using v = std::vector<std::string>;
  EXPECT_EQ(split("npx -y @modelcontextprotocol/server-filesystem /srv/share"),
            (v{"npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv/share"}));
  EXPECT_EQ(split("  a \t b  "), (v{"a", "b"}));
  EXPECT_EQ(split(R"(run 'two words' "and \"three\"" back\ slash '' x)"),
            (v{"run", "two words", "and \"three\"", "back slash", "", "x"}));
  EXPECT_EQ(split(R"(a"b"'c'd)"), (v{"abcd"}));                      // adjacent quoted parts join
  EXPECT_EQ(split(R"(glob/* ~/home "$HOME" '|')"), (v{"glob/*", "~/home", "$HOME", "|"}));  // no expansion
  EXPECT_EQ(split(R"("a\b")"), (v{R"(a\b)"}));                        // only \" and \\ are escapes in "..."
}

TEST(CommandLine, ShellSyntaxAndBrokenQuotesAreErrors) {
  EXPECT_EQ(split_error("server | tee log"),
            "shell syntax '|' at offset 7 is not interpreted: quote it, or use the object form { command: ..., shell: true }");
  EXPECT_NE(split_error("a && b").find("shell syntax '&'"), std::string::npos);
  EXPECT_NE(split_error("echo $HOME").find("shell syntax '$'"), std::string::npos);
  EXPECT_NE(split_error("x > out").find("shell syntax '>'"), std::string::npos);
  EXPECT_EQ(split_error("say 'hi"), "unterminated ' quote starting at offset 4");
  EXPECT_EQ(split_error("say \"hi"), "unterminated \" quote starting at offset 4");
  EXPECT_EQ(split_error("trailing\\"), "trailing backslash");
  EXPECT_EQ(split_error("   "), "empty command");
  EXPECT_EQ(split_error("a\nb"), "control character at offset 1 (one command line only)");
}

TEST(StdioConfig, TheStringFormStartsAProcessPerSessionWithClosedDefaults) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  files: "stdio:npx -y @modelcontextprotocol/server-filesystem '/srv/my share'"
)",
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& route = r.snapshot->routes[0];
  ASSERT_TRUE(route.stdio);
  EXPECT_TRUE(route.upstream.stdio());
  EXPECT_EQ(route.upstream.to_string(), "stdio:npx -y @modelcontextprotocol/server-filesystem '/srv/my share'");
  EXPECT_EQ(route.stdio->argv,
            (std::vector<std::string>{"npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv/my share"}));
  EXPECT_FALSE(route.stdio->shared);
  EXPECT_FALSE(route.stdio->shell);
  EXPECT_EQ(route.stdio->max_processes, 16u);
  EXPECT_EQ(route.stdio->idle_timeout, std::chrono::minutes(10));
  EXPECT_TRUE(route.stdio->env.empty());
  EXPECT_EQ(route.stdio->pass_env.front(), "PATH");
  EXPECT_TRUE(route.mcp);
  const auto text = summarize(*r.snapshot);
  EXPECT_NE(text.find("-> stdio:npx -y @modelcontextprotocol/server-filesystem '/srv/my share' (connect"), std::string::npos)
      << text;
  EXPECT_NE(text.find("one process per session, at most 16)"), std::string::npos) << text;
}

TEST(StdioConfig, TheObjectFormReadsEveryKey) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  files:
    upstream:
      command: node
      args: [server.js, --root, /srv]
      env: { LOG_LEVEL: debug, API_URL: "http://10.0.0.1" }
      pass_env: [PATH, NODE_OPTIONS]
      cwd: /opt/server
      user: nobody
      shared: true
      max_processes: 4
      idle_timeout: 90s
      start_timeout: 20s
      max_message_bytes: 1MiB
    tools: { allow: [read_file] }
  sh:
    upstream: { command: "exec my-server --port 0 2>/dev/null", args: [first], shell: true }
)",
                             "t.yaml");
  ASSERT_TRUE(loads(r)) << testing::rendered(r);
  const auto& s = *r.snapshot->routes[0].stdio;
  EXPECT_EQ(s.argv, (std::vector<std::string>{"node", "server.js", "--root", "/srv"}));
  ASSERT_EQ(s.env.size(), 2u);
  EXPECT_EQ(s.env[0], (std::pair<std::string, std::string>{"LOG_LEVEL", "debug"}));
  EXPECT_EQ(s.pass_env, (std::vector<std::string>{"PATH", "NODE_OPTIONS"}));
  EXPECT_EQ(s.cwd, "/opt/server");
  EXPECT_EQ(s.user, "nobody");
  EXPECT_TRUE(s.shared);
  EXPECT_EQ(s.max_processes, 4u);
  EXPECT_EQ(s.idle_timeout, std::chrono::seconds(90));
  EXPECT_EQ(s.start_timeout, std::chrono::seconds(20));
  EXPECT_EQ(s.max_message_bytes, 1024u * 1024u);
  EXPECT_EQ(r.snapshot->routes[0].upstream.to_string(), "stdio:node server.js --root /srv");
  const auto& sh = *r.snapshot->routes[1].stdio;
  EXPECT_EQ(sh.argv, (std::vector<std::string>{"/bin/sh", "-c", "exec my-server --port 0 2>/dev/null", "sh", "first"}));
  // Settings that change what runs change the identity (a reload restarts those servers).
  auto other = s;
  other.idle_timeout = std::chrono::seconds(91);
  EXPECT_NE(other.identity(), s.identity());
  EXPECT_EQ(stdio_server(s).identity(), s.identity());
}

TEST(StdioConfig, MistakesAreErrorsWithTheirPlace) {
  const auto r = load_string(R"(listeners: [{ address: ":8080" }]
routes:
  a: "stdio:server | tee /tmp/log"
  b: { upstream: { args: [x] } }
  c: { upstream: { command: node, args: server.js, env: [A=b], shared: yes } }
  d: { upstream: { command: "", max_processes: 0, idle_timeout: 0s, runas: root } }
  e: { upstream: { command: node, pass_env: ["A=B"] } }
)",
                             "t.yaml");
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(has_part(r, "t.yaml:3:6: error: routes.a: invalid stdio command \"stdio:server | tee /tmp/log\": shell "
                          "syntax '|' at offset 7 is not interpreted"))
      << testing::rendered(r);
  EXPECT_TRUE(has_part(r, "routes.b.upstream.command: missing required key \"command\" (the program to start, e.g. npx)"));
  EXPECT_TRUE(has_part(r, "routes.c.upstream.args: expected a list of strings, got \"server.js\""));
  EXPECT_TRUE(has_part(r, "routes.c.upstream.env: expected a map, got a list"));
  EXPECT_TRUE(has_part(r, "routes.c.upstream.shared: expected a bool (true or false), got \"yes\""));
  EXPECT_TRUE(has_part(r, "routes.d.upstream.command: empty command"));
  EXPECT_TRUE(has_part(r, "routes.d.upstream.max_processes: expected an integer 1..10000, got \"0\""));
  EXPECT_TRUE(has_part(r, "routes.d.upstream.idle_timeout: must be greater than 0"));
  EXPECT_TRUE(has_part(r, "routes.d.upstream.runas: unknown key \"runas\"; allowed keys: command, args, env, pass_env, cwd, "
                          "user, shell, shared, max_processes, idle_timeout, start_timeout, max_message_bytes"));
  EXPECT_TRUE(has_part(r, "routes.e.upstream.pass_env[0]: invalid variable name \"A=B\""));
}

}  // namespace
}  // namespace mcpgate::config
