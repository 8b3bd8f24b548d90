// Running the built mcpgate binary as a user would: arguments, stdin, captured stdout and
// stderr, exit code, all under a deadline (a hung command fails its test, never the suite).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace mcpgate::cli_test {

struct run_result {
  int exit_code = -1;  // -1: killed at the deadline or by a signal
  std::string out;
  std::string err;
};

// The binary under test: $MCPGATE_BIN (set by ctest), else the path baked in at build time.
std::string mcpgate_bin();

// Runs `mcpgate args...` with `input` on stdin (then closed) and without a terminal.
run_result run_mcpgate(const std::vector<std::string>& args, const std::string& input = {},
                       std::chrono::milliseconds deadline = std::chrono::seconds(60));
// Any program (found on PATH): command[0] is the program, the rest its arguments.
run_result run_command(const std::vector<std::string>& command, const std::string& input = {},
                       std::chrono::milliseconds deadline = std::chrono::seconds(60));

// `mcpgate args...` left running (a gateway), its stdout and stderr going to files: for
// tests that signal it while it serves. Killed (SIGKILL) when the test forgets to stop it.
class background_process {
 public:
  background_process(const std::vector<std::string>& args, const std::string& out_file, const std::string& err_file);
  ~background_process();
  background_process(const background_process&) = delete;
  background_process& operator=(const background_process&) = delete;
  int pid() const { return pid_; }
  void signal(int sig) const;
  // Its exit code once it exited (within `deadline`), -1 otherwise (then it is killed).
  int wait_exit(std::chrono::milliseconds deadline);

 private:
  int pid_ = -1;
};

// A fresh directory, removed with its contents when the test ends.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

std::string read_text(const std::string& path);
unsigned file_mode(const std::string& path);  // permission bits; fails the test when absent

// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix);
bool has_line(const std::string& text, const std::string& line);

}  // namespace mcpgate::cli_test
