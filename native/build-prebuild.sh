#!/bin/sh
# Builds the native AES-256-GCM addon (native/kfe_aead.c) with node-gyp against the running
# Node's headers, bundled OpenSSL headers included (--nodedir=/usr: /usr/include/node), and copies
# it to prebuilds/<platform>-<arch>/node.napi.<libc>.node, where node-gyp-build finds it.
# No libcrypto is linked: the OpenSSL symbols resolve from the node binary when the addon loads,
# and -z now makes a missing one fail at load (then the library uses node:crypto), not mid-call.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
nodedir=${NODEDIR:-/usr}
gyp=${NODE_GYP:-$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js}
cd "$here"
node "$gyp" rebuild --nodedir="$nodedir" --release
platform=$(node -p 'process.platform + "-" + process.arch')
libc=$(node -p 'process.report.getReport().header.glibcVersionRuntime ? "glibc" : "musl"')
mkdir -p "$root/prebuilds/$platform"
cp build/Release/kfe_aead.node "$root/prebuilds/$platform/node.napi.$libc.node"
strip --strip-unneeded "$root/prebuilds/$platform/node.napi.$libc.node" 2>/dev/null || true
# A missing symbol must show now: load it in this very node.
node -e 'require(process.argv[1])' "$root/prebuilds/$platform/node.napi.$libc.node"
echo "prebuilds/$platform/node.napi.$libc.node"
