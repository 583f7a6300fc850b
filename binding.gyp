{
  "targets": [
    {
      "target_name": "shmkit",
      "sources": [
        "native/addon.cc",
        "native/constants.cc",
        "native/shm.cc",
        "native/mapping.cc",
        "native/perm.cc",
        "native/sem.cc",
        "native/msg.cc",
        "native/waits.cc",
        "native/futex.cc",
        "native/posix.cc",
        "native/sigbus.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"sources!": ["native/shm.cc"]}]]
    }
  ]
}
