// The web chat's static files, compiled into the binary by embed_web.cmake.
#pragma once

#include <cstddef>
#include <span>

namespace qwenedge::server {

struct WebAsset {
  const char* path;  // relative to the site root, e.g. "app.js"
  const char* mime;
  const unsigned char* data;
  size_t size;
};

std::span<const WebAsset> web_assets();

}  // namespace qwenedge::server
