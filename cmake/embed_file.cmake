# Turns a text file into a C++ source that returns its bytes as a std::string_view, so the
# binary serves it without reading the file system. Run at build time by add_custom_command
# (src/CMakeLists.txt), which re-runs it whenever INPUT changes:
#   cmake -DINPUT=page.html -DOUTPUT=page.cpp -DHEADER=dir/page.hpp
#         -DNAMESPACE=mcpgate::x -DFUNCTION=page_html -P embed_file.cmake
foreach(var INPUT OUTPUT HEADER NAMESPACE FUNCTION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: -D${var}=... missing")
  endif()
endforeach()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
# 16 bytes a line; unsigned char, because bytes >= 0x80 (UTF-8) would narrow into char.
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# (CMake regexes have no {n}: the 16 is spelled out.)
string(REPEAT "0x..," 16 line)
string(REGEX REPLACE "(${line})" "\\1\n  " bytes "${bytes}")

get_filename_component(input_name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp" "// Generated from ${input_name} by cmake/embed_file.cmake; do not edit.
#include \"${HEADER}\"

namespace {
constexpr unsigned char embedded[${size} + 1] = {
  ${bytes}0x00};
}  // namespace

namespace ${NAMESPACE} {
std::string_view ${FUNCTION}() {
  return {reinterpret_cast<const char*>(embedded), ${size}};
}
}  // namespace ${NAMESPACE}
")
# Touch OUTPUT only when its text changed: an unchanged page recompiles nothing.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
