#!/bin/sh
# Cargo's rustc wrapper (.cargo/config.toml). For the wasm target only, it compiles without
# panic locations: `-Zlocation-detail=none` takes the file, line and column that every
# `#[track_caller]` call carries out of the wasm (main module 196 -> 170 KB brotli, see
# BENCHMARKS.md). The flag is unstable; RUSTC_BOOTSTRAP lets this stable rustc accept it, for
# these invocations alone. Everything else (the server, build scripts, proc macros) is untouched.
case " $* " in
  *" --target wasm32-unknown-unknown "*)
    RUSTC_BOOTSTRAP=1 exec "$@" -Zlocation-detail=none ;;
esac
exec "$@"
