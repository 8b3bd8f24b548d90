// `mcpgate allowlist`: the config's client-address rules, explained and exported.
//
//   check IP   which ip_sets entries contain IP at an instant, and what every listener
//              and route rule decides for it (and why: the set entry or literal);
//   render     the active entries as firewall rules people would otherwise type by hand
//              (ufw commands, an nftables file, iptables-restore files, a Caddyfile
//              snippet), plus the commands that undo them.
//
// Both read the config exactly as the gateway does and evaluate time windows at one
// instant (now, or --at), so the answer is the gateway's answer at that instant.
#include <algorithm>
#include <cstdio>
#include <map>
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
  std::string name;  // "listeners[0]", "routes.echo", "listen_addr"
  const config::access_rule* rule;
  bool is_route;
};

// Every access rule of the config, listeners first, in file order.
std::vector<rule_view> rules_of(const config::config& cfg) {
  std::vector<rule_view> out;
  for (const auto& l : cfg.listeners) {
    if (!l.access.empty()) out.push_back({l.access.where, &l.access, false});
  }
  for (const auto& r : cfg.routes) {
    if (!r.access.empty()) out.push_back({r.access.where, &r.access, true});
  }
  return out;
}

std::string window_text(const net::time_window& w) {
  if (!w.from && !w.until) return "always";
  return (w.from ? "from " + config::format_timestamp(*w.from) : std::string()) + (w.from && w.until ? " " : "") +
         (w.until ? "until " + config::format_timestamp(*w.until) : std::string());
}

// Whether the entry is active at `t`, and if not, why ("expired ...", "starts ...").
std::string state_at(const net::ip_set_entry& e, net::wall_time t) {
  if (e.window.contains(t)) return "active";
  if (e.window.expired_at(t)) return "expired " + config::format_timestamp(*e.window.until);
  return "starts " + config::format_timestamp(*e.window.from);
}

// The references of `refs` that contain `address` at `t`, as text.
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
    for (const auto* e : it->second.matches(address, t)) out.push_back(ref.set + " (" + e->prefix.to_string() + ")");
  }
  return out;
}

int check(const config::config& cfg, const net::ip_bytes& address, const std::string& shown, net::wall_time at,
          bool json) {
  const auto sets = http::build_ip_sets(cfg);
  boost::json::array set_rows;
  for (const auto& set : cfg.ip_sets) {
    for (std::size_t i = 0; i < set.entries.size(); ++i) {
      const auto& e = set.entries[i];
      if (!e.prefix.contains(address)) continue;
      set_rows.push_back({{"entry", e.origin},
                          {"set", set.name},
                          {"prefix", e.prefix.to_string()},
                          {"window", window_text(e.window)},
                          {"active", e.window.contains(at)},
                          {"state", state_at(e, at)}});
    }
  }
  boost::json::array rule_rows;
  for (const auto& r : rules_of(cfg)) {
    const auto compiled = http::compile_access_rule(*r.rule, sets, at);
    const auto verdict = compiled.check(address);
    const auto by_deny = matching(r.rule->deny, sets, address, at);
    const auto by_allow = matching(r.rule->allow, sets, address, at);
    std::string decision;
    std::string why;
    switch (verdict) {
      case http::access_verdict::allowed:
        decision = "allowed";
        why = r.rule->allow.empty() ? "no allow list, no deny match" : "allow list: " + fmt::format("{}", fmt::join(by_allow, ", "));
        break;
      case http::access_verdict::denied_by_deny:
        decision = "refused";
        why = "deny list: " + fmt::format("{}", fmt::join(by_deny, ", "));
        break;
      case http::access_verdict::denied_by_allow:
        decision = "refused";
        why = "not in the allow list";
        break;
    }
    std::string action = !r.is_route ? "close"
                         : r.rule->action == config::access_rule::deny_action::abort ? "abort"
                                                                                       : "403";
    rule_rows.push_back({{"rule", r.name},
                         {"decision", decision},
                         {"why", why},
                         {"action", verdict == http::access_verdict::allowed ? "" : action},
                         {"dry_run", r.rule->dry_run}});
  }
  if (json) {
    const boost::json::object out{{"address", shown},
                                  {"at", config::format_timestamp(at)},
                                  {"entries", std::move(set_rows)},
                                  {"rules", std::move(rule_rows)}};
    std::printf("%s\n", boost::json::serialize(out).c_str());
    return 0;
  }
  std::printf("address %s at %s\n", shown.c_str(), config::format_timestamp(at).c_str());
  std::printf("ip_sets entries containing it:%s\n", set_rows.empty() ? " none" : "");
  for (const auto& row : set_rows) {
    const auto& o = row.as_object();
    std::printf("  %s %s (%s): %s\n", o.at("entry").as_string().c_str(), o.at("prefix").as_string().c_str(),
                o.at("window").as_string().c_str(), o.at("state").as_string().c_str());
  }
  std::printf("rules:%s\n", rule_rows.empty() ? " none (every listener and route admits every address)" : "");
  for (const auto& row : rule_rows) {
    const auto& o = row.as_object();
    const bool allowed = o.at("decision") == "allowed";
    std::printf("  %s: %s (%s)%s%s\n", o.at("rule").as_string().c_str(), o.at("decision").as_string().c_str(),
                o.at("why").as_string().c_str(),
                allowed ? "" : fmt::format(", action {}", o.at("action").as_string().c_str()).c_str(),
                o.at("dry_run").as_bool() ? " [dry run: logged only]" : "");
  }
  return 0;
}

// ---- render ---------------------------------------------------------------------------

struct rendered_set {
  std::string name;
  std::vector<net::ip_prefix> v4, v6;  // active at the instant, without prefixes another one covers
  std::vector<std::string> skipped;    // "ip_sets.claude[1] 34.162.46.92/32 (expired ...)"
};

// Sorted, and without prefixes that another prefix of the list contains (nft refuses
// overlapping interval elements; the others would be redundant lines).
std::vector<net::ip_prefix> minimal(std::vector<net::ip_prefix> prefixes) {
  std::sort(prefixes.begin(), prefixes.end(), [](const net::ip_prefix& a, const net::ip_prefix& b) {
    return a.network() != b.network() ? a.network() < b.network() : a.bits() < b.bits();
  });
  std::vector<net::ip_prefix> out;
  for (const auto& p : prefixes) {
    if (!out.empty() && out.back().contains(p.network())) continue;  // sorted: a cover comes first
    out.push_back(p);
  }
  return out;
}

std::vector<rendered_set> sets_to_render(const config::config& cfg, const std::vector<std::string>& wanted,
                                         net::wall_time at, std::string& error) {
  std::vector<std::string> names = wanted;
  if (names.empty()) {
    std::set<std::string> used;
    for (const auto& r : rules_of(cfg)) {
      for (const auto& ref : r.rule->allow) {
        if (!ref.set.empty()) used.insert(ref.set);
      }
    }
    for (const auto& set : cfg.ip_sets) {
      if (used.empty() || used.count(set.name)) names.push_back(set.name);
    }
  }
  std::vector<rendered_set> out;
  for (const auto& name : names) {
    const auto it = std::find_if(cfg.ip_sets.begin(), cfg.ip_sets.end(), [&](const auto& s) { return s.name == name; });
    if (it == cfg.ip_sets.end()) {
      std::string known;
      for (const auto& s : cfg.ip_sets) known += (known.empty() ? "" : ", ") + s.name;
      error = "no ip_sets entry named \"" + name + "\" (the config has: " + (known.empty() ? "none" : known) + ")";
      return {};
    }
    rendered_set r;
    r.name = name;
    std::vector<net::ip_prefix> v4, v6;
    for (const auto& e : it->entries) {
      if (!e.window.contains(at)) {
        r.skipped.push_back(e.origin + " " + e.prefix.to_string() + " (" + state_at(e, at) + ")");
        continue;
      }
      (e.prefix.is_v4() ? v4 : v6).push_back(e.prefix);
    }
    r.v4 = minimal(std::move(v4));
    r.v6 = minimal(std::move(v6));
    out.push_back(std::move(r));
  }
  if (out.empty()) error = "the config has no ip_sets to render";
  return out;
}

// nft and iptables names: letters, digits and '_' only.
std::string identifier(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return out;
}

std::string prefix_list(const std::vector<net::ip_prefix>& prefixes, const char* separator) {
  std::string out;
  for (const auto& p : prefixes) out += (out.empty() ? "" : separator) + p.to_string();
  return out;
}

void header(const std::vector<rendered_set>& sets, net::wall_time at, unsigned port, const char* comment) {
  std::string names;
  for (const auto& s : sets) names += (names.empty() ? "" : ", ") + s.name;
  std::printf("%s mcpgate allowlist: ip_sets %s as of %s, tcp port %u\n", comment, names.c_str(),
              config::format_timestamp(at).c_str(), port);
  std::printf("%s Time windows are evaluated at that instant: render again when an entry starts or expires\n", comment);
  std::printf("%s (the gateway itself applies them on time).\n", comment);
  for (const auto& s : sets) {
    for (const auto& skipped : s.skipped) std::printf("%s left out: %s\n", comment, skipped.c_str());
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
  if (!revert) {
    std::printf("# With ufw's default incoming policy (deny) nothing else reaches port %u; if you opened it\n", port);
    std::printf("# before (ufw allow %u/tcp), remove that: ufw delete allow %u/tcp\n", port, port);
  }
}

void render_nftables(const std::vector<rendered_set>& sets, unsigned port, bool revert) {
  if (revert) {
    std::printf("delete table inet mcpgate\n");
    return;
  }
  // Declaring then deleting the table first makes the file safe to load again (nft -f).
  std::printf("table inet mcpgate\ndelete table inet mcpgate\n\ntable inet mcpgate {\n");
  for (const auto& s : sets) {
    for (const bool v4 : {true, false}) {
      const auto& list = v4 ? s.v4 : s.v6;
      std::printf("  set %s_%s {\n    type %s\n    flags interval\n", identifier(s.name).c_str(), v4 ? "v4" : "v6",
                  v4 ? "ipv4_addr" : "ipv6_addr");
      if (!list.empty()) std::printf("    elements = { %s }\n", prefix_list(list, ", ").c_str());
      std::printf("  }\n");
    }
  }
  std::printf("  chain input {\n    type filter hook input priority filter; policy accept;\n");
  for (const auto& s : sets) {
    std::printf("    tcp dport %u ip saddr @%s_v4 accept\n", port, identifier(s.name).c_str());
    std::printf("    tcp dport %u ip6 saddr @%s_v6 accept\n", port, identifier(s.name).c_str());
  }
  std::printf("    tcp dport %u drop\n  }\n}\n", port);
}

void render_iptables(const std::vector<rendered_set>& sets, unsigned port, bool revert, bool v6) {
  const char* tool = v6 ? "ip6tables" : "iptables";
  if (revert) {
    std::printf("%s -D INPUT -p tcp --dport %u -j MCPGATE\n%s -F MCPGATE\n%s -X MCPGATE\n", tool, port, tool, tool);
    return;
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
  std::printf("# Paste the two lines into the site block that proxies to the gateway (or to the MCP server).\n");
  std::printf("example.com {\n");
  if (all.empty()) {
    std::printf("\t# no address is active at this instant: everyone is refused\n\tabort\n");
  } else {
    std::printf("\t@mcpgate_denied not remote_ip %s\n\tabort @mcpgate_denied\n", prefix_list(minimal(all), " ").c_str());
  }
  std::printf("\treverse_proxy 127.0.0.1:8080\n}\n");
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
  auto* rnd = allowlist->add_subcommand("render", "Print the active ip_sets entries as firewall rules");
  rnd->add_option("--format", o.format, "ufw, nftables, iptables, ip6tables or caddy")
      ->required()
      ->check(CLI::IsMember({"ufw", "nftables", "iptables", "ip6tables", "caddy"}));
  rnd->add_option("--set", o.sets, "Only this ip_sets entry (repeatable; default: the sets used by allow lists)");
  rnd->add_option("--port", o.port, "TCP port the rules protect")->capture_default_str()->check(CLI::Range(1, 65535));
  rnd->add_flag("--revert", o.revert, "Print the commands that undo the rules instead");
  for (auto* sub : {chk, rnd}) {
    sub->add_option("-c,--config", o.config_path, "Config file")->capture_default_str();
    sub->add_option("--at", o.at, "Evaluate time windows at this instant (date or RFC 3339; default now)");
  }
  chk->add_flag("--json", o.json, "Machine-readable output");
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
  config::overrides over;
  over.now = *at;
  const auto loaded = config::load_file(options.config_path, over);
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", d.to_string().c_str());
    return fail("the config has errors (mcpgate validate " + options.config_path + " lists them)");
  }
  const auto& cfg = *loaded.snapshot;
  if (options.what == allowlist_options::action::check) {
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(options.address, ec);
    if (ec) return fail("\"" + options.address + "\" is not an IPv4 or IPv6 address");
    return check(cfg, net::to_bytes(address), net::unmapped(address).to_string(), *at, options.json);
  }
  const auto sets = sets_to_render(cfg, options.sets, *at, error);
  if (sets.empty()) return fail(error);
  const auto port = static_cast<unsigned>(options.port);
  const bool caddy = options.format == "caddy";
  header(sets, *at, port, "#");
  if (options.format == "ufw") render_ufw(sets, port, options.revert);
  if (options.format == "nftables") render_nftables(sets, port, options.revert);
  if (options.format == "iptables" || options.format == "ip6tables") {
    render_iptables(sets, port, options.revert, options.format == "ip6tables");
  }
  if (caddy) render_caddy(sets, options.revert);
  return 0;
}

}  // namespace mcpgate::app
