//! The DNS proxy's decisions, free of sockets so they can be tested and fuzzed:
//! parse a client query, decide it against the policy, build local answers (NXDOMAIN,
//! FORMERR, SERVFAIL), and check an upstream answer before it is released to the client.

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use policy::{Decision, Mode, Policy, Verdict};

/// Longest answer we hand to a UDP client that did not advertise EDNS (RFC 1035).
pub const CLASSIC_UDP_LIMIT: usize = 512;
/// Longest CNAME chain we follow; longer chains are treated as hostile.
const MAX_CHAIN: usize = 16;

/// A client query that parsed and has exactly one question.
#[derive(Debug)]
pub struct Query {
    pub message: Message,
    /// The question name as text (lower case, no trailing dot).
    pub name: String,
    pub qtype: RecordType,
}

#[derive(Debug, PartialEq, Eq)]
pub enum QueryError {
    /// Not even a DNS header: nothing sensible can be answered.
    Unparseable,
    /// A header we can answer, with this response code (FORMERR, NOTIMP, REFUSED).
    Reply(u16, ResponseCode),
}

/// Parses a query from a client.
pub fn parse_query(bytes: &[u8]) -> Result<Query, QueryError> {
    let id = match bytes {
        [hi, lo, ..] if bytes.len() >= 12 => u16::from_be_bytes([*hi, *lo]),
        _ => return Err(QueryError::Unparseable),
    };
    let message = Message::from_vec(bytes).map_err(|_| QueryError::Reply(id, ResponseCode::FormErr))?;
    if message.metadata.message_type != MessageType::Query {
        return Err(QueryError::Unparseable);
    }
    if message.metadata.op_code != OpCode::Query {
        return Err(QueryError::Reply(id, ResponseCode::NotImp));
    }
    if message.queries.len() != 1 || !message.answers.is_empty() || !message.authorities.is_empty() {
        return Err(QueryError::Reply(id, ResponseCode::FormErr));
    }
    let question = &message.queries[0];
    if question.query_class != DNSClass::IN {
        return Err(QueryError::Reply(id, ResponseCode::Refused));
    }
    let name = question.name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    let qtype = question.query_type;
    Ok(Query { message, name, qtype })
}

/// The bytes to send upstream for a client query: the client's own when it carries nothing but
/// the header, the question and an option-free EDNS record (the usual query: forwarded as is,
/// re-encoding costs more than it buys); otherwise a copy with the additional records, any
/// signature and every EDNS option removed (EDNS kept with its payload size, version and DO
/// bit). Those sections are the client's to fill with anything: forwarded, they would carry
/// any data to the upstream resolver (found by a red-team pass, issue 12).
pub fn upstream_request<'a>(query: &Message, client_bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    let options_free = query.edns.as_ref().is_none_or(|edns| edns.options().options.is_empty());
    if query.additionals.is_empty() && query.signature.is_none() && options_free {
        return std::borrow::Cow::Borrowed(client_bytes);
    }
    let mut clean = query.clone();
    clean.additionals.clear();
    clean.signature = None;
    if let Some(edns) = query.edns.as_ref() {
        let mut plain = hickory_proto::op::Edns::new();
        plain.set_max_payload(edns.max_payload());
        plain.set_version(edns.version());
        plain.set_dnssec_ok(edns.flags().dnssec_ok);
        clean.edns = Some(plain);
    }
    // A message that parsed re-encodes; if it ever did not, send only what was checked.
    std::borrow::Cow::Owned(clean.to_vec().unwrap_or_else(|_| {
        let mut bare = query.clone();
        bare.additionals.clear();
        bare.signature = None;
        bare.edns = None;
        bare.to_vec().unwrap_or_default()
    }))
}

/// What the proxy does with a query.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Answer NXDOMAIN locally; nothing leaves the host.
    Deny,
    /// Forward upstream; `would_block` marks audit mode letting a denied name through.
    Forward { would_block: bool },
}

pub fn decide(policy: &Policy, query: &Query) -> (Action, Decision) {
    let decision = policy.decide_domain(&query.name);
    let action = match (decision.verdict, policy.mode()) {
        (Verdict::Allow, _) => Action::Forward { would_block: false },
        (Verdict::Block, Mode::Audit) => Action::Forward { would_block: true },
        (Verdict::Block, Mode::Enforce) => Action::Deny,
    };
    (action, decision)
}

/// A local answer to `query` with the given code and no records.
pub fn local_answer(query: &Message, code: ResponseCode) -> Vec<u8> {
    let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.response_code = code;
    reply.queries = query.queries.clone();
    reply.to_vec().unwrap_or_else(|_| header_only(query.metadata.id, code))
}

/// A bare 12-byte header answer, for queries too broken to echo.
pub fn header_only(id: u16, code: ResponseCode) -> Vec<u8> {
    let mut out = vec![0u8; 12];
    out[0..2].copy_from_slice(&id.to_be_bytes());
    out[2] = 0x80; // QR
    out[3] = 0x80 | (u16::from(code) as u8 & 0x0f); // RA + RCODE
    out
}

/// An upstream answer after checking.
#[derive(Debug)]
pub struct CheckedAnswer {
    pub message: Message,
    /// Every A/AAAA kept on the CNAME chain, with its TTL.
    pub addresses: Vec<(IpAddr, u32)>,
    /// The names of the chain after the question name (CNAME targets).
    pub chain: Vec<String>,
    /// Records dropped: off the chain, or addresses refused by the rebinding guard.
    pub dropped: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnswerError {
    #[error("upstream answer does not parse")]
    Unparseable,
    #[error("upstream answer id or question does not match the query")]
    Mismatch,
}

/// Checks an upstream answer against the query: same id and question, records kept only
/// if they are on the CNAME chain that starts at the question name, addresses pointing at
/// special ranges (loopback, link-local incl. 169.254.169.254, ...) dropped unless an allow
/// CIDR covers them. Authority and additional records are dropped except the OPT record.
pub fn check_answer(policy: &Policy, query: &Message, bytes: &[u8]) -> Result<CheckedAnswer, AnswerError> {
    let mut message = Message::from_vec(bytes).map_err(|_| AnswerError::Unparseable)?;
    if message.metadata.id != query.metadata.id
        || message.metadata.message_type != MessageType::Response
        || message.queries.len() != 1
        || message.queries[0].name != query.queries[0].name
        || message.queries[0].query_type != query.queries[0].query_type
        || message.queries[0].query_class != query.queries[0].query_class
    {
        return Err(AnswerError::Mismatch);
    }
    let qtype = query.queries[0].query_type;
    let mut chain: Vec<Name> = vec![query.queries[0].name.clone()];
    let mut remaining: Vec<Record> = std::mem::take(&mut message.answers);
    // Sized up front: a record is 272 bytes, and a Vec grown from empty asks for four at
    // once, past the 1 KiB beyond which glibc's malloc takes its slow path.
    let mut kept = Vec::with_capacity(remaining.len());
    let mut addresses = Vec::new();
    let mut dropped = Vec::new();
    // Follow CNAMEs in whatever order the upstream put them.
    loop {
        let current = chain.last().expect("chain starts non-empty").clone();
        let mut next = None;
        let mut rest = Vec::new();
        let left = remaining.len();
        for record in remaining {
            if record.name != current {
                if rest.capacity() == 0 {
                    rest.reserve_exact(left);
                }
                rest.push(record);
                continue;
            }
            match &record.data {
                RData::CNAME(target) if qtype != RecordType::CNAME && next.is_none() => {
                    next = Some(target.0.clone());
                    kept.push(record);
                }
                RData::A(a) => keep_address(policy, IpAddr::V4(a.0), record, &mut kept, &mut addresses, &mut dropped),
                RData::AAAA(a) => keep_address(policy, IpAddr::V6(a.0), record, &mut kept, &mut addresses, &mut dropped),
                _ if record.record_type() == qtype => kept.push(record),
                _ => {
                    if rest.capacity() == 0 {
                        rest.reserve_exact(left);
                    }
                    rest.push(record)
                }
            }
        }
        remaining = rest;
        match next {
            Some(target) if chain.len() < MAX_CHAIN && !chain.contains(&target) => chain.push(target),
            _ => break,
        }
    }
    dropped.extend(remaining.iter().map(|r| format!("{} {} (off the CNAME chain)", r.name, r.record_type())));
    message.answers = kept;
    message.authorities.retain(|r| r.record_type() == RecordType::SOA && chain.contains(&r.name));
    message.additionals.clear();
    let chain = chain[1..].iter().map(|n| n.to_ascii().trim_end_matches('.').to_ascii_lowercase()).collect();
    Ok(CheckedAnswer { message, addresses, chain, dropped })
}

fn keep_address(
    policy: &Policy,
    ip: IpAddr,
    record: Record,
    kept: &mut Vec<Record>,
    addresses: &mut Vec<(IpAddr, u32)>,
    dropped: &mut Vec<String>,
) {
    if let Some(reason) = policy::special_address_reason(ip) {
        if !policy.cidr_allows(ip) {
            dropped.push(format!("{} -> {ip} ({reason})", record.name));
            return;
        }
    }
    addresses.push((ip, record.ttl));
    kept.push(record);
}

/// Serialises an answer for a client, truncating (TC bit, question only) when it exceeds
/// what the client can take over UDP.
pub fn encode_for_client(message: &Message, udp_limit: Option<usize>) -> Vec<u8> {
    let code = message.metadata.response_code;
    let Ok(bytes) = message.to_vec() else {
        return header_only(message.metadata.id, ResponseCode::ServFail);
    };
    match udp_limit {
        Some(limit) if bytes.len() > limit => {
            let mut truncated = Message::response(message.metadata.id, message.metadata.op_code);
            truncated.metadata = message.metadata;
            truncated.metadata.truncation = true;
            truncated.metadata.response_code = code;
            truncated.queries = message.queries.clone();
            truncated.to_vec().unwrap_or_else(|_| header_only(message.metadata.id, ResponseCode::ServFail))
        }
        _ => bytes,
    }
}

/// The UDP payload size a client accepts: its EDNS size (at least 512), or 512.
pub fn client_udp_limit(query: &Message) -> usize {
    query
        .edns
        .as_ref()
        .map(|e| usize::from(e.max_payload()).max(CLASSIC_UDP_LIMIT))
        .unwrap_or(CLASSIC_UDP_LIMIT)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::str::FromStr;

    use hickory_proto::op::Query as Question;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, TXT};

    use super::*;

    fn policy(pairs: &[(&str, &str)]) -> Policy {
        Policy::from_annotations(pairs.iter().copied()).unwrap().unwrap()
    }

    fn query_bytes(name: &str, qtype: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.recursion_desired = true;
        m.add_query(Question::query(Name::from_ascii(name).unwrap(), qtype));
        m.to_vec().unwrap()
    }

    fn answer(query: &Message, records: Vec<Record>) -> Vec<u8> {
        let mut m = Message::response(query.metadata.id, OpCode::Query);
        m.queries = query.queries.clone();
        m.answers = records;
        m.to_vec().unwrap()
    }

    fn a(name: &str, ip: [u8; 4], ttl: u32) -> Record {
        Record::from_rdata(Name::from_ascii(name).unwrap(), ttl, RData::A(A(Ipv4Addr::from(ip))))
    }

    fn cname(name: &str, target: &str) -> Record {
        Record::from_rdata(Name::from_ascii(name).unwrap(), 60, RData::CNAME(CNAME(Name::from_ascii(target).unwrap())))
    }

    #[test]
    fn upstream_request_carries_only_the_question_and_plain_edns() {
        // The usual query goes out as the client sent it.
        let plain = query_bytes("allowed.test.", RecordType::A);
        let q = parse_query(&plain).unwrap();
        assert!(matches!(upstream_request(&q.message, &plain), std::borrow::Cow::Borrowed(_)));
        // An EDNS option and an additional TXT record (data the client chose) are removed.
        let mut m = Message::from_vec(&plain).unwrap();
        let mut edns = hickory_proto::op::Edns::new();
        edns.set_max_payload(1232);
        edns.set_dnssec_ok(true);
        edns.options_mut().insert(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(65001, b"SECRET-OPTION".to_vec()));
        m.edns = Some(edns);
        m.additionals.push(Record::from_rdata(
            Name::from_ascii("x.allowed.test.").unwrap(),
            60,
            RData::TXT(TXT::new(vec!["SECRET-TXT".into()])),
        ));
        let dirty = m.to_vec().unwrap();
        let q = parse_query(&dirty).unwrap();
        let sent = upstream_request(&q.message, &dirty);
        let text = String::from_utf8_lossy(&sent);
        assert!(!text.contains("SECRET"), "client data forwarded: {text:?}");
        let out = Message::from_vec(&sent).unwrap();
        assert_eq!(out.queries, q.message.queries);
        assert_eq!(out.metadata.id, 4242);
        assert!(out.additionals.is_empty());
        let edns = out.edns.expect("EDNS kept");
        assert_eq!(edns.max_payload(), 1232);
        assert!(edns.flags().dnssec_ok);
        assert!(edns.options().options.is_empty());
    }

    #[test]
    fn denied_names_get_nxdomain_and_allowed_are_forwarded() {
        let p = policy(&[("cgfw.io/block", "github.com")]);
        let q = parse_query(&query_bytes("API.GitHub.com.", RecordType::A)).unwrap();
        assert_eq!(q.name, "api.github.com");
        let (action, decision) = decide(&p, &q);
        assert_eq!(action, Action::Deny);
        assert_eq!(decision.verdict, Verdict::Block);
        let reply = Message::from_vec(&local_answer(&q.message, ResponseCode::NXDomain)).unwrap();
        assert_eq!(reply.metadata.response_code, ResponseCode::NXDomain);
        assert_eq!(reply.metadata.id, 4242);
        assert!(reply.answers.is_empty());
        let q = parse_query(&query_bytes("allowed.test.", RecordType::A)).unwrap();
        assert_eq!(decide(&p, &q).0, Action::Forward { would_block: false });
    }

    #[test]
    fn audit_mode_forwards_denied_names_as_would_block() {
        let p = policy(&[("cgfw.io/allow", "allowed.test"), ("cgfw.io/mode", "audit")]);
        let q = parse_query(&query_bytes("evil.test.", RecordType::A)).unwrap();
        assert_eq!(decide(&p, &q).0, Action::Forward { would_block: true });
    }

    #[test]
    fn other_record_types_of_denied_names_are_denied_too() {
        let p = policy(&[("cgfw.io/allow", "allowed.test")]);
        for t in [RecordType::TXT, RecordType::ANY, RecordType::SRV, RecordType::MX, RecordType::AAAA] {
            let q = parse_query(&query_bytes("tunnel.evil.test.", t)).unwrap();
            assert_eq!(decide(&p, &q).0, Action::Deny, "{t}");
        }
    }

    #[test]
    fn garbage_and_odd_queries_are_refused_clearly() {
        assert_eq!(parse_query(&[1, 2, 3]).unwrap_err(), QueryError::Unparseable);
        let mut bad = query_bytes("a.test.", RecordType::A);
        bad.truncate(14);
        assert!(matches!(parse_query(&bad).unwrap_err(), QueryError::Reply(4242, ResponseCode::FormErr)));
        // Two questions.
        let mut m = Message::from_vec(&query_bytes("a.test.", RecordType::A)).unwrap();
        m.add_query(Question::query(Name::from_ascii("b.test.").unwrap(), RecordType::A));
        assert!(matches!(parse_query(&m.to_vec().unwrap()).unwrap_err(), QueryError::Reply(_, ResponseCode::FormErr)));
        // A response sent as a query is ignored.
        let mut m = Message::from_vec(&query_bytes("a.test.", RecordType::A)).unwrap();
        m.metadata.message_type = MessageType::Response;
        assert_eq!(parse_query(&m.to_vec().unwrap()).unwrap_err(), QueryError::Unparseable);
        let header = header_only(7, ResponseCode::FormErr);
        let parsed = Message::from_vec(&header).unwrap();
        assert_eq!(parsed.metadata.id, 7);
        assert_eq!(parsed.metadata.response_code, ResponseCode::FormErr);
    }

    #[test]
    fn answer_keeps_the_cname_chain_and_drops_records_off_it() {
        let p = policy(&[("cgfw.io/allow", "allowed.test")]);
        let q = parse_query(&query_bytes("www.allowed.test.", RecordType::A)).unwrap();
        let bytes = answer(
            &q.message,
            vec![
                a("cdn.example.net.", [198, 18, 0, 11], 30),
                cname("www.allowed.test.", "cdn.example.net."),
                a("evil.test.", [198, 18, 0, 30], 300),
            ],
        );
        let checked = check_answer(&p, &q.message, &bytes).unwrap();
        assert_eq!(checked.addresses, vec![(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 11)), 30)]);
        assert_eq!(checked.chain, vec!["cdn.example.net".to_string()]);
        assert_eq!(checked.message.answers.len(), 2);
        assert!(checked.dropped.iter().any(|d| d.contains("evil.test")), "{:?}", checked.dropped);
    }

    #[test]
    fn rebinding_answers_are_dropped_unless_a_cidr_allows_them() {
        let p = policy(&[("cgfw.io/allow", "allowed.test")]);
        let q = parse_query(&query_bytes("allowed.test.", RecordType::A)).unwrap();
        let bytes = answer(
            &q.message,
            vec![a("allowed.test.", [169, 254, 169, 254], 60), a("allowed.test.", [127, 0, 0, 1], 60), a("allowed.test.", [10, 1, 2, 3], 60)],
        );
        let checked = check_answer(&p, &q.message, &bytes).unwrap();
        assert_eq!(checked.addresses, vec![(IpAddr::from_str("10.1.2.3").unwrap(), 60)]);
        assert_eq!(checked.dropped.len(), 2);
        let p = policy(&[("cgfw.io/allow", "allowed.test, 169.254.169.254")]);
        let checked = check_answer(&p, &q.message, &bytes).unwrap();
        assert_eq!(checked.addresses.len(), 2);
    }

    #[test]
    fn aaaa_answers_are_collected() {
        let p = policy(&[("cgfw.io/allow", "allowed.test")]);
        let q = parse_query(&query_bytes("allowed.test.", RecordType::AAAA)).unwrap();
        let ip = Ipv6Addr::from_str("fd00:cf::10").unwrap();
        let rec = Record::from_rdata(Name::from_ascii("allowed.test.").unwrap(), 5, RData::AAAA(AAAA(ip)));
        let checked = check_answer(&p, &q.message, &answer(&q.message, vec![rec])).unwrap();
        assert_eq!(checked.addresses, vec![(IpAddr::V6(ip), 5)]);
    }

    #[test]
    fn mismatched_answers_are_rejected() {
        let p = policy(&[("cgfw.io/allow", "allowed.test")]);
        let q = parse_query(&query_bytes("allowed.test.", RecordType::A)).unwrap();
        let other = parse_query(&query_bytes("other.test.", RecordType::A)).unwrap();
        let bytes = answer(&other.message, vec![a("other.test.", [198, 18, 0, 1], 5)]);
        assert_eq!(check_answer(&p, &q.message, &bytes).unwrap_err(), AnswerError::Mismatch);
        assert_eq!(check_answer(&p, &q.message, &[0, 1, 2]).unwrap_err(), AnswerError::Unparseable);
        let mut wrong_id = Message::from_vec(&answer(&q.message, vec![])).unwrap();
        wrong_id.metadata.id ^= 1;
        assert_eq!(check_answer(&p, &q.message, &wrong_id.to_vec().unwrap()).unwrap_err(), AnswerError::Mismatch);
    }

    #[test]
    fn cname_loops_end() {
        let p = policy(&[("cgfw.io/allow", "allowed.test")]);
        let q = parse_query(&query_bytes("allowed.test.", RecordType::A)).unwrap();
        let bytes = answer(&q.message, vec![cname("allowed.test.", "b.test."), cname("b.test.", "allowed.test.")]);
        let checked = check_answer(&p, &q.message, &bytes).unwrap();
        assert!(checked.addresses.is_empty());
    }

    #[test]
    fn huge_answers_are_truncated_for_udp_clients() {
        let p = policy(&[("cgfw.io/allow", "allowed.test")]);
        let q = parse_query(&query_bytes("allowed.test.", RecordType::TXT)).unwrap();
        let txt: Vec<Record> = (0..40)
            .map(|i| Record::from_rdata(Name::from_ascii("allowed.test.").unwrap(), 60, RData::TXT(TXT::new(vec![format!("{i:0>60}")]))))
            .collect();
        let checked = check_answer(&p, &q.message, &answer(&q.message, txt)).unwrap();
        assert_eq!(checked.message.answers.len(), 40);
        let out = encode_for_client(&checked.message, Some(client_udp_limit(&q.message)));
        assert!(out.len() <= CLASSIC_UDP_LIMIT);
        assert!(Message::from_vec(&out).unwrap().metadata.truncation);
        assert!(encode_for_client(&checked.message, None).len() > CLASSIC_UDP_LIMIT);
    }
}
