// Precompiled header for mcpgate_lib and the tests: the Asio/Beast/SSL/JSON templates
// that most translation units of the data path need. Keep it to third-party headers.
#pragma once
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>
