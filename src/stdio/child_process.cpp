#include "stdio/child_process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

extern char** environ;

namespace mcpgate::stdio {

namespace asio = boost::asio;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// A pipe end closed on scope exit unless released.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

std::string lookup_env(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& kv : env) {
    if (kv.size() > name.size() && kv.compare(0, name.size(), name) == 0 && kv[name.size()] == '=') {
      return kv.substr(name.size() + 1);
    }
  }
  return {};
}

// The child's environment: the passed names that the gateway has, then `env` on top.
std::vector<std::string> child_environment(const config::stdio_server& spec) {
  std::vector<std::string> out;
  auto set = [&out](const std::string& name, const std::string& value) {
    const std::string prefix = name + "=";
    std::erase_if(out, [&](const std::string& kv) { return kv.rfind(prefix, 0) == 0; });
    out.push_back(prefix + value);
  };
  for (const auto& name : spec.pass_env) {
    if (const char* value = std::getenv(name.c_str())) set(name, value);
  }
  for (const auto& [name, value] : spec.env) set(name, value);
  return out;
}

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// argv[0] as execve needs it: a name without '/' is searched in the child's PATH.
std::string resolve_program(const std::string& name, const std::vector<std::string>& env, const std::string& cwd) {
  if (name.find('/') != std::string::npos) {
    const std::string path = name.front() == '/' || cwd.empty() ? name : cwd + "/" + name;
    if (!executable_file(path)) throw spawn_error("program " + name + " is not an executable file");
    return name;
  }
  std::string search = lookup_env(env, "PATH");
  if (search.empty()) search = "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= search.size()) {
    const auto end = std::min(search.find(':', start), search.size());
    std::string dir = search.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    if (executable_file(candidate)) return candidate;
    start = end + 1;
  }
  throw spawn_error("program " + name + " not found in PATH (" + search + ")");
}

struct identity {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

std::optional<identity> resolve_user(const std::string& user) {
  if (user.empty()) return std::nullopt;
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  const bool numeric = user.find_first_not_of("0123456789") == std::string::npos;
  const int rc = numeric ? ::getpwuid_r(static_cast<uid_t>(std::stoul(user)), &pw, buf.data(), buf.size(), &found)
                         : ::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || !found) {
    if (numeric) return identity{static_cast<uid_t>(std::stoul(user)), static_cast<gid_t>(std::stoul(user)), {}};
    throw spawn_error("user " + user + " does not exist");
  }
  identity id{pw.pw_uid, pw.pw_gid, {}};
  int count = 64;
  id.groups.resize(static_cast<std::size_t>(count));
  if (::getgrouplist(pw.pw_name, pw.pw_gid, id.groups.data(), &count) < 0) {
    id.groups.resize(static_cast<std::size_t>(count));
    ::getgrouplist(pw.pw_name, pw.pw_gid, id.groups.data(), &count);
  }
  id.groups.resize(static_cast<std::size_t>(count));
  if (id.uid != ::geteuid() && ::geteuid() != 0) {
    throw spawn_error("running as user " + user + " needs the gateway to run as root");
  }
  return id;
}

// In the child: tells the parent why exec did not happen (errno), and exits.
[[noreturn]] void report_and_exit(int report) {
  const int e = errno;
  [[maybe_unused]] auto n = ::write(report, &e, sizeof e);
  ::_exit(127);
}

// Between fork and exec: async-signal-safe calls only. Reports errno on `report` and exits.
[[noreturn]] void become_server(const char* program, char* const* argv, char* const* envp, const char* cwd,
                                const identity* user, int in, int out, int err, int report, pid_t parent) {
  auto fail = [report]() { report_and_exit(report); };
  ::setsid();
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail();
  if (::getppid() != parent) ::_exit(127);  // the gateway is already gone
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::signal(SIGPIPE, SIG_DFL);
  if (::dup2(in, STDIN_FILENO) < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(err, STDERR_FILENO) < 0) fail();
  if (cwd && ::chdir(cwd) != 0) fail();
  if (user) {
    if (::setgroups(user->groups.size(), user->groups.data()) != 0) fail();
    if (::setgid(user->gid) != 0 || ::setuid(user->uid) != 0) fail();
  }
  // Nothing of the gateway's (sockets, keys, other servers' pipes) survives exec.
  if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd < 65536; ++fd) {
      if (fd != report) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  ::execve(program, argv, envp);
  report_and_exit(report);
}

void check_directory(const std::string& cwd) {
  if (cwd.empty()) return;
  struct stat st {};
  if (::stat(cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) throw spawn_error("cwd " + cwd + " is not a directory");
}

}  // namespace

std::string find_program(const config::stdio_server& spec) {
  if (spec.argv.empty()) throw spawn_error("empty command");
  const std::string program = resolve_program(spec.argv.front(), child_environment(spec), spec.cwd);
  resolve_user(spec.user);
  check_directory(spec.cwd);
  return program;
}

std::unique_ptr<child_process> child_process::spawn(asio::io_context& io, const config::stdio_server& spec) {
  if (spec.argv.empty()) throw spawn_error("empty command");
  const auto env = child_environment(spec);
  const std::string program = resolve_program(spec.argv.front(), env, spec.cwd);
  const auto user = resolve_user(spec.user);
  check_directory(spec.cwd);

  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& kv : env) envp.push_back(const_cast<char*>(kv.c_str()));
  envp.push_back(nullptr);

  int p_in[2], p_out[2], p_err[2], p_report[2];
  if (::pipe2(p_in, O_CLOEXEC) != 0) throw spawn_error("pipe: " + errno_text(errno));
  fd_guard in_r{p_in[0]}, in_w{p_in[1]};
  if (::pipe2(p_out, O_CLOEXEC) != 0) throw spawn_error("pipe: " + errno_text(errno));
  fd_guard out_r{p_out[0]}, out_w{p_out[1]};
  if (::pipe2(p_err, O_CLOEXEC) != 0) throw spawn_error("pipe: " + errno_text(errno));
  fd_guard err_r{p_err[0]}, err_w{p_err[1]};
  if (::pipe2(p_report, O_CLOEXEC) != 0) throw spawn_error("pipe: " + errno_text(errno));
  fd_guard report_r{p_report[0]}, report_w{p_report[1]};

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw spawn_error("fork: " + errno_text(errno));
  if (pid == 0) {
    become_server(program.c_str(), argv.data(), envp.data(), spec.cwd.empty() ? nullptr : spec.cwd.c_str(),
                  user ? &*user : nullptr, in_r.fd, out_w.fd, err_w.fd, report_w.fd, parent);
  }
  ::close(report_w.release());
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(report_r.fd, &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    ::waitpid(pid, nullptr, 0);
    throw spawn_error("starting " + spec.argv.front() + ": " + errno_text(child_errno));
  }
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const int e = errno;
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    throw spawn_error("pidfd_open: " + errno_text(e));
  }
  for (int fd : {in_w.fd, out_r.fd, err_r.fd}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return std::unique_ptr<child_process>(
      new child_process(io, pid, pidfd, in_w.release(), out_r.release(), err_r.release()));
}

child_process::child_process(asio::io_context& io, pid_t pid, int pidfd, int in, int out, int err)
    : pid_(pid), pidfd_(io, pidfd), stdin_(io, in), stdout_(io, out), stderr_(io, err) {}

child_process::~child_process() {
  if (!reaped_) {
    signal_group(SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool child_process::try_reap() {
  if (reaped_) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return false;
  reaped_ = true;
  if (WIFEXITED(status)) {
    ended_ = "exit code " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::sigabbrev_np(sig);
    ended_ = "killed by signal " + std::to_string(sig) + (name ? std::string(" (SIG") + name + ")" : "");
  } else {
    ended_ = "ended (status " + std::to_string(status) + ")";
  }
  return true;
}

asio::awaitable<std::string> child_process::wait_exit() {
  while (!try_reap()) {
    auto [ec] = co_await pidfd_.async_wait(asio::posix::descriptor_base::wait_read, asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted) co_return std::string("not waited for");
  }
  co_return ended_;
}

void child_process::close_input() {
  boost::system::error_code ec;
  stdin_.close(ec);
}

void child_process::signal_group(int signal) {
  if (!reaped_) ::kill(-pid_, signal);
}

}  // namespace mcpgate::stdio
