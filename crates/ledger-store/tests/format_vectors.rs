//! docs/FORMAT.md's test vectors are recomputed here: fixed events → exact bytes → chained hashes.
//! A change to the encoding, the hash or the record layout fails this test (and needs a format
//! version bump and a migration test).

#![expect(clippy::unwrap_used, reason = "fixed inputs; a failure is a format change")]

use ledger_core::{
    AccountClass, AccountId, Amount, Arrival, Command, CommandBody, CommandId, CustomerId, Event, EventBody, Flow, Leg,
    Policy, Posting, PostingKind, RejectReason, Reservation, Stage, Timestamp,
};
use ledger_store::codec::{self, GENESIS_PREV, Record};
use uuid::Uuid;

/// The events of the vectors: an account opened, a cash deposit, a rejected withdrawal, and (a
/// protection event, appended as variant 12) a next-day transfer of 50.00 reserved.
pub fn vector_events() -> Vec<Event> {
    let at: Timestamp = "2026-01-01T00:00:00+08:00".parse().unwrap();
    let id = |n: u128| CommandId(Uuid::from_u128(n));
    let amount = Amount::from_fen(12_345).unwrap();
    vec![
        Event {
            command_id: id(1),
            at,
            body: EventBody::AccountOpened {
                account: AccountId(1001),
                customer: CustomerId(7),
                class: AccountClass::I,
                binding: None,
                verified_in_person: true,
                with_card: false,
            },
            principal: None,
            withheld: vec![],
        },
        Event {
            command_id: id(2),
            at,
            body: EventBody::Posted(Posting {
                kind: PostingKind::CashDeposit,
                amount,
                counterparty: None,
                debit: None,
                credit: Some(Leg {
                    account: AccountId(1001),
                    flow: Flow::CashDeposit,
                    balance_after: amount,
                    usage_after: vec![],
                }),
            }),
            principal: None,
            withheld: vec![],
        },
        Event {
            command_id: id(3),
            at,
            body: EventBody::Rejected {
                command: CommandBody::CashWithdrawal {
                    account: AccountId(1001),
                    amount: Amount::from_fen(20_000).unwrap(),
                },
                reason: RejectReason::InsufficientFunds {
                    account: AccountId(1001),
                    balance: amount,
                    requested: Amount::from_fen(20_000).unwrap(),
                },
            },
            principal: None,
            withheld: vec![],
        },
        Event {
            command_id: id(4),
            at,
            body: EventBody::Reserved {
                reservation: Reservation {
                    id: id(4),
                    kind: PostingKind::OutboundTransfer,
                    account: AccountId(1001),
                    flow: Flow::TransferOutOther,
                    counterparty: Some("CCB-1".into()),
                    amount: Amount::from_fen(5_000).unwrap(),
                    arrival: Some(Arrival::NextDay),
                    requested_at: at,
                    stage: Stage::Scheduled { due_at: "2026-01-02T00:00:00+08:00".parse().unwrap() },
                    buckets: vec![],
                    personal: false,
                },
                usage_after: vec![],
            },
            principal: None,
            withheld: vec![],
        },
    ]
}

fn render() -> Vec<String> {
    let mut lines = vec!["| seq | event bytes (hex) | prev hash | hash |".to_owned(), "|---|---|---|---|".to_owned()];
    let mut prev = GENESIS_PREV;
    for (index, event) in vector_events().iter().enumerate() {
        let seq = index as u64 + 1;
        // Format 1, as the records written before principals hold it (read, never written now).
        let bytes = codec::encode_event_v1(event).unwrap();
        assert_eq!(&codec::decode_event(seq, &bytes).unwrap(), event, "round trip");
        let record = Record::new(seq, prev, bytes.clone());
        assert_eq!(record.encode()[0], codec::FORMAT_VERSION_V1);
        lines.push(format!(
            "| {seq} | `{}` | `{}` | `{}` |",
            hex::encode(&bytes),
            hex::encode(prev),
            hex::encode(record.hash)
        ));
        prev = record.hash;
    }
    lines
}

/// Record 5 of the vectors, format 2, after the four of format 1: a payment of 1.00 from account
/// 1001 whose 200-character merchant (`m` × 200) is withheld, rejected `INVALID_TEXT`, submitted
/// by the token `core` (role `back-office`).
pub fn vector_event_v2() -> Event {
    let merchant = "m".repeat(200);
    let command = CommandBody::Payment { from: AccountId(1001), merchant, amount: Amount::from_fen(100).unwrap() };
    let (command, withheld) = ledger_core::withhold(&command);
    Event {
        command_id: CommandId(Uuid::from_u128(5)),
        at: "2026-01-01T00:00:00+08:00".parse().unwrap(),
        body: EventBody::Rejected {
            command,
            reason: RejectReason::InvalidText { field: "merchant".into(), max_chars: ledger_core::TEXT_CHARS_MAX },
        },
        principal: Some(ledger_core::Principal::new("core", "back-office").unwrap()),
        withheld,
    }
}

fn render_v2() -> Vec<String> {
    let mut prev = GENESIS_PREV;
    for (index, event) in vector_events().iter().enumerate() {
        prev = Record::new(index as u64 + 1, prev, codec::encode_event_v1(event).unwrap()).hash;
    }
    let event = vector_event_v2();
    let bytes = codec::encode_event(&event).unwrap();
    assert_eq!(codec::decode_event(5, &bytes).unwrap(), event, "round trip");
    let record = Record::new(5, prev, bytes.clone());
    assert_eq!(record.encode()[0], codec::FORMAT_VERSION);
    vec![
        "| seq | event bytes (hex) | prev hash | hash |".to_owned(),
        "|---|---|---|---|".to_owned(),
        format!("| 5 | `{}` | `{}` | `{}` |", hex::encode(&bytes), hex::encode(prev), hex::encode(record.hash)),
    ]
}

#[test]
fn format_md_format_2_vector_matches_the_code() {
    let doc = include_str!("../../../docs/FORMAT.md");
    let section = doc.split("## Test vectors, format 2").nth(1).expect("docs/FORMAT.md has a format 2 vector");
    let found: Vec<&str> =
        section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).collect();
    let expected = render_v2();
    assert_eq!(
        found,
        expected,
        "docs/FORMAT.md's format 2 vector differs from the code; expected:\n{}",
        expected.join("\n")
    );
}

#[test]
fn format_md_vectors_match_the_code() {
    let doc = include_str!("../../../docs/FORMAT.md");
    let section = doc.split("## Test vectors").nth(1).expect("docs/FORMAT.md has a ## Test vectors section");
    let found: Vec<&str> =
        section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).collect();
    let expected = render();
    assert_eq!(found, expected, "docs/FORMAT.md test vectors differ from the code; expected:\n{}", expected.join("\n"));
}

#[test]
fn a_rejected_command_round_trips_and_trailing_bytes_are_corruption() {
    // Commands are not stored on their own, but rejected ones are inside events: they round-trip.
    let command = Command {
        id: CommandId(Uuid::from_u128(9)),
        at: Timestamp::UNIX_EPOCH,
        body: CommandBody::CloseAccount { account: AccountId(1) },
        stamped: false,
    };
    let event = Event {
        command_id: command.id,
        at: command.at,
        body: EventBody::Rejected { command: command.body, reason: RejectReason::NoPolicyInForce },
        principal: None,
        withheld: vec![],
    };
    let bytes = codec::encode_event(&event).unwrap();
    assert_eq!(codec::decode_event(1, &bytes).unwrap(), event);
    assert!(codec::decode_event(1, &[bytes.as_slice(), &[0]].concat()).is_err(), "trailing bytes are corruption");
}

#[test]
fn a_policy_source_rides_in_the_description_and_a_policy_without_one_keeps_format_1_bytes() {
    let mut policy = Policy::preset("pboc-2018").unwrap();
    let event = |policy: &Policy| Event {
        command_id: CommandId(Uuid::from_u128(1)),
        at: Timestamp::UNIX_EPOCH,
        body: EventBody::PolicyScheduled { effective_from: Timestamp::UNIX_EPOCH, policy: Box::new(policy.clone()) },
        principal: None,
        withheld: vec![],
    };
    let with_source = codec::encode_event(&event(&policy)).unwrap();
    assert_eq!(codec::decode_event(1, &with_source).unwrap(), event(&policy));
    let joined = format!("{}\0{}", policy.description, policy.source);
    let contains = |bytes: &[u8], part: &[u8]| bytes.windows(part.len()).any(|window| window == part);
    assert!(contains(&with_source, joined.as_bytes()), "the description is followed by NUL and the source");
    // Without a source: exactly the format-1 layout, where the description is the whole string.
    policy.source.clear();
    let without = codec::encode_event(&event(&policy)).unwrap();
    assert_eq!(with_source.len() - without.len(), 1 + "银发〔2018〕16号".len());
    assert!(!contains(&without, b"\0\xe9\x93\xb6"), "no separator");
    assert_eq!(codec::decode_event(1, &without).unwrap(), event(&policy));
}

#[test]
fn format_md_marker_and_witness_vectors_match_the_code() {
    let doc = include_str!("../../../docs/FORMAT.md");
    assert_eq!(codec::MARKER_TEXT, b"tiered-ledger\nformat 1\n");
    assert!(doc.contains("exactly `tiered-ledger\\nformat 1\\n` (23 bytes)"));
    assert_eq!(codec::MARKER_TEXT.len(), 23);
    let empty = hex::encode(codec::encode_witness(0, &GENESIS_PREV));
    assert_eq!(empty, format!("{}{}54e3c1759eb328cb", "00".repeat(8), "00".repeat(32)));
    assert!(doc.contains("`54e3c1759eb328cb`"));
    let mut prev = GENESIS_PREV;
    for (index, event) in vector_events().iter().enumerate() {
        prev = Record::new(index as u64 + 1, prev, codec::encode_event_v1(event).unwrap()).hash;
    }
    let head = hex::encode(codec::encode_witness(4, &prev));
    assert!(doc.contains(&format!("`{head}`")), "docs/FORMAT.md lacks the witness vector {head}");
    assert_eq!(codec::decode_witness(&codec::encode_witness(4, &prev)), Some((4, prev)));
    let mut torn = codec::encode_witness(4, &prev);
    torn[10] ^= 1;
    assert_eq!(codec::decode_witness(&torn), None, "a damaged witness does not decode");
}

/// The Merkle vectors of docs/FORMAT.md, "Checkpoints and proofs", from the Rust side; the
/// Python side (`tools/verify_proof.py vectors`) must print the same.
#[test]
fn format_md_merkle_vectors_match_the_code_and_the_python_verifier() {
    use ledger_store::merkle::{Frontier, empty_root, leaf_hash};
    use sha2::Digest;
    let leaves: Vec<[u8; 32]> = (0u8..5).map(|i| leaf_hash(&sha2::Sha256::digest([i]).into())).collect();
    let root = |n: usize| {
        let mut tree = Frontier::default();
        for leaf in &leaves[..n] {
            tree.push(*leaf);
        }
        hex::encode(tree.root())
    };
    let vectors = [
        ("empty_root", hex::encode(empty_root())),
        ("leaf_0", hex::encode(leaves[0])),
        ("root_1", root(1)),
        ("root_2", root(2)),
        ("root_3", root(3)),
        ("root_5", root(5)),
    ];
    let doc = include_str!("../../../docs/FORMAT.md");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/verify_proof.py");
    let output = std::process::Command::new("python3").arg(script).arg("vectors").output().unwrap();
    let python: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (name, hex) in vectors {
        assert!(doc.contains(&format!("| {name} | `{hex}` |")), "docs/FORMAT.md lacks {name} = {hex}");
        assert_eq!(python[name], hex, "tools/verify_proof.py's {name}");
    }
}
