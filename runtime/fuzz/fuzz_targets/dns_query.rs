//! Fuzz the DNS proxy's handling of client bytes: parse_query -> decide -> local_answer /
//! header_only, against several policies. Beyond "no panic":
//! - a parsed query has exactly one question and a normalised name (lower case, no trailing dot);
//! - an invalid name is never forwarded in enforce mode;
//! - every local answer parses, echoes the id, is a response, and carries no records;
//! - the UDP limit the client gets is within [512, 65535];
//! - what goes upstream parses, keeps the id and the question, and carries no additional
//!   records and no EDNS options.
#![no_main]

#[allow(dead_code)]
#[path = "../../src/sidecar/dns.rs"]
mod dns;

use std::sync::OnceLock;

use dns::{Action, QueryError};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use libfuzzer_sys::fuzz_target;
use policy::Policy;

fn policies() -> &'static [Policy] {
    static P: OnceLock<Vec<Policy>> = OnceLock::new();
    P.get_or_init(|| {
        let sets: &[&[(&str, &str)]] = &[
            &[("cgfw.io/allow", "allowed.test, *.svc.test, bücher.example, 10.0.0.0/8")],
            &[("cgfw.io/block", "github.com, evil.test")],
            &[("cgfw.io/allow", ""), ("cgfw.io/mode", "audit")],
        ];
        sets.iter().map(|s| Policy::from_annotations(s.iter().copied()).unwrap().unwrap()).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    match dns::parse_query(data) {
        Ok(query) => {
            assert_eq!(query.message.queries.len(), 1);
            assert!(!query.name.ends_with('.') || query.name == ".", "name {:?}", query.name);
            assert_eq!(query.name, query.name.to_ascii_lowercase());
            let limit = dns::client_udp_limit(&query.message);
            assert!((dns::CLASSIC_UDP_LIMIT..=65_535).contains(&limit));
            let upstream = dns::upstream_request(&query.message, data);
            // (Empty only if the parsed message does not re-encode: then nothing is sent and the
            // upstream exchange fails as too short: SERVFAIL.)
            if let std::borrow::Cow::Owned(bytes) = &upstream {
                if !bytes.is_empty() {
                    let sent = Message::from_vec(bytes).expect("the upstream request parses");
                    assert_eq!(sent.metadata.id, query.message.metadata.id);
                    assert_eq!(sent.queries, query.message.queries);
                    assert!(sent.additionals.is_empty());
                    assert!(sent.edns.as_ref().is_none_or(|e| e.options().options.is_empty()));
                }
            }
            for policy in policies() {
                let (action, decision) = dns::decide(policy, &query);
                if policy.mode() == policy::Mode::Enforce && decision.verdict == policy::Verdict::Block {
                    assert_eq!(action, Action::Deny);
                }
                if policy::normalize_domain(&query.name).is_err() && policy.mode() == policy::Mode::Enforce {
                    assert_eq!(action, Action::Deny, "invalid name {:?} forwarded", query.name);
                }
            }
            for code in [ResponseCode::NXDomain, ResponseCode::ServFail] {
                let out = dns::local_answer(&query.message, code);
                let reply = Message::from_vec(&out).expect("local answer parses");
                assert_eq!(reply.metadata.id, query.message.metadata.id);
                assert_eq!(reply.metadata.message_type, MessageType::Response);
                assert!(reply.answers.is_empty() && reply.authorities.is_empty());
                let _ = dns::encode_for_client(&reply, Some(limit));
            }
        }
        Err(QueryError::Reply(id, code)) => {
            let out = dns::header_only(id, code);
            assert_eq!(out.len(), 12);
            let reply = Message::from_vec(&out).expect("header-only answer parses");
            assert_eq!(reply.metadata.id, id);
        }
        Err(QueryError::Unparseable) => {}
    }
});
