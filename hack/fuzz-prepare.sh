# Sourced by the fuzz crates' run.sh scripts: checks for the nightly toolchain, installs
# cargo-fuzz if missing, and points cargo at the fuzz target dir (CARGO_FUZZ_TARGET_DIR, else
# the crate's own target/), so fuzz builds never contend for the main workspace's build lock.
# Expects $here to be the fuzz crate's directory.
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: a nightly toolchain is required (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
export CARGO_TARGET_DIR="${CARGO_FUZZ_TARGET_DIR:-$here/target}"
