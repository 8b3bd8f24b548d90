// A started stdio MCP server: its pid, its three pipes (as Asio descriptors on the
// bridge's io_context) and a handle that becomes readable when it exits (pidfd).
//
// Started with fork + execve rather than Boost.Process v2 (1.81): that one calls
// io_context::notify_fork in the child of a multi-threaded process, needs an absolute
// program path, and has no setsid / setuid / parent-death signal; each of those is one
// system call here, made between fork and exec where only async-signal-safe calls are
// allowed (everything the child needs is prepared before the fork).
//
// The child leads its own session and process group, so npx and whatever it starts are
// stopped together (signal the group), and it dies with the thread that started it
// (PR_SET_PDEATHSIG) if the gateway is killed without a chance to stop it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "config/config.hpp"

namespace mcpgate::stdio {

// Why a process could not be started, in words for the log and the client.
struct spawn_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The file that would be executed for `spec` (argv[0] searched in the PATH the child gets),
// checked as spawn() checks it, along with the user and directory. Throws spawn_error.
// For `mcpgate doctor`: the same answer the gateway gets when a client first connects.
std::string find_program(const config::stdio_server& spec);

class child_process {
 public:
  // Starts `spec` (argv, environment, cwd, user). Throws spawn_error when the program is
  // not found, not executable, or the user / directory cannot be used.
  static std::unique_ptr<child_process> spawn(boost::asio::io_context& io, const config::stdio_server& spec);

  ~child_process();  // kills the process group if it still runs, and reaps the child
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  boost::asio::posix::stream_descriptor& input() { return stdin_; }    // the server's stdin
  boost::asio::posix::stream_descriptor& output() { return stdout_; }  // the server's stdout
  boost::asio::posix::stream_descriptor& errors() { return stderr_; }  // the server's stderr

  // Waits until the process has exited and returns how, e.g. "exit code 1" or
  // "killed by signal 9 (SIGKILL)". Also reaps it.
  boost::asio::awaitable<std::string> wait_exit();
  bool exited() const { return reaped_; }

  void close_input();                 // EOF on the server's stdin: well-behaved servers exit
  void signal_group(int signal);      // to the whole process group
  std::string how_it_ended() const { return ended_; }

 private:
  child_process(boost::asio::io_context& io, pid_t pid, int pidfd, int in, int out, int err);
  bool try_reap();

  pid_t pid_;
  boost::asio::posix::stream_descriptor pidfd_;
  boost::asio::posix::stream_descriptor stdin_;
  boost::asio::posix::stream_descriptor stdout_;
  boost::asio::posix::stream_descriptor stderr_;
  bool reaped_ = false;
  std::string ended_;
};

}  // namespace mcpgate::stdio
