// `mcpgate allowlist`: the config's client-address rules, explained and exported.
//
//   check IP   which ip_sets entries contain IP at an instant, and what every listener
//              and route decides for it (and why: the set entry or literal);
//   render     the active entries as firewall rules people would otherwise type by hand
//              (ufw commands, an nftables file, iptables-restore files, a Caddyfile
//              snippet), or the commands that undo them.
//
// Both read the config exactly as the gateway does and evaluate time windows at one
// instant (now, or --at), so the answer is the gateway's answer at that instant.
#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/json.hpp>
#include <fmt/format.h>

#include "app/commands.hpp"
#include "config/loader.hpp"
#include "config/units.hpp"
#include "http/access_policy.hpp"
#include "net/ip_prefix.hpp"

namespace mcpgate::app {

namespace {

struct rule_view {
  std::string name;  // "listeners[0]", "listen_addr", "routes.echo"
  const config::access_rule* rule;
  bool is_listener;
};

// Every listener and route, in file order, listeners first: one without allow/deny is
// listed too, since "allowed, no rule" is also an answer.
std::vector<rule_view> rules_of(const config::config& cfg) {
  std::vector<rule_view> out;
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const auto& l = cfg.listeners[i];
    std::string name = l.access.where;
    if (name.empty()) name = l.from_listen_addr ? "listen_addr" : fmt::format("listeners[{}]", i);
    out.push_back({name, &l.access, true});
  }
  for (const auto& r : cfg.routes) out.push_back({r.access.where, &r.access, false});
  return out;
}

std::string window_text(const net::time_window& w) {
  if (!w.from && !w.until) return "always";
  std::string out;
  if (w.from) out = "from " + config::format_timestamp(*w.from);
  if (w.until) out += (out.empty() ? "until " : " until ") + config::format_timestamp(*w.until);
  return out;
}

// Whether the entry is active at `t`, and if not, why ("expired ...", "starts ...").
std::string state_at(const net::ip_set_entry& e, net::wall_time t) {
  if (e.window.contains(t)) return "active";
  if (e.window.expired_at(t)) return "expired " + config::format_timestamp(*e.window.until);
  return "starts " + config::format_timestamp(*e.window.from);
}

// The references of `refs` that contain `address` at `t`, as text ("claude 160.79.104.0/21",
// "203.0.113.9/32").
std::vector<std::string> matching(const std::vector<config::access_rule::reference>& refs, const http::ip_set_map& sets,
                                  const net::ip_bytes& address, net::wall_time t) {
  std::vector<std::string> out;
  for (const auto& ref : refs) {
    if (ref.prefix) {
      if (ref.prefix->contains(address)) out.push_back(ref.prefix->to_string());
      continue;
    }
    const auto it = sets.find(ref.set);
    if (it == sets.end()) continue;
    for (const auto* e : it->second.matches(address, t)) out.push_back(ref.set + " " + e->prefix.to_string());
  }
  return out;
}

std::string names_of(const std::vector<config::access_rule::reference>& refs) {
  std::vector<std::string> names;
  for (const auto& ref : refs) names.push_back(ref.prefix ? ref.prefix->to_string() : ref.set);
  return fmt::format("{}", fmt::join(names, ", "));
}

boost::json::array entry_rows(const config::config& cfg, const net::ip_bytes& address, net::wall_time at) {
  boost::json::array rows;
  for (const auto& set : cfg.ip_sets) {
    for (const auto& e : set.entries) {
      if (!e.prefix.contains(address)) continue;
      rows.push_back({{"entry", e.origin},
                      {"set", set.name},
                      {"prefix", e.prefix.to_string()},
                      {"window", window_text(e.window)},
                      {"active", e.window.contains(at)},
                      {"state", state_at(e, at)}});
    }
  }
  return rows;
}

// What one listener or route decides for `address`: `verdict` is allowed, denied_by_deny
// or not_in_allow_list; `matched` the set entries or literals that decided.
boost::json::object rule_row(const rule_view& r, const http::ip_set_map& sets, const net::ip_bytes& address,
                             net::wall_time at) {
  const auto verdict = http::compile_access_rule(*r.rule, sets, at).check(address);
  std::vector<std::string> matched;
  std::string verdict_name;
  std::string why;
  switch (verdict) {
    case http::access_verdict::allowed:
      verdict_name = "allowed";
      matched = matching(r.rule->allow, sets, address, at);
      why = r.rule->empty()        ? "no allow or deny list"
            : r.rule->allow.empty() ? "no allow list, no deny match"
                                    : "allow list: " + fmt::format("{}", fmt::join(matched, ", "));
      break;
    case http::access_verdict::denied_by_deny:
      verdict_name = "denied_by_deny";
      matched = matching(r.rule->deny, sets, address, at);
      why = "deny list: " + fmt::format("{}", fmt::join(matched, ", "));
      break;
    case http::access_verdict::denied_by_allow:
      verdict_name = "not_in_allow_list";
      why = "not in the allow list: " + names_of(r.rule->allow);
      break;
  }
  // Listeners judge before TLS: there is no one to answer, the connection is closed.
  const char* action = r.is_listener                                                 ? "close"
                       : r.rule->action == config::access_rule::deny_action::abort ? "abort"
                                                                                     : "403";
  const bool allowed = verdict == http::access_verdict::allowed;
  return {{"rule", r.name},
          {"verdict", verdict_name},
          {"decision", allowed ? "allowed" : "refused"},
          {"matched", boost::json::value_from(matched)},
          {"why", why},
          {"action", allowed ? "" : action},
          {"dry_run", r.rule->dry_run}};
}

void print_check(const boost::json::object& out) {
  std::printf("address %s at %s\n", out.at("address").as_string().c_str(), out.at("at").as_string().c_str());
  const auto& entries = out.at("entries").as_array();
  std::printf("ip_sets entries containing it:%s\n", entries.empty() ? " none" : "");
  for (const auto& row : entries) {
    const auto& o = row.as_object();
    std::printf("  %s %s (%s): %s\n", o.at("entry").as_string().c_str(), o.at("prefix").as_string().c_str(),
                o.at("window").as_string().c_str(), o.at("state").as_string().c_str());
  }
  const auto& rules = out.at("rules").as_array();
  std::printf("listeners and routes:%s\n", rules.empty() ? " none" : "");
  for (const auto& row : rules) {
    const auto& o = row.as_object();
    const bool allowed = o.at("decision") == "allowed";
    const bool dry_run = o.at("dry_run").as_bool();
    std::printf("  %s: %s (%s)%s%s\n", o.at("rule").as_string().c_str(), o.at("decision").as_string().c_str(),
                o.at("why").as_string().c_str(),
                allowed ? "" : fmt::format(", action {}", o.at("action").as_string().c_str()).c_str(),
                dry_run && !allowed ? " [dry run: only logged, the client goes on]" : "");
  }
}

int check(const config::config& cfg, const boost::asio::ip::address& address, net::wall_time at, bool json) {
  const auto bytes = net::to_bytes(address);
  const auto sets = http::build_ip_sets(cfg);
  boost::json::array rules;
  for (const auto& r : rules_of(cfg)) rules.push_back(rule_row(r, sets, bytes, at));
  const boost::json::object out{{"address", net::unmapped(address).to_string()},
                                {"at", config::format_timestamp(at)},
                                {"entries", entry_rows(cfg, bytes, at)},
                                {"rules", std::move(rules)}};
  if (json) {
    std::printf("%s\n", boost::json::serialize(out).c_str());
  } else {
    print_check(out);
  }
  return 0;
}

// ---- render ---------------------------------------------------------------------------

struct rendered_set {
  std::string name;
  std::vector<net::ip_prefix> v4, v6;  // active at the instant, merged
  std::vector<std::string> skipped;    // "ip_sets.claude[1] 34.162.46.92/32 (expired ...)"
};

// The prefix that `a` and `b` are the two halves of (10.0.0.0/25 + 10.0.0.128/25 ->
// 10.0.0.0/24), if they are.
std::optional<net::ip_prefix> joined(const net::ip_prefix& a, const net::ip_prefix& b) {
  const unsigned family_bits = a.is_v4() ? 96 : 0;
  if (a.bits() != b.bits() || a.is_v4() != b.is_v4() || a.bits() <= family_bits) return std::nullopt;
  const unsigned bit = a.bits() - 1;
  const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
  auto b_network = a.network();
  b_network[bit / 8] |= mask;
  if ((a.network()[bit / 8] & mask) != 0 || b.network() != b_network) return std::nullopt;
  const auto text = a.to_string();
  return net::ip_prefix::parse(text.substr(0, text.find('/')) + "/" + std::to_string(bit - family_bits));
}

// Sorted, without prefixes another one contains, and sibling halves joined: nft refuses
// overlapping interval elements, and every other format gets fewer lines for the same
// addresses.
std::vector<net::ip_prefix> merged(std::vector<net::ip_prefix> prefixes) {
  std::sort(prefixes.begin(), prefixes.end(), [](const net::ip_prefix& a, const net::ip_prefix& b) {
    return a.network() != b.network() ? a.network() < b.network() : a.bits() < b.bits();
  });
  std::vector<net::ip_prefix> out;
  for (const auto& p : prefixes) {
    if (!out.empty() && out.back().contains(p.network())) continue;  // sorted: a cover comes first
    out.push_back(p);
    while (out.size() >= 2) {
      const auto parent = joined(out[out.size() - 2], out.back());
      if (!parent) break;
      out.pop_back();
      out.back() = *parent;
    }
  }
  return out;
}

// The sets named in any allow list, in file order; every set when none is.
std::vector<std::string> default_sets(const config::config& cfg) {
  std::set<std::string> used;
  for (const auto& r : rules_of(cfg)) {
    for (const auto& ref : r.rule->allow) {
      if (!ref.set.empty()) used.insert(ref.set);
    }
  }
  std::vector<std::string> names;
  for (const auto& set : cfg.ip_sets) {
    if (used.empty() || used.count(set.name)) names.push_back(set.name);
  }
  return names;
}

rendered_set active_part(const config::named_ip_set& set, net::wall_time at) {
  rendered_set r;
  r.name = set.name;
  std::vector<net::ip_prefix> v4, v6;
  for (const auto& e : set.entries) {
    if (!e.window.contains(at)) {
      r.skipped.push_back(e.origin + " " + e.prefix.to_string() + " (" + state_at(e, at) + ")");
      continue;
    }
    (e.prefix.is_v4() ? v4 : v6).push_back(e.prefix);
  }
  r.v4 = merged(std::move(v4));
  r.v6 = merged(std::move(v6));
  return r;
}

std::vector<rendered_set> sets_to_render(const config::config& cfg, const std::vector<std::string>& wanted,
                                         net::wall_time at, std::string& error) {
  std::vector<std::string> names;
  for (const auto& name : wanted.empty() ? default_sets(cfg) : wanted) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);  // --set a --set a
  }
  std::vector<rendered_set> out;
  for (const auto& name : names) {
    const auto it = std::find_if(cfg.ip_sets.begin(), cfg.ip_sets.end(), [&](const auto& s) { return s.name == name; });
    if (it == cfg.ip_sets.end()) {
      std::string known;
      for (const auto& s : cfg.ip_sets) known += (known.empty() ? "" : ", ") + s.name;
      error = "--set: no ip_sets entry named \"" + name + "\" (the config has: " + (known.empty() ? "none" : known) + ")";
      return {};
    }
    out.push_back(active_part(*it, at));
  }
  if (out.empty()) error = "the config has no ip_sets to render";
  return out;
}

std::string prefix_list(const std::vector<net::ip_prefix>& prefixes, const char* separator) {
  std::string out;
  for (const auto& p : prefixes) out += (out.empty() ? "" : separator) + p.to_string();
  return out;
}

std::size_t count_v6(const std::vector<rendered_set>& sets) {
  std::size_t n = 0;
  for (const auto& s : sets) n += s.v6.size();
  return n;
}

// Every format here (shell, nft, iptables-restore, Caddyfile) takes '#' comments.
void header(const std::vector<rendered_set>& sets, net::wall_time at, unsigned port) {
  std::string names;
  for (const auto& s : sets) names += (names.empty() ? "" : ", ") + s.name;
  std::printf("# mcpgate allowlist: ip_sets %s as of %s, tcp port %u\n", names.c_str(),
              config::format_timestamp(at).c_str(), port);
  std::printf("# Time windows are evaluated at that instant: render again when an entry starts or expires\n");
  std::printf("# (the gateway itself applies them on time).\n");
  for (const auto& s : sets) {
    for (const auto& skipped : s.skipped) std::printf("# left out: %s\n", skipped.c_str());
  }
}

void render_ufw(const std::vector<rendered_set>& sets, unsigned port, bool revert) {
  for (const auto& s : sets) {
    for (const auto* list : {&s.v4, &s.v6}) {
      for (const auto& p : *list) {
        if (revert) {
          std::printf("ufw delete allow from %s to any port %u proto tcp\n", p.to_string().c_str(), port);
        } else {
          std::printf("ufw allow from %s to any port %u proto tcp comment 'mcpgate %s'\n", p.to_string().c_str(), port,
                      s.name.c_str());
        }
      }
    }
  }
  if (revert) {
    // ufw deletes a rule only as it was added: prefixes merged at another instant differ.
    std::printf("# These are the rules as rendered at this instant: pass the --at you rendered with.\n");
    std::printf("# Every rule added from this output carries the comment 'mcpgate SET': ufw status | grep mcpgate\n");
  } else {
    std::printf("# With ufw's default incoming policy (deny) nothing else reaches port %u; if you opened it\n", port);
    std::printf("# before (ufw allow %u/tcp), remove that: ufw delete allow %u/tcp\n", port, port);
  }
}

void render_nftables(const std::vector<rendered_set>& sets, unsigned port, bool revert) {
  // Declaring the table before deleting it makes both files safe to load again (nft -f):
  // a missing table is not an error, an existing one is replaced whole.
  std::printf("table inet mcpgate\ndelete table inet mcpgate\n");
  if (revert) return;
  // Set names are the ip_sets names as written (nft takes letters, digits, '_', '-', '.'),
  // so two sets never share a name.
  std::printf("\ntable inet mcpgate {\n");
  for (const auto& s : sets) {
    for (const bool v4 : {true, false}) {
      const auto& list = v4 ? s.v4 : s.v6;
      std::printf("  set %s_%s {\n    type %s\n    flags interval\n", s.name.c_str(), v4 ? "v4" : "v6",
                  v4 ? "ipv4_addr" : "ipv6_addr");
      if (!list.empty()) std::printf("    elements = { %s }\n", prefix_list(list, ", ").c_str());
      std::printf("  }\n");
    }
  }
  std::printf("  chain input {\n    type filter hook input priority filter; policy accept;\n");
  for (const auto& s : sets) {
    std::printf("    tcp dport %u ip saddr @%s_v4 accept\n", port, s.name.c_str());
    std::printf("    tcp dport %u ip6 saddr @%s_v6 accept\n", port, s.name.c_str());
  }
  std::printf("    tcp dport %u drop\n  }\n}\n", port);
}

// One family per file: iptables-restore refuses IPv6 prefixes and ip6tables-restore IPv4
// ones, so a file holding both could not be piped into either.
void render_iptables(const std::vector<rendered_set>& sets, unsigned port, bool revert, bool v6) {
  const char* tool = v6 ? "ip6tables" : "iptables";
  if (revert) {
    std::printf("%s -D INPUT -p tcp --dport %u -j MCPGATE\n%s -F MCPGATE\n%s -X MCPGATE\n", tool, port, tool, tool);
    return;
  }
  if (const auto n = count_v6(sets); !v6 && n != 0) {
    std::printf("# IPv6: %zu prefix%s not in this file; render --format ip6tables for those\n", n, n == 1 ? " is" : "es are");
  }
  std::printf("# Load with: %s-restore --noflush FILE   (replaces the MCPGATE chain's rules)\n", tool);
  std::printf("# Then hook it once: %s -C INPUT -p tcp --dport %u -j MCPGATE || %s -I INPUT -p tcp --dport %u -j MCPGATE\n",
              tool, port, tool, port);
  std::printf("*filter\n:MCPGATE - [0:0]\n");
  for (const auto& s : sets) {
    for (const auto& p : v6 ? s.v6 : s.v4) {
      std::printf("-A MCPGATE -s %s -p tcp --dport %u -m comment --comment \"mcpgate %s\" -j ACCEPT\n",
                  p.to_string().c_str(), port, s.name.c_str());
    }
  }
  std::printf("-A MCPGATE -p tcp --dport %u -j DROP\nCOMMIT\n", port);
}

void render_caddy(const std::vector<rendered_set>& sets, bool revert) {
  if (revert) {
    std::printf("# Remove the @mcpgate_denied matcher line and the `abort @mcpgate_denied` line from the site block.\n");
    return;
  }
  std::vector<net::ip_prefix> all;
  for (const auto& s : sets) {
    all.insert(all.end(), s.v4.begin(), s.v4.end());
    all.insert(all.end(), s.v6.begin(), s.v6.end());
  }
  std::printf("# Paste the two @mcpgate_denied lines into the site block that proxies to the gateway\n");
  std::printf("# (or to the MCP server); the rest is an example.\n");
  std::printf("example.com {\n");
  if (all.empty()) {
    std::printf("\t# no address is active at this instant: everyone is refused\n\tabort\n");
  } else {
    std::printf("\t@mcpgate_denied not remote_ip %s\n\tabort @mcpgate_denied\n", prefix_list(merged(all), " ").c_str());
  }
  std::printf("\treverse_proxy 127.0.0.1:8080\n}\n");
}

int render(const config::config& cfg, const allowlist_options& options, net::wall_time at, std::string& error) {
  const auto sets = sets_to_render(cfg, options.sets, at, error);
  if (sets.empty()) return 2;
  const auto port = static_cast<unsigned>(options.port);
  header(sets, at, port);
  if (options.format == "ufw") render_ufw(sets, port, options.revert);
  if (options.format == "nftables") render_nftables(sets, port, options.revert);
  if (options.format == "iptables") render_iptables(sets, port, options.revert, false);
  if (options.format == "ip6tables") render_iptables(sets, port, options.revert, true);
  if (options.format == "caddy") render_caddy(sets, options.revert);
  return 0;
}

std::optional<net::wall_time> instant(const std::string& at, std::string& error) {
  if (at.empty()) return std::chrono::system_clock::now();
  auto t = config::parse_timestamp(at, &error);
  if (!t) error = "--at: " + error;
  return t;
}

}  // namespace

CLI::App* add_allowlist_command(CLI::App& app, allowlist_options& o) {
  auto* allowlist = app.add_subcommand("allowlist", "Explain and export the config's client-address rules");
  allowlist->require_subcommand(1);
  auto* chk = allowlist->add_subcommand("check", "Which ip_sets entries and rules match an address, and why");
  chk->add_option("address", o.address, "IPv4 or IPv6 address")->required();
  chk->add_flag("--json", o.json, "Machine-readable output");
  auto* rnd = allowlist->add_subcommand("render", "Print the active ip_sets entries as firewall rules");
  rnd->add_option("--format", o.format, "ufw, nftables, iptables, ip6tables or caddy")
      ->required()
      ->check(CLI::IsMember({"ufw", "nftables", "iptables", "ip6tables", "caddy"}));
  rnd->add_option("--set", o.sets, "Render only this ip_set (repeatable; default: the sets named in allow lists)");
  rnd->add_option("--port", o.port, "TCP port the rules protect")->capture_default_str()->check(CLI::Range(1, 65535));
  rnd->add_flag("--revert", o.revert, "Print the commands that undo the rules instead");
  for (auto* sub : {chk, rnd}) {
    sub->add_option("-c,--config", o.config_path, "Config file")->capture_default_str();
    sub->add_option("--at", o.at, "Evaluate time windows at this instant (date or RFC 3339; default now)");
  }
  chk->callback([&o] { o.what = allowlist_options::action::check; });
  rnd->callback([&o] { o.what = allowlist_options::action::render; });
  return allowlist;
}

int run_allowlist(const allowlist_options& options) {
  auto fail = [](const std::string& message) {
    std::fprintf(stderr, "mcpgate allowlist: %s\n", message.c_str());
    return 2;
  };
  std::string error;
  const auto at = instant(options.at, error);
  if (!at) return fail(error);
  const bool checking = options.what == allowlist_options::action::check;
  // The address before the config: a typo in it is the likelier mistake, and cheaper to say.
  boost::system::error_code ec;
  const auto address = checking ? boost::asio::ip::make_address(options.address, ec) : boost::asio::ip::address();
  if (ec) return fail("\"" + options.address + "\" is not an IPv4 or IPv6 address (e.g. 160.79.104.7 or 2001:db8::1)");
  config::overrides over;
  over.now = *at;
  const auto loaded = config::load_file(options.config_path, over);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    return fail("cannot use the config " + options.config_path + " (the errors are above; mcpgate validate lists them)");
  }
  if (checking) return check(*loaded.snapshot, address, *at, options.json);
  if (render(*loaded.snapshot, options, *at, error) != 0) return fail(error);
  return 0;
}

}  // namespace mcpgate::app
