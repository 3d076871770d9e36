#!/bin/sh
# Rebuilds bpf/twi_watch.bpf.o from bpf/twi_watch.bpf.c, byte for byte.
#
# Needs (Debian/Ubuntu): clang llvm libbpf-dev
#   apt-get install -y clang llvm libbpf-dev
# (bpftool is only for inspecting the result: `bpftool btf dump file OUT`.)
#
# usage: bpf/build.sh [OUT]   (default: bpf/twi_watch.bpf.o)
# The committed object is what cargo embeds, so `cargo build` needs no clang;
# tests/watch_bpf.rs rebuilds into a temp dir and compares.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/bpf/twi_watch.bpf.o}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
CLANG=${CLANG:-clang}
STRIP=${LLVM_STRIP:-llvm-strip}
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
cd "$root"
# Relative source path and -fdebug-prefix-map: no build directory in the output.
# -g makes clang emit .BTF/.BTF.ext (CO-RE needs them); llvm-strip -g then
# drops the DWARF sections, which the loader does not read.
"$CLANG" -O2 -g -target bpf -D__TARGET_ARCH_x86 \
	-fdebug-prefix-map="$root"=. -ffile-prefix-map="$root"=. \
	-fno-ident -Wall -Werror \
	-c bpf/twi_watch.bpf.c -o "$tmp"
"$STRIP" -g "$tmp"
mv "$tmp" "$out"
trap - EXIT
