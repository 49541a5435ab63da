//! The query as it goes upstream, and the check of what comes back: a fresh random id and the
//! question name's ASCII letters in random case ("DNS 0x20"). An answer is taken only if it
//! carries that id and echoes the question byte for byte, case included, so a forger who
//! cannot see the query must guess 16 bits of id plus one bit per letter of the name (on top
//! of the socket's random source port). Resolvers copy the question into the answer as they
//! got it, and match the name case-insensitively, so the upstream answers as usual. The
//! client's own spelling is put back on the answer before it is released
//! ([`restore_client_case`]).
//!
//! Pure (no sockets) so it can be tested and fuzzed.

use hickory_proto::op::Message;
use hickory_proto::rr::Name;

const HEADER_LEN: usize = 12;
/// Longest name on the wire (RFC 1035 3.1), root label included.
const MAX_NAME_WIRE: usize = 255;
/// Type and class after the question name.
const QUESTION_TAIL: usize = 4;

/// Why a query cannot be prepared for upstream.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuestionError {
    #[error("the query's question name is not a plain sequence of labels at offset 12 (compressed, truncated or over 255 bytes)")]
    NotPlain,
}

/// Why an upstream message was not taken as the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Shorter than a header plus the question sent.
    Short,
    /// QR bit clear: not a response.
    NotResponse,
    WrongId,
    /// Not exactly one question.
    QuestionCount,
    /// The same name, but with the letter case changed: a forger who guessed the id but not
    /// the case, or an upstream that does not preserve the case of the question.
    CaseChanged,
    /// Another name, type or class.
    OtherQuestion,
}

/// A query ready to go upstream.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The message to send: the client's query with the new id and the case-randomised name.
    pub wire: Vec<u8>,
    /// End of the question section (name, type, class) in `wire`.
    question_end: usize,
}

impl Outgoing {
    /// Prepares `request` (a client query that parsed) with `id` and the case of each letter
    /// of its question name taken from one random bit (bit i of the bytes `fill_random` gives,
    /// least significant first, for letter i). `fill_random` is asked once, for as many bytes
    /// as the letters need, and not at all for a name without letters.
    pub fn new(request: &[u8], id: u16, fill_random: impl FnOnce(&mut [u8])) -> Result<Outgoing, QuestionError> {
        let name_end = question_name_end(request).ok_or(QuestionError::NotPlain)?;
        let question_end = name_end + QUESTION_TAIL;
        if request.len() < question_end {
            return Err(QuestionError::NotPlain);
        }
        let mut wire = request.to_vec();
        wire[..2].copy_from_slice(&id.to_be_bytes());
        let name = &mut wire[HEADER_LEN..name_end];
        let letters = name.iter().filter(|b| b.is_ascii_alphabetic()).count();
        let mut random = [0u8; MAX_NAME_WIRE.div_ceil(8)];
        let bits = &mut random[..letters.div_ceil(8)];
        if !bits.is_empty() {
            fill_random(bits);
        }
        // Length bytes are at most 63 and the root label is 0: never an ASCII letter, so every
        // letter in the name's bytes is part of a label.
        let mut i = 0;
        for byte in name.iter_mut().filter(|b| b.is_ascii_alphabetic()) {
            let upper = (bits[i / 8] >> (i % 8)) & 1 == 1;
            *byte = if upper { byte.to_ascii_uppercase() } else { byte.to_ascii_lowercase() };
            i += 1;
        }
        Ok(Outgoing { wire, question_end })
    }

    #[cfg(test)]
    fn id(&self) -> u16 {
        u16::from_be_bytes([self.wire[0], self.wire[1]])
    }

    /// ASCII letters in the question name: the bits of case entropy.
    #[cfg(test)]
    fn letters(&self) -> usize {
        self.wire[HEADER_LEN..self.question_end - QUESTION_TAIL].iter().filter(|b| b.is_ascii_alphabetic()).count()
    }

    /// Whether `answer` answers exactly this query: a response with its id and one question
    /// equal byte for byte (case included) to the one sent. Nothing after the question is
    /// looked at here; the caller's answer checks do that.
    pub fn check(&self, answer: &[u8]) -> Result<(), Refusal> {
        if answer.len() < self.question_end {
            return Err(Refusal::Short);
        }
        if answer[2] & 0x80 == 0 {
            return Err(Refusal::NotResponse);
        }
        if answer[..2] != self.wire[..2] {
            return Err(Refusal::WrongId);
        }
        if answer[4..6] != [0, 1] {
            return Err(Refusal::QuestionCount);
        }
        let name_end = self.question_end - QUESTION_TAIL;
        let (sent, got) = (&self.wire[HEADER_LEN..self.question_end], &answer[HEADER_LEN..self.question_end]);
        if sent == got {
            Ok(())
        } else if self.wire[HEADER_LEN..name_end].eq_ignore_ascii_case(&answer[HEADER_LEN..name_end])
            && self.wire[name_end..self.question_end] == answer[name_end..self.question_end]
        {
            Err(Refusal::CaseChanged)
        } else {
            Err(Refusal::OtherQuestion)
        }
    }
}

/// Whether `request` can be prepared for upstream ([`Outgoing::new`] would take it): a header
/// and a plain question name followed by its type and class. Checked once per query, before
/// any upstream is asked, so a query no upstream could be sent is not taken for upstreams
/// failing.
pub fn plain_question(request: &[u8]) -> bool {
    question_name_end(request).is_some_and(|end| request.len() >= end + QUESTION_TAIL)
}

/// Offset just past the question name that starts after the header, when it is a plain
/// sequence of labels (no compression pointer, which a question has no use for) of at most
/// 255 bytes within `message`.
fn question_name_end(message: &[u8]) -> Option<usize> {
    let mut at = HEADER_LEN;
    loop {
        let len = usize::from(*message.get(at)?);
        if len == 0 {
            return Some(at + 1);
        }
        if len > 63 {
            return None; // a pointer (0xC0) or a reserved label type
        }
        at += 1 + len;
        if at - HEADER_LEN >= MAX_NAME_WIRE {
            return None;
        }
    }
}

/// Gives the answer back the client's spelling of the question name: in the question, and on
/// every answer and authority record whose owner is that name (case-insensitively), so the
/// client sees the name as it asked it and never the random case sent upstream.
pub fn restore_client_case(message: &mut Message, client_name: &Name) {
    for question in &mut message.queries {
        if question.name == *client_name {
            question.name = client_name.clone();
        }
    }
    for record in message.answers.iter_mut().chain(message.authorities.iter_mut()) {
        if record.name == *client_name {
            record.name = client_name.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::op::{OpCode, Query as Question};
    use hickory_proto::rr::rdata::{A, CNAME, SOA};
    use hickory_proto::rr::{RData, Record, RecordType};

    use super::*;

    fn query(name: &str, qtype: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.id = 4242;
        m.metadata.recursion_desired = true;
        m.add_query(Question::query(Name::from_ascii(name).unwrap(), qtype));
        m.to_vec().unwrap()
    }

    /// What an upstream does: parse the query it got and answer with its question as is.
    fn echo_answer(sent: &[u8], records: Vec<Record>) -> Vec<u8> {
        let q = Message::from_vec(sent).unwrap();
        let mut m = Message::response(q.metadata.id, OpCode::Query);
        m.queries = q.queries.clone();
        m.answers = records;
        m.to_vec().unwrap()
    }

    fn a(name: &Name, ip: [u8; 4]) -> Record {
        Record::from_rdata(name.clone(), 60, RData::A(A(Ipv4Addr::from(ip))))
    }

    fn ones(b: &mut [u8]) {
        b.fill(0xff);
    }

    #[test]
    fn case_is_randomised_only_in_letters_of_the_name() {
        let request = query("Www.Allowed-1.test.", RecordType::A);
        let out = Outgoing::new(&request, 0xbeef, ones).unwrap();
        assert_eq!(out.id(), 0xbeef);
        assert_eq!(out.letters(), 3 + 7 + 4);
        let sent = Message::from_vec(&out.wire).unwrap();
        assert_eq!(sent.queries[0].name.to_ascii(), "WWW.ALLOWED-1.TEST.");
        assert_eq!(sent.queries[0].query_type, RecordType::A);
        // Everything but id and name letters is untouched.
        assert_eq!(out.wire.len(), request.len());
        assert_eq!(out.wire[2..12], request[2..12]);
        assert_eq!(out.wire[out.wire.len() - 4..], request[request.len() - 4..]);
        let out = Outgoing::new(&request, 1, |b| b.fill(0)).unwrap();
        assert_eq!(Message::from_vec(&out.wire).unwrap().queries[0].name.to_ascii(), "www.allowed-1.test.");
        // Bit i of the random stream decides letter i.
        let out = Outgoing::new(&query("abcdefghij.", RecordType::A), 1, |b| b.copy_from_slice(&[0b1010_0101, 0b10])).unwrap();
        assert_eq!(Message::from_vec(&out.wire).unwrap().queries[0].name.to_ascii(), "AbCdeFgHiJ.");
    }

    #[test]
    fn the_type_after_the_name_is_never_touched() {
        // HTTPS is type 65 ('A'): a byte-level case flip there would change the type.
        let request = query("a.test.", RecordType::HTTPS);
        let out = Outgoing::new(&request, 1, |b| b.fill(0)).unwrap();
        assert_eq!(Message::from_vec(&out.wire).unwrap().queries[0].query_type, RecordType::HTTPS);
        // And an answer for type 97 ('a') is another question, not a case change.
        let mut answer = echo_answer(&out.wire, vec![]);
        assert_eq!(out.check(&answer), Ok(()));
        let type_low = 12 + "a.test.".len() + 2;
        answer[type_low] = b'a';
        assert_eq!(out.check(&answer), Err(Refusal::OtherQuestion));
    }

    #[test]
    fn names_without_letters_get_no_case_entropy_but_still_go_out() {
        let request = query("123.45.", RecordType::A);
        let mut asked = false;
        let out = Outgoing::new(&request, 7, |_| asked = true).unwrap();
        assert_eq!(out.letters(), 0);
        assert!(!asked, "no random bytes needed");
        assert_eq!(out.wire[2..], request[2..]);
        assert_eq!(out.check(&echo_answer(&out.wire, vec![])), Ok(()));
    }

    #[test]
    fn only_the_exact_echo_is_taken() {
        let request = query("allowed.test.", RecordType::A);
        let out = Outgoing::new(&request, 0x1234, |b| b.copy_from_slice(&[0b0101_0101, 0b101])).unwrap();
        let good = echo_answer(&out.wire, vec![]);
        assert_eq!(out.check(&good), Ok(()));
        // A forger who guessed the id but sent the name in lower case (or any other case).
        let forged = {
            let mut m = Message::from_vec(&good).unwrap();
            m.queries[0].name = Name::from_ascii("allowed.test.").unwrap();
            m.to_vec().unwrap()
        };
        assert_eq!(out.check(&forged), Err(Refusal::CaseChanged));
        let mut wrong_id = good.clone();
        wrong_id[1] ^= 1;
        assert_eq!(out.check(&wrong_id), Err(Refusal::WrongId));
        let mut not_response = good.clone();
        not_response[2] &= 0x7f;
        assert_eq!(out.check(&not_response), Err(Refusal::NotResponse));
        assert_eq!(out.check(&good[..good.len() - 1]), Err(Refusal::Short));
        assert_eq!(out.check(&[0u8; 3]), Err(Refusal::Short));
        let other = echo_answer(&Outgoing::new(&query("allowed.tesu.", RecordType::A), 0x1234, |b| b.copy_from_slice(&[0b0101_0101, 0b101])).unwrap().wire, vec![]);
        assert_eq!(out.check(&other), Err(Refusal::OtherQuestion));
        let aaaa = echo_answer(&Outgoing::new(&query("allowed.test.", RecordType::AAAA), 0x1234, |b| b.copy_from_slice(&[0b0101_0101, 0b101])).unwrap().wire, vec![]);
        assert_eq!(out.check(&aaaa), Err(Refusal::OtherQuestion));
        let mut no_question = good.clone();
        no_question[5] = 0;
        assert_eq!(out.check(&no_question), Err(Refusal::QuestionCount));
    }

    #[test]
    fn compressed_or_broken_question_names_are_refused() {
        let mut request = query("a.test.", RecordType::A);
        request[12] = 0xc0; // pointer
        request[13] = 0x00;
        assert_eq!(Outgoing::new(&request, 1, ones).unwrap_err(), QuestionError::NotPlain);
        assert!(!plain_question(&request));
        let request = query("allowed.test.", RecordType::A);
        assert!(plain_question(&request) && Outgoing::new(&request, 1, ones).is_ok());
        assert_eq!(Outgoing::new(&request[..20], 1, ones).unwrap_err(), QuestionError::NotPlain);
        assert!(!plain_question(&request[..20]));
        // Name complete, type and class cut off.
        assert_eq!(Outgoing::new(&request[..request.len() - 1], 1, ones).unwrap_err(), QuestionError::NotPlain);
        assert!(!plain_question(&request[..request.len() - 1]));
        assert_eq!(Outgoing::new(&[0u8; 5], 1, ones).unwrap_err(), QuestionError::NotPlain);
        assert!(!plain_question(&[0u8; 5]));
    }

    #[test]
    fn encode_then_restore_gives_the_client_its_own_spelling() {
        let client_name = Name::from_ascii("Www.Allowed.TEST.").unwrap();
        let request = query("Www.Allowed.TEST.", RecordType::A);
        let out = Outgoing::new(&request, 99, |b| b.copy_from_slice(&[0b0110_1001, 0b0011_0110])).unwrap();
        let sent_name = Message::from_vec(&out.wire).unwrap().queries[0].name.clone();
        assert!(!sent_name.eq_case(&client_name), "the case sent differs from the client's");
        // The upstream answers under the name as it got it, uncompressed owner names too.
        let other = Name::from_ascii("cdn.Example.net.").unwrap();
        let mut answer = Message::from_vec(&echo_answer(
            &out.wire,
            vec![
                Record::from_rdata(sent_name.clone(), 60, RData::CNAME(CNAME(other.clone()))),
                a(&other, [198, 18, 0, 11]),
                a(&sent_name, [198, 18, 0, 12]),
            ],
        ))
        .unwrap();
        answer.authorities.push(Record::from_rdata(
            sent_name.clone(),
            60,
            RData::SOA(SOA::new(other.clone(), other.clone(), 1, 2, 3, 4, 5)),
        ));
        restore_client_case(&mut answer, &client_name);
        assert!(answer.queries[0].name.eq_case(&client_name));
        assert!(answer.answers[0].name.eq_case(&client_name));
        assert!(answer.answers[2].name.eq_case(&client_name));
        assert!(answer.authorities[0].name.eq_case(&client_name));
        // Other names (the CNAME target) keep the upstream's spelling.
        assert!(answer.answers[1].name.eq_case(&other));
        // And what the client gets on the wire spells its name as it asked.
        let wire = answer.to_vec().unwrap();
        let text = String::from_utf8_lossy(&wire);
        assert!(text.contains("Allowed") && text.contains("TEST"), "{text:?}");
        let parsed = Message::from_vec(&wire).unwrap();
        assert!(parsed.queries[0].name.eq_case(&client_name));
        assert!(parsed.answers[2].name.eq_case(&client_name));
    }
}
