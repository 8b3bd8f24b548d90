#pragma once

#include <string_view>

namespace mcpgate::observability {

// The admin listener's status page (GET /status): src/observability/status_page.html,
// embedded at build time (cmake/embed_file.cmake). One self-contained HTML document with
// inline CSS and JS and no external assets; it renders from the relative URL `status.json`
// alone and polls it every 5 s.
std::string_view status_page_html();

}  // namespace mcpgate::observability
