//! The Rust mirrors in `abi.rs` match the C structs, field by field, as described by the BTF
//! of the compiled object (`bpftool btf dump file <obj> format raw`).

use std::collections::HashMap;

/// struct name -> (size, field -> byte offset), parsed from bpftool's raw BTF dump.
fn btf_structs(obj: &str) -> HashMap<String, (usize, HashMap<String, usize>)> {
    let out = std::process::Command::new("bpftool")
        .args(["btf", "dump", "file", obj, "format", "raw"])
        .output()
        .expect("bpftool (apt-get install bpftool)");
    assert!(out.status.success(), "bpftool: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut res = HashMap::new();
    let mut cur: Option<(String, usize, HashMap<String, usize>)> = None;
    for line in text.lines() {
        if line.starts_with('[') {
            if let Some((n, s, f)) = cur.take() {
                res.insert(n, (s, f));
            }
            // [74] STRUCT 'cgfw_event' size=72 vlen=14
            let mut it = line.split_whitespace();
            let _id = it.next();
            if it.next() == Some("STRUCT") {
                let name = it.next().unwrap().trim_matches('\'').to_string();
                let size = it.next().unwrap().trim_start_matches("size=").parse().unwrap();
                cur = Some((name, size, HashMap::new()));
            }
        } else if let Some((_, _, fields)) = cur.as_mut() {
            // 'daddr' type_id=28 bits_offset=384
            let l = line.trim();
            let name = l.split('\'').nth(1).unwrap().to_string();
            let bits: usize = l.rsplit("bits_offset=").next().unwrap().parse().unwrap();
            fields.insert(name, bits / 8);
        }
    }
    if let Some((n, s, f)) = cur.take() {
        res.insert(n, (s, f));
    }
    res
}

#[test]
fn rust_structs_match_c_btf() {
    let btf = btf_structs(env!("CGFW_BPF_OBJ"));
    for (name, size, fields) in ebpf::abi::layouts() {
        let (csize, cfields) = btf.get(name).unwrap_or_else(|| panic!("struct {name} not in BTF"));
        assert_eq!(size, *csize, "size of {name}");
        assert_eq!(fields.len(), cfields.len(), "field count of {name}: C has {cfields:?}");
        for (f, off) in fields {
            assert_eq!(Some(&off), cfields.get(f), "offset of {name}.{f}");
        }
    }
}
