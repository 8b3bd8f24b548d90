#include "cli/cli_support.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/test_pki.hpp"

extern char** environ;

namespace mcpgate::cli_test {

std::string mcpgate_bin() {
  if (const char* bin = std::getenv("MCPGATE_BIN"); bin != nullptr && *bin != '\0') return bin;
  return MCPGATE_BIN_PATH;
}

namespace {

struct pipe_pair {
  int read = -1;
  int write = -1;
};

pipe_pair make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  return {fds[0], fds[1]};
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

}  // namespace

run_result run_mcpgate(const std::vector<std::string>& args, const std::string& input,
                       std::chrono::milliseconds deadline) {
  std::vector<std::string> command{mcpgate_bin()};
  command.insert(command.end(), args.begin(), args.end());
  return run_command(command, input, deadline);
}

run_result run_command(const std::vector<std::string>& command, const std::string& input,
                       std::chrono::milliseconds deadline) {
  constexpr std::size_t max_output = 8 * 1024 * 1024;
  run_result result;
  pipe_pair in = make_pipe(), out = make_pipe(), err = make_pipe();

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in.read, 0);
  posix_spawn_file_actions_adddup2(&actions, out.write, 1);
  posix_spawn_file_actions_adddup2(&actions, err.write, 2);
  // Its own process group, so a deadline kill reaches anything it started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  const std::string& bin = command.at(0);
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, bin.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close_fd(in.read);
  close_fd(out.write);
  close_fd(err.write);
  if (rc != 0) {
    close_fd(in.write);
    close_fd(out.read);
    close_fd(err.read);
    ADD_FAILURE() << "cannot start " << bin << ": " << std::strerror(rc);
    return result;
  }

  // Feed stdin and drain both outputs together: a child blocked writing a full pipe would
  // never read the rest of its input.
  std::size_t fed = 0;
  if (input.empty()) close_fd(in.write);
  else ::fcntl(in.write, F_SETFL, O_NONBLOCK);
  const auto until = std::chrono::steady_clock::now() + deadline;
  bool timed_out = false;
  while (out.read >= 0 || err.read >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[3];
    nfds_t n = 0;
    for (int fd : {out.read, err.read}) {
      if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
    }
    if (in.write >= 0) fds[n++] = {in.write, POLLOUT, 0};
    if (::poll(fds, n, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in.write) {
        const ssize_t w = ::write(in.write, input.data() + fed, input.size() - fed);
        if (w > 0) fed += static_cast<std::size_t>(w);
        if (w < 0 && errno != EAGAIN) fed = input.size();
        if (fed == input.size()) close_fd(in.write);
        continue;
      }
      char buf[16384];
      const ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
      std::string& sink = fds[i].fd == out.read ? result.out : result.err;
      if (r > 0 && sink.size() < max_output) sink.append(buf, static_cast<std::size_t>(r));
      if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN)) close_fd(fds[i].fd == out.read ? out.read : err.read);
    }
  }
  close_fd(in.write);
  close_fd(out.read);
  close_fd(err.read);
  if (timed_out) ::kill(-pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    ADD_FAILURE() << bin << " did not finish within " << deadline.count() << " ms";
    return result;
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

background_process::background_process(const std::vector<std::string>& args, const std::string& out_file,
                                       const std::string& err_file) {
  std::vector<std::string> command{mcpgate_bin()};
  command.insert(command.end(), args.begin(), args.end());
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> argv;
  for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, command[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) ADD_FAILURE() << "cannot start " << command[0] << ": " << std::strerror(rc);
  else pid_ = pid;
}

background_process::~background_process() {
  if (pid_ < 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void background_process::signal(int sig) const {
  if (pid_ >= 0) ::kill(pid_, sig);
}

int background_process::wait_exit(std::chrono::milliseconds deadline) {
  if (pid_ < 0) return -1;
  const auto until = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) break;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= until) {
      ADD_FAILURE() << "mcpgate did not exit within " << deadline.count() << " ms";
      return -1;  // the destructor kills it
    }
    ::poll(nullptr, 0, 5);  // polls a child's exit: there is no descriptor to wait on
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

temp_dir::temp_dir() : path_(test::make_temp_dir("mcpgate-cli")) {
  // mkdtemp makes 0700; the file-mode checks of doctor look at the directory too.
  ::chmod(path_.c_str(), 0755);
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

unsigned file_mode(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(prefix, 0) == 0) out.push_back(line);
  }
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (l == line) return true;
  }
  return false;
}

}  // namespace mcpgate::cli_test
