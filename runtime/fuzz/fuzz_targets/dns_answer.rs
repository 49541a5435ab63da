//! Fuzz the DNS proxy's handling of upstream bytes: the upstream check of id and question
//! (upstream_query: DNS 0x20), check_answer against fixed queries, the client's case restored,
//! then encode_for_client. The first input byte picks the query (name/type/EDNS) and whether the
//! answer's id is forced to match (so the fuzzer gets past the id check); the rest is the
//! upstream's answer. Beyond "no panic":
//! - every address kept is outside the special ranges unless an allow CIDR covers it;
//! - kept addresses and records never outnumber the answer's records; the chain is bounded;
//! - the UDP encoding fits the client's limit; the TCP encoding fits a 16-bit length prefix;
//! - whatever is released parses and carries the query's id and question, spelt as the client
//!   spelt it.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/sidecar/dns.rs"]
mod dns;
#[allow(dead_code)]
#[path = "../../src/sidecar/upstream_query.rs"]
mod upstream_query;

use std::sync::OnceLock;

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;
use policy::Policy;

struct Fixture {
    policy: Policy,
    queries: Vec<Message>,
    /// The same queries as the client sent them, for the upstream check.
    wires: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let policy = Policy::from_annotations([("cgfw.io/allow", "allowed.test, 169.254.0.0/16")].into_iter())
            .unwrap()
            .unwrap();
        let (mut queries, mut wires) = (Vec::new(), Vec::new());
        for (name, qtype, edns) in [
            ("allowed.test.", RecordType::A, false),
            ("www.Allowed.TEST.", RecordType::AAAA, true),
            ("allowed.test.", RecordType::TXT, false),
            ("allowed.test.", RecordType::ANY, true),
        ] {
            let mut m = Message::query();
            m.metadata.id = 0x4242;
            m.metadata.recursion_desired = true;
            m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
            if edns {
                let mut e = Edns::new();
                e.set_max_payload(1232);
                m.edns = Some(e);
            }
            // Round trip, as the proxy gets it from parse_query.
            let bytes = m.to_vec().unwrap();
            queries.push(dns::parse_query(&bytes).unwrap().message);
            wires.push(bytes);
        }
        Fixture { policy, queries, wires }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    let f = fixture();
    let query = &f.queries[usize::from(sel & 3)];
    let mut bytes = rest.to_vec();
    if sel & 4 != 0 && bytes.len() >= 2 {
        bytes[..2].copy_from_slice(&query.metadata.id.to_be_bytes());
    }
    if bytes.len() > 65_535 {
        return; // the proxy reads at most one 64 KiB datagram / TCP message
    }
    // The upstream check must not panic on anything; its verdict is not needed further (what
    // it lets through still goes through check_answer below).
    let sent = upstream_query::Outgoing::new(&f.wires[usize::from(sel & 3)], query.metadata.id, |b| b.fill(0x5a))
        .expect("the fixture's queries are plain");
    let _ = sent.check(&bytes);
    let Ok(mut checked) = dns::check_answer(&f.policy, query, &bytes) else { return };
    let client_name = &query.queries[0].name;
    upstream_query::restore_client_case(&mut checked.message, client_name);
    for (ip, _) in &checked.addresses {
        if policy::special_address_reason(*ip).is_some() {
            assert!(f.policy.cidr_allows(*ip), "special address {ip} kept");
        }
    }
    assert!(checked.addresses.len() <= checked.message.answers.len());
    assert!(checked.chain.len() < 16);
    assert!(checked.message.additionals.is_empty());
    let limit = dns::client_udp_limit(query);
    let udp = dns::encode_for_client(&checked.message, Some(limit));
    assert!(udp.len() <= limit, "UDP answer {} > client limit {limit}", udp.len());
    let tcp = dns::encode_for_client(&checked.message, None);
    assert!(tcp.len() <= 65_535, "TCP answer {} bytes does not fit the length prefix", tcp.len());
    for out in [&udp, &tcp] {
        let m = Message::from_vec(out).expect("released answer parses");
        assert_eq!(m.metadata.id, query.metadata.id);
        if out.len() > 12 {
            assert_eq!(m.queries, query.queries);
            assert!(m.queries[0].name.eq_case(client_name), "question not in the client's case");
        }
    }
});
