{
  "targets": [
    {
      "target_name": "kfe_aead",
      "sources": ["kfe_aead.c"],
      "cflags": ["-O2", "-fvisibility=hidden", "-Wall", "-Wextra"],
      "ldflags": ["-Wl,-z,now"],
      "libraries!": ["-lcrypto"]
    }
  ]
}
