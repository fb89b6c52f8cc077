{
  # One Node-API addon for the controller's fast paths. Sources are listed by
  # native/sources.mjs (every .cc under src/ except fuzz drivers), so adding a
  # file to src/<concern>/ needs no edit here.
  # pcloud-delayline is a program of its own (delayline/): the lab runs it
  # detached in its wire namespace, so it outlives no addon and needs no Node.
  "targets": [
    {
      "target_name": "packetcloud_native",
      "sources": ["<!@(node sources.mjs)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "src"],
      "defines": ["NAPI_VERSION=9", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=c++17"],
      "cflags": ["-O3", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++20", "-O3", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
        "GCC_OPTIMIZATION_LEVEL": "3",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      }
    },
    {
      "target_name": "pcloud-delayline",
      "type": "executable",
      "sources": ["delayline/delayLine.cc"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=c++17"],
      "cflags_cc": ["-std=c++20", "-O2", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", {"type": "none", "sources": []}]]
    }
  ]
}
