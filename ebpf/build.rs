//! Compiles the C BPF programs with clang into one object that lib.rs embeds.
//! `cargo build` is all it takes: no bpf-linker, no nightly. Needs clang (any of clang,
//! clang-19 .. clang-14 on PATH, or $CGFW_CLANG) and the libbpf headers (libbpf-dev).

use std::{env, path::PathBuf, process::Command};

fn find_clang() -> Option<String> {
    let mut candidates: Vec<String> = Vec::new();
    if let Ok(c) = env::var("CGFW_CLANG") {
        candidates.push(c);
    }
    candidates.push("clang".into());
    for v in (14..=19).rev() {
        candidates.push(format!("clang-{v}"));
    }
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

fn main() {
    let src = PathBuf::from("src/bpf");
    println!("cargo:rerun-if-env-changed=CGFW_CLANG");
    for f in [
        "cgfw.h",
        "packet.h",
        "cgfw.bpf.c",
        "sock_addr.bpf.c",
        "skb.bpf.c",
        "exec.bpf.c",
        "lsm.bpf.c",
        "sock_create.bpf.c",
        "sockopt.bpf.c",
        "tc.bpf.c",
    ] {
        println!("cargo:rerun-if-changed={}", src.join(f).display());
    }
    let clang = find_clang().unwrap_or_else(|| {
        panic!(
            "ebpf: no clang found (tried $CGFW_CLANG, clang, clang-19 .. clang-14). \
             Install clang (e.g. `apt-get install clang-19 libbpf-dev`) to build the BPF programs."
        )
    });
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("cgfw.bpf.o");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let multiarch = match arch.as_str() {
        "aarch64" => "aarch64-linux-gnu",
        _ => "x86_64-linux-gnu",
    };
    let output = Command::new(&clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .arg("-c")
        .arg(src.join("cgfw.bpf.c"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("ebpf: running {clang}: {e}"));
    if !output.status.success() {
        panic!(
            "ebpf: {clang} failed to compile src/bpf/cgfw.bpf.c:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    println!("cargo:rustc-env=CGFW_BPF_OBJ={}", out.display());
}
